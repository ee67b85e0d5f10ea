#pragma once
// The process-wide settings of a command that runs a model (--device,
// --threads, --seed, --kernels). The API calls take their device and seed
// as options; threads and kernels are the caller's choice for the whole
// process (the command line applies them here, Python leaves them to the user).
#include <cstdint>
#include <string>

#include "fovea/error.h"

namespace fovea::api {

struct RuntimeOptions {
  std::string device = "cpu";
  int threads = 0;               // 0: all cores
  uint64_t seed = 0;
  std::string kernels = "fast";  // reference: LibTorch's ops as the reference systems run them
};

// Sets LibTorch's thread count, the kernel set (nn::set_kernel_set) and the
// seed of every generator; checks the device.
void apply_runtime(const RuntimeOptions& options);

// fovea::Error naming --device unless `device` is cpu or cuda[:n] with CUDA available.
void check_device(const std::string& device);

// A bad option value given to an API call (a count below its minimum, an
// unknown choice): a fovea::Error, so the command line prints it as any
// other; Python raises ValueError for it.
class OptionError : public Error {
 public:
  using Error::Error;
};
[[noreturn]] void fail_option(const std::string& option, const std::string& problem);

}  // namespace fovea::api
