// torch.save files, either container (read_torch_archive tells them apart by
// their first bytes); fuzz_torch_zip and fuzz_torch_legacy differ only in
// their seeds.
#include "fovea/io/pickle.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fovea::fuzz::write_input(data, size, ".pt");
  return fovea::fuzz::run_reader([&] {
    const fovea::io::PyRef root = fovea::io::read_torch_archive(path);
    (void)root->repr();
    (void)fovea::io::read_state_dict(path);
  });
}
