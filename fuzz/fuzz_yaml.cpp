// YAML configs: text in memory (parse_yaml).
#include "fovea/io/yaml.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  return fovea::fuzz::run_reader([&] { (void)fovea::io::parse_yaml(text, "fuzz.yaml").size(); });
}
