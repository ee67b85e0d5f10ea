#pragma once
// Data-parallel training (DDP's scheme, on the process group of
// distributed.h). Every worker holds the whole model and data and draws the
// same global batches; each computes the loss of its share of a batch
// (TrainingTask::batch_loss_share), the weight regularisers are added once
// (by rank 0), and the gradients are summed over the workers before the
// optimiser step, so every worker takes the step the one-process global batch
// gives and the models stay identical. BatchNorm normalises with the global
// batch's statistics (PyTorch's SyncBatchNorm), or with each worker's own
// (DDP's default; rank 0's running statistics are then the model's).
#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "fovea/train/distributed.h"
#include "fovea/train/trainer.h"

namespace torch::nn {
class Module;
}
namespace fovea::nn {
class BatchNormSync;
}

namespace fovea::train {

class DataParallel {
 public:
  // While it lives, and with sync_batch_norm, the cores' BatchNorm layers in
  // training mode use the global batch's statistics (nn/batch_norm_sync.h).
  DataParallel(std::shared_ptr<ProcessGroup> group, bool sync_batch_norm);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // A worker of a torchrun-style launch (WORLD_SIZE set): joins the process
  // group; null in a plain one-process run.
  static std::shared_ptr<DataParallel> from_environment(
      bool sync_batch_norm, std::chrono::milliseconds timeout = default_collective_timeout());

  int64_t rank() const { return group_->rank(); }
  int64_t size() const { return group_->size(); }
  bool writes_outputs() const { return rank() == 0; }  // rank 0 alone writes model, metrics, checkpoints
  ProcessGroup& group() { return *group_; }

  // Worker `rank`'s samples of a batch: the rank-th of `size` contiguous,
  // balanced slices, weight 1. A batch with fewer samples than workers is
  // computed whole by every worker, each counting 1/size of it.
  static at::Tensor part_of(const at::Tensor& indices, int64_t rank, int64_t size, double* weight);

  // Computes this worker's share of `batch`'s loss (rank 0 adds the
  // regularisers), backpropagates it divided by `accumulate` (Lightning's
  // accumulate_grad_batches), and returns the share's value.
  double backward_share(TrainingTask& task, const BatchRef& batch, int64_t accumulate = 1);

  // Sums the gradients of `params` over the workers in buckets of about
  // 25 MB (DDP's bucket_cap_mb), with `loss` (this worker's shares since the
  // last step) in the same round; returns the summed loss. A parameter that
  // no worker gave a gradient keeps none (AdamW then skips it, as in one process).
  double all_reduce_gradients(const std::vector<at::Tensor>& params, double loss);

  // One batch of the trainer's loop: backward_share, and at the optimiser
  // step (`step_params` given) all_reduce_gradients with the shares since
  // the last step; returns their summed loss then, 0 before it.
  double train_batch(TrainingTask& task, const BatchRef& batch, int64_t accumulate,
                     const std::vector<at::Tensor>* step_params);

  // Rank 0's buffers (BatchNorm's running statistics) on every worker, as
  // DDP's broadcast_buffers; before validation.
  void broadcast_buffers(torch::nn::Module& model);

  // Wall time spent in all_reduce_gradients, and how many calls (optimiser steps).
  double all_reduce_seconds() const { return all_reduce_seconds_; }
  int64_t all_reduce_steps() const { return all_reduce_steps_; }
  // Samples of the global batches train_batch went through, and its wall
  // time (forward, backward, all-reduce; not the optimiser step).
  int64_t samples() const { return samples_; }
  double train_seconds() const { return train_seconds_; }

 private:
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<nn::BatchNormSync> batch_norm_sync_;
  double pending_loss_ = 0.0;  // this worker's shares since the last step
  double all_reduce_seconds_ = 0.0;
  int64_t all_reduce_steps_ = 0;
  int64_t samples_ = 0;
  double train_seconds_ = 0.0;
};

}  // namespace fovea::train
