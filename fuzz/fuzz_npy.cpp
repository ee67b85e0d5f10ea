// .npy: the in-memory entry point (parse_npy), which read_npy streams through too.
#include "fovea/io/npy.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fovea::fuzz::run_reader([&] {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    (void)fovea::io::parse_npy(bytes, "fuzz.npy");
  });
}
