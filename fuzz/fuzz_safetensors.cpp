#include "fovea/io/safetensors.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fovea::fuzz::write_input(data, size, ".safetensors");
  return fovea::fuzz::run_reader([&] { (void)fovea::io::read_safetensors(path); });
}
