#include "fovea/api/runtime.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::api {

void fail_option(const std::string& option, const std::string& problem) { throw OptionError(option + ": " + problem); }

void check_device(const std::string& device) {
  if (device != "cpu" && device.rfind("cuda", 0) != 0) fail_option("--device", "must be cpu or cuda, got '" + device + "'");
  if (device.rfind("cuda", 0) == 0 && !torch::cuda::is_available())
    fail("--device " + device, "CUDA is not available in this LibTorch build or on this machine");
}

void apply_runtime(const RuntimeOptions& options) {
  check_device(options.device);
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(std::max(1, threads));
  nn::set_kernel_set(nn::parse_kernel_set(options.kernels));
  torch::manual_seed(options.seed);
}

}  // namespace fovea::api
