// MEIs of neurons and channels: batching changes nothing, the objective
// rises, the recipe's constraints hold, and bad targets are clear errors.
#include "fovea/insilico/mei.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/error.h"
#include "insilico/small_models.h"

using namespace fovea::insilico;
using fovea::testing::retina_model;
using fovea::testing::v1_model;

namespace {
MeiRecipe quick_recipe() {
  MeiRecipe r;
  r.time_steps = 20;
  r.response_start = 5;
  r.response_length = 5;
  r.lr = 10;
  r.steps = 5;
  return r;
}
}  // namespace

TEST(Mei, BatchedNeuronsEqualSeparateRuns) {
  auto model = retina_model();
  const MeiRecipe recipe = quick_recipe();
  const auto together = optimize_neuron_meis(model, "s1", {0, 3, 4}, recipe);
  ASSERT_EQ(together.size(), 3u);
  for (const auto& t : together) {
    const auto alone = optimize_neuron_meis(model, "s1", {t.target}, recipe);
    ASSERT_EQ(alone.size(), 1u);
    EXPECT_TRUE(torch::allclose(t.stimulus, alone[0].stimulus, 1e-5, 1e-6)) << "neuron " << t.target;
    EXPECT_NEAR(t.final_objective, alone[0].final_objective, 1e-5 * (1 + std::abs(t.final_objective)));
  }
}

TEST(Mei, RaisesEachNeuronsResponseAndKeepsTheModelUnchanged) {
  auto model = retina_model();
  const auto before = model->named_parameters()["core.features.layer0.conv.weight_spatial"].clone();
  const auto results = optimize_neuron_meis(model, "s2", {0, 1, 2}, quick_recipe());
  for (const auto& r : results) {
    EXPECT_GT(r.final_objective, r.start_objective) << "neuron " << r.target;
    EXPECT_EQ(r.stimulus.sizes(), (std::vector<int64_t>{2, 20, 12, 10}));
    // The reported objective is the model's response to the stimulus.
    const auto check = neuron_objectives(*model, "s2", {r.target}, r.stimulus.unsqueeze(0), quick_recipe());
    EXPECT_NEAR(check[0], r.final_objective, 1e-6 * (1 + std::abs(r.final_objective)));
  }
  EXPECT_TRUE(torch::equal(before, model->named_parameters()["core.features.layer0.conv.weight_spatial"]));
  EXPECT_TRUE(model->named_parameters()["core.features.layer0.conv.weight_spatial"].requires_grad());
}

TEST(Mei, DecreaseLowersTheResponse) {
  auto model = retina_model();
  MeiRecipe r = quick_recipe();
  r.decrease = true;
  const auto res = optimize_neuron_meis(model, "s1", {1}, r);
  EXPECT_LT(res[0].final_objective, res[0].start_objective);
}

TEST(Mei, NormAndRangesHoldAfterEveryStep) {
  auto model = retina_model();
  MeiRecipe r = quick_recipe();
  r.norm = 5.0;
  r.ranges = {{-0.5, 1.0}, {-0.2, 0.8}};
  const auto res = optimize_neuron_meis(model, "s1", {2}, r);
  const at::Tensor s = res[0].stimulus;
  EXPECT_GE(s[0].min().item<double>(), -0.5 - 1e-6);
  EXPECT_LE(s[0].max().item<double>(), 1.0 + 1e-6);
  EXPECT_GE(s[1].min().item<double>(), -0.2 - 1e-6);
  EXPECT_LE(s[1].max().item<double>(), 0.8 + 1e-6);
  EXPECT_LE(s.norm().item<double>(), 5.0 + 1e-4);
}

TEST(Mei, ImageModelNeuronsAndChannels) {
  auto model = v1_model();
  MeiRecipe r = quick_recipe();
  r.lr = 1;
  const auto neurons = optimize_neuron_meis(model, "", {0, 2}, r);
  for (const auto& n : neurons) {
    EXPECT_EQ(n.stimulus.sizes(), (std::vector<int64_t>{1, 20, 24}));
    EXPECT_GT(n.final_objective, n.start_objective);
  }
  const auto channels = optimize_channel_meis(model, "features.layer1", {0, 5}, r);
  for (const auto& c : channels) EXPECT_GT(c.final_objective, c.start_objective) << "channel " << c.target;
}

TEST(Mei, RetinaChannelsRiseAndMatchSeparateRuns) {
  auto model = retina_model();
  const MeiRecipe r = quick_recipe();
  const auto both = optimize_channel_meis(model, "features.layer0", {1, 3}, r);
  for (const auto& c : both) {
    EXPECT_GT(c.final_objective, c.start_objective);
    const auto alone = optimize_channel_meis(model, "core_features_layer0", {c.target}, r);
    EXPECT_TRUE(torch::allclose(c.stimulus, alone[0].stimulus, 1e-5, 1e-6));
  }
}

TEST(Mei, BadTargetsAreClearErrors) {
  auto model = retina_model();
  const MeiRecipe r = quick_recipe();
  EXPECT_THROW(optimize_neuron_meis(model, "s1", {5}, r), fovea::Error);
  EXPECT_THROW(optimize_neuron_meis(model, "nope", {0}, r), fovea::Error);
  EXPECT_THROW(optimize_channel_meis(model, "features.layer7", {0}, r), fovea::Error);
  EXPECT_THROW(optimize_channel_meis(model, "features.layer1", {4}, r), fovea::Error);
  MeiRecipe bad = r;
  bad.optimizer = "lbfgs";
  EXPECT_THROW(optimize_neuron_meis(model, "s1", {0}, bad), fovea::Error);
  bad = r;
  bad.ranges = {{0.0, 1.0}};
  EXPECT_THROW(optimize_neuron_meis(model, "s1", {0}, bad), fovea::Error);
}
