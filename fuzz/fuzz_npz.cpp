// .npz: libzip's archive reading and the .npy members streamed out of it.
#include "fovea/io/npy.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fovea::fuzz::write_input(data, size, ".npz");
  return fovea::fuzz::run_reader([&] {
    const std::vector<std::string> keys = fovea::io::npz_keys(path);
    (void)fovea::io::read_npz(path);
    if (!keys.empty()) (void)fovea::io::read_npz_key(path, keys.back());
  });
}
