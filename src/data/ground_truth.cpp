// Reading the ground truth that `fovea simulate v1` writes.
#include <torch/torch.h>

#include "fovea/data/simulate_v1.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"

namespace fovea::data {

at::Tensor read_test_rates(const std::string& path, int64_t n_test_images, int64_t n_neurons) {
  at::Tensor t = io::read_npz_key(path, "test_rates");
  check(t.dim() == 2 && t.size(0) == n_test_images && t.size(1) == n_neurons, path,
        "test_rates must be (test images, neurons) = (" + std::to_string(n_test_images) + ", " +
            std::to_string(n_neurons) + ")");
  return t.to(torch::kFloat64);
}

}  // namespace fovea::data
