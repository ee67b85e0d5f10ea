#pragma once
// The cores' BatchNorm layers call batch_norm(norm, x) instead of
// norm->forward(x): while a BatchNormSync is installed (data-parallel
// training installs one in each worker, src/train/data_parallel.cpp), a
// layer in training mode normalises with the statistics of the global batch,
// every worker's share together, as PyTorch's SyncBatchNorm does; otherwise
// it is the module's own forward.
#include <ATen/ATen.h>

#include <optional>

namespace fovea::nn {

class BatchNormSync {
 public:
  virtual ~BatchNormSync() = default;
  // BatchNorm in training mode over the global batch; updates the running
  // statistics (when defined) as torch::nn::BatchNorm does.
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                             at::Tensor& running_mean, at::Tensor& running_var, at::Tensor& num_batches_tracked,
                             std::optional<double> momentum, double eps) = 0;
};

// The installed one (null: none). One training run per process installs it.
inline BatchNormSync*& batch_norm_sync() {
  static BatchNormSync* installed = nullptr;
  return installed;
}

// A torch::nn::BatchNorm{1,2,3}d's forward, synchronised across workers when
// a BatchNormSync is installed and the layer is in training mode.
template <class Norm>
at::Tensor batch_norm(Norm& norm, const at::Tensor& x) {
  BatchNormSync* sync = batch_norm_sync();
  if (!sync || !norm->is_training()) return norm->forward(x);
  const auto& o = norm->options;
  return sync->forward(x, norm->weight, norm->bias, norm->running_mean, norm->running_var, norm->num_batches_tracked,
                       o.momentum() ? std::optional<double>(*o.momentum()) : std::nullopt, o.eps());
}

}  // namespace fovea::nn
