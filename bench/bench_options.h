#pragma once
// The command line every benchmark takes: integer options with defaults,
// --kernels fast|reference (fovea's kernel set and memory policy, selected
// as the fovea command line selects them: nn::select_kernels), and
// --allocator caching|system (system: the fast kernels on the process's own
// malloc, e.g. a preloaded tcmalloc, without the caching allocator and the
// malloc settings).
#include <cstdint>
#include <iostream>
#include <map>
#include <string>

#include "fovea/error.h"
#include "fovea/nn/kernels/select_kernels.h"

namespace fovea::bench {

// Fills `values` (whose keys are the known options) and selects the kernels;
// false (with a message) on an unknown option or a bad value.
inline bool parse_options(int argc, char** argv, std::map<std::string, int64_t>& values) {
  auto kernels = nn::KernelSet::fast;
  auto memory = nn::MemoryPolicy::caching;
  try {
    for (int i = 1; i < argc; i += 2) {
      const std::string name = argv[i];
      if (i + 1 >= argc) throw Error(name + ": needs a value");
      if (name == "--kernels") {
        kernels = nn::parse_kernel_set(argv[i + 1]);
      } else if (name == "--allocator") {
        memory = nn::parse_memory_policy(argv[i + 1]);
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
  nn::select_kernels(kernels, memory);
  return true;
}

}  // namespace fovea::bench
