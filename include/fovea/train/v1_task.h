#pragma once
// minimodel's training recipe for the V1 models (model_trainer.train):
// per neuron L_n = Σ_batch(ŷ − y·log ŷ) + hs·(Σ|Wc_n|)²/ΣWc_n², loss = mean_n L_n;
// AdamW groups core (0.1), [Wy, Wx] (1.0), Wc (l2_readout), bias (0);
// Wy, Wx clamped ≥ 0 after each step; validation score = mean over neurons of
// 1 − Σ(y−ŷ)²/Σ(y−ȳ)² on the validation trials.
#include <torch/types.h>

#include <memory>

#include "fovea/nn/model.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/train/trainer.h"

namespace fovea::train {

struct V1Recipe {
  int64_t batch_size = 100;
  double hoyer_square = 0.0;      // hs_readout (minimodels: 0.03 mouse, 0.004 monkey)
  double wd_core = 0.1;
  double wd_spatial = 1.0;        // Wy, Wx
  double wd_channels = 0.1;       // Wc: minimodel's l2_readout (0.2 for minimodels)
  double wd_bias = 0.0;
  bool clamp_spatial = true;      // Wy, Wx >= 0
  uint64_t seed = 0;
  // With the fast kernels, a frozen first conv (minimodels) is computed once
  // per image and kept (as nn::PooledFirstConv), when that takes at most this
  // many MB; 0: never.
  int64_t first_conv_cache_mb = 4096;
};

// The outputs of a frozen first conv (minimodels) for the images training
// uses, as layer0 needs them (nn::PooledFirstConv): computed once and shared
// by every task that trains a model with the same frozen conv, so that
// fitting many minimodels pays for it once.
struct FirstConvCache {
  at::Tensor weight;           // the conv weight the outputs were computed with
  at::Tensor slot;             // (N_images,) int64: the image's row in `pooled`, or -1
  nn::PooledFirstConv pooled;  // of the cached images
};

// The data the task samples from; tensors stay where they are (CPU) and each
// batch is moved to the model's device.
struct V1TrainingData {
  at::Tensor images;             // (N_images, 1, H, W) float32
  at::Tensor responses;          // (trials, neurons) float32
  // (trials, neurons) bool, the responses that were recorded (minimodel's
  // monkey_train): the loss becomes masked_poisson_per_neuron and the
  // validation score masked_variance_explained. Undefined: all are real.
  at::Tensor real_responses;
  at::Tensor image_index;        // (trials,) int64
  at::Tensor train_trials;       // int64 indices into trials
  at::Tensor val_trials;         // int64 indices into trials
  // Used with the fast kernels when the model's first conv is frozen; filled
  // by the first task that uses it. Null: the task makes its own.
  std::shared_ptr<FirstConvCache> first_conv_cache;
};

class V1Task : public TrainingTask {
 public:
  V1Task(std::shared_ptr<nn::Model> model, V1TrainingData data, V1Recipe recipe, torch::Device device);
  std::vector<BatchRef> epoch_batches(int64_t epoch) override;
  at::Tensor batch_loss(const BatchRef& batch) override;
  at::Tensor batch_loss_share(const BatchRef& batch, const at::Tensor& part) override;  // data-parallel
  at::Tensor batch_regularizer(const BatchRef& batch) override;
  double validation_score() override;
  std::string score_name() const override { return "val_varexp"; }
  std::vector<torch::optim::OptimizerParamGroup> param_groups() override;
  void after_step() override;
  // The frozen first conv's outputs, when they are cached (see V1Recipe).
  std::shared_ptr<FirstConvCache> first_conv_cache() const { return cache_; }

 private:
  void cache_first_conv();
  // The model's predictions for the images of these trials.
  at::Tensor predict_trials(const at::Tensor& trials);

  std::shared_ptr<nn::Model> model_;
  V1TrainingData data_;
  V1Recipe recipe_;
  torch::Device device_;
  std::shared_ptr<FirstConvCache> cache_;  // null when the first conv is computed per batch
};

// The V1 loss of a batch: mean over neurons of the summed Poisson loss plus
// hs times the Hoyer-Square penalty of the readout's Wc. With `real_responses`
// (batch, neurons) the per-neuron Poisson term is minimodel's monkey one,
// masked_poisson_per_neuron (masked_poisson.h).
at::Tensor v1_loss(nn::Model& model, const at::Tensor& prediction, const at::Tensor& target, double hoyer_square,
                   const at::Tensor& real_responses = {});

// Mean over neurons of 1 − Σ(y−ŷ)²/Σ(y−ȳ)² (minimodel's validation variance explained).
double mean_variance_explained(const at::Tensor& prediction, const at::Tensor& target);

}  // namespace fovea::train
