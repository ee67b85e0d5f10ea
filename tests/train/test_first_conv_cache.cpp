// A frozen first conv's outputs are computed once and shared: training with
// the cache follows the same path as computing the conv every batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/model.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_experiment.h"
#include "fovea/train/v1_task.h"

namespace {

using fovea::nn::KernelSet;
using fovea::nn::ScopedKernelSet;

nlohmann::json spec(bool minimodel) {
  return {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", minimodel ? 6 : 8},
                    {"kernel_size", {7, 3}}, {"activation", minimodel ? "relu" : "elu"}, {"out_1x1", !minimodel}}},
          {"readout", {{"type", "rank1"}, {"n_neurons", minimodel ? 1 : 3}}},
          {"input_shape", {1, 20, 24}}};
}

// A minimodel with a frozen first conv copied from a full model; the same
// weights for every call (seeded).
std::shared_ptr<fovea::nn::Model> minimodel(uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto full = fovea::nn::build_model(spec(false));
  auto mini = fovea::nn::build_model(spec(true));
  fovea::train::copy_first_layer(*full, *mini, true);
  return mini;
}

// 40 trials of 25 images (some shown twice), one neuron.
fovea::train::V1TrainingData data() {
  torch::manual_seed(7);
  fovea::train::V1TrainingData d;
  d.images = torch::randn({25, 1, 20, 24});
  d.image_index = torch::arange(40) % 25;
  d.responses = torch::rand({40, 1}) + 0.1;
  d.train_trials = torch::arange(30);
  d.val_trials = torch::arange(30, 40);
  return d;
}

struct Fit {
  std::vector<at::Tensor> parameters;
  double score;
  bool cached;
};

Fit fit_two_epochs(KernelSet kernels, fovea::train::V1TrainingData d) {
  ScopedKernelSet scope(kernels);
  auto model = minimodel();
  fovea::train::V1Recipe recipe;
  recipe.batch_size = 8;
  recipe.hoyer_square = 0.03;
  fovea::train::V1Task task(model, d, recipe, torch::kCPU);
  fovea::train::TrainerOptions options;
  options.show_progress = false;
  auto optimizer = fovea::train::make_optimizer(task, 1e-2, options);
  for (int64_t epoch = 0; epoch < 2; ++epoch) fovea::train::train_one_epoch(*model, task, *optimizer, epoch, options);
  model->eval();
  Fit fit{{}, task.validation_score(), task.first_conv_cache() != nullptr};
  for (const auto& p : model->parameters()) fit.parameters.push_back(p.detach().clone());
  return fit;
}

TEST(FirstConvCache, TrainingWithTheCacheEqualsComputingTheConvEachBatch) {
  const Fit plain = fit_two_epochs(KernelSet::reference, data());
  const Fit cached = fit_two_epochs(KernelSet::fast, data());
  EXPECT_FALSE(plain.cached);
  EXPECT_TRUE(cached.cached);
  ASSERT_EQ(plain.parameters.size(), cached.parameters.size());
  for (size_t i = 0; i < plain.parameters.size(); ++i) {
    const double scale = plain.parameters[i].abs().max().item<double>() + 1e-12;
    EXPECT_LT((plain.parameters[i] - cached.parameters[i]).abs().max().item<double>() / scale, 1e-4) << "parameter " << i;
  }
  EXPECT_NEAR(plain.score, cached.score, 1e-4);
}

TEST(FirstConvCache, TasksWithTheSameFrozenConvShareOneComputation) {
  ScopedKernelSet scope(KernelSet::fast);
  auto d = data();
  d.first_conv_cache = std::make_shared<fovea::train::FirstConvCache>();
  fovea::train::V1Task first(minimodel(), d, {}, torch::kCPU);
  ASSERT_TRUE(d.first_conv_cache->pooled.max.defined());
  // The 25 images of the trials, each once.
  EXPECT_EQ(d.first_conv_cache->pooled.max.size(0), 25);
  const void* outputs = d.first_conv_cache->pooled.max.data_ptr();
  fovea::train::V1Task second(minimodel(), d, {}, torch::kCPU);
  EXPECT_EQ(second.first_conv_cache()->pooled.max.data_ptr(), outputs);
  // A model with another frozen conv recomputes.
  auto other = minimodel(/*seed=*/1);
  fovea::train::V1Task third(other, d, {}, torch::kCPU);
  EXPECT_TRUE(torch::equal(third.first_conv_cache()->weight,
                           other->named_parameters()["core.features.layer0.conv.weight"]));
}

TEST(FirstConvCache, ATrainableFirstConvOrAZeroBudgetIsNotCached) {
  ScopedKernelSet scope(KernelSet::fast);
  torch::manual_seed(0);
  fovea::train::V1Task trainable(fovea::nn::build_model(spec(false)), data(), {}, torch::kCPU);
  EXPECT_EQ(trainable.first_conv_cache(), nullptr);
  fovea::train::V1Recipe recipe;
  recipe.first_conv_cache_mb = 0;
  fovea::train::V1Task no_budget(minimodel(), data(), recipe, torch::kCPU);
  EXPECT_EQ(no_budget.first_conv_cache(), nullptr);
}

TEST(FirstConvCache, TheBudgetIsComparedWithTheOutputsSize) {
  ScopedKernelSet scope(KernelSet::fast);
  // 25 images of 100x100; the 7x7 conv pads by 3: maxima and minima of
  // 25 x 4 x 50 x 50 floats each, 1.91 MB, and 25 x 4 x 2 sums.
  auto d = data();
  d.images = torch::randn({25, 1, 100, 100});
  fovea::train::V1Recipe recipe;
  recipe.first_conv_cache_mb = 1;
  fovea::train::V1Task too_small(minimodel(), d, recipe, torch::kCPU);
  EXPECT_EQ(too_small.first_conv_cache(), nullptr);
  recipe.first_conv_cache_mb = 2;
  fovea::train::V1Task enough(minimodel(), d, recipe, torch::kCPU);
  ASSERT_NE(enough.first_conv_cache(), nullptr);
  EXPECT_EQ(enough.first_conv_cache()->pooled.max.sizes(), (std::vector<int64_t>{25, 4, 50, 50}));
  EXPECT_EQ(enough.first_conv_cache()->pooled.sum.sizes(), (std::vector<int64_t>{25, 4}));
}

}  // namespace
