#pragma once
// The command line every benchmark takes: integer options with defaults and
// --kernels fast|reference (fovea's kernel set, as the fovea command line
// selects it).
#include <cstdint>
#include <iostream>
#include <map>
#include <string>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::bench {

// Fills `values` (whose keys are the known options) and selects the kernels;
// false (with a message) on an unknown option or a bad value.
inline bool parse_options(int argc, char** argv, std::map<std::string, int64_t>& values) {
  auto kernels = nn::KernelSet::fast;
  try {
    for (int i = 1; i < argc; i += 2) {
      const std::string name = argv[i];
      if (i + 1 >= argc) throw Error(name + ": needs a value");
      if (name == "--kernels") {
        kernels = nn::parse_kernel_set(argv[i + 1]);
      } else if (values.count(name)) {
        values[name] = std::stoll(argv[i + 1]);
      } else {
        throw Error("unknown option " + name);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return false;
  }
  nn::set_kernel_set(kernels);
  return true;
}

}  // namespace fovea::bench
