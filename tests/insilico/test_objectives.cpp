// Objectives against direct computations on the model's output, the inner
// layer capture against the core's own forward, input errors, and
// optimize_stimulus raising the objective for a retina and a V1 model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>

#include "fovea/error.h"
#include "test_util.h"
#include "fovea/insilico/frozen_for_optimisation.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/optimize.h"
#include "fovea/nn/model.h"
#include "insilico/small_models.h"

using namespace fovea::insilico;
using fovea::nn::Json;
using fovea::testing::retina_model;
using fovea::testing::v1_model;

using fovea::test::error_of;

namespace {


OptimizerFactory sgd(double lr) {
  return [lr](std::vector<at::Tensor> p) {
    return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(lr));
  };
}

}  // namespace

TEST(Objectives, IncreaseObjectiveIsTheReducedMeanOfTheSelectedNeurons) {
  torch::manual_seed(1);
  auto model = retina_model();
  const at::Tensor x = torch::randn({1, 2, 20, 12, 10});
  IncreaseObjective objective(model, {1, 3}, "s1", std::make_shared<SliceMeanReducer>(0, 2, 4));
  torch::NoGradGuard no_grad;
  const at::Tensor out = model->forward(x, "s1")[0];  // (T', N)
  double expected = 0.0;
  for (int64_t t = 2; t < 6; ++t) expected += (out[t][1].item<double>() + out[t][3].item<double>()) / 2.0;
  expected /= 4.0;
  EXPECT_NEAR(objective.forward(x).item<double>(), expected, 1e-5 * std::abs(expected) + 1e-7);
  // The decrease objective is its negative.
  DecreaseObjective decrease(std::make_shared<IncreaseObjective>(objective));
  EXPECT_NEAR(decrease.forward(x).item<double>(), -expected, 1e-5 * std::abs(expected) + 1e-7);
}

TEST(Objectives, ImageModelResponsesAreOneTimeStep) {
  torch::manual_seed(2);
  auto model = v1_model();
  const at::Tensor x = torch::randn({1, 1, 20, 24});
  torch::NoGradGuard no_grad;
  const at::Tensor out = model->forward(x)[0];  // (N,)
  IncreaseObjective mean(model, {2}, "", std::make_shared<MeanReducer>(0));
  EXPECT_NEAR(mean.forward(x).item<double>(), out[2].item<double>(), 1e-6);
  // The retina recipe's reducer falls back to the single step.
  IncreaseObjective slice(model, {0, 2}, "", std::make_shared<SliceMeanReducer>(0, 10, 10));
  EXPECT_NEAR(slice.forward(x).item<double>(), (out[0].item<double>() + out[2].item<double>()) / 2, 1e-6);
}

TEST(Objectives, ContrastiveObjectiveFollowsTheFormula) {
  torch::manual_seed(3);
  auto model = retina_model();
  const at::Tensor x = torch::randn({1, 2, 20, 12, 10});
  const double tau = 1.6;
  ContrastiveNeuronObjective objective(model, {0, 1}, {{2}, {3, 4}}, "s1", std::make_shared<MeanReducer>(0), tau);
  torch::NoGradGuard no_grad;
  const at::Tensor scores = model->forward(x, "s1")[0].to(torch::kDouble).mean(0);  // per neuron
  const double on = (scores[0].item<double>() + scores[1].item<double>()) / 2;
  const double off1 = scores[2].item<double>();
  const double off2 = (scores[3].item<double>() + scores[4].item<double>()) / 2;
  const double expected =
      on / tau - std::log(std::exp(on / tau) + std::exp(off1 / tau) + std::exp(off2 / tau)) + std::log(3.0);
  EXPECT_NEAR(objective.forward(x).item<double>(), expected, 1e-5);
}

TEST(Objectives, InnerLayerCaptureMatchesTheCoreAndTheCentrePixel) {
  torch::manual_seed(4);
  auto retina = retina_model();
  const at::Tensor x = torch::randn({2, 2, 20, 12, 10});
  torch::NoGradGuard no_grad;
  EXPECT_EQ(InnerNeuronVisualizationObjective::layer_names(*retina),
            (std::vector<std::string>{"features.layer0", "features.layer1"}));
  // The last layer is the core's output (cut_first_n_frames 0).
  EXPECT_TRUE(torch::allclose(InnerNeuronVisualizationObjective::layer_output(*retina, 1, x),
                              retina->core()->forward(x), 1e-6, 1e-6));
  // Layer 0: 4 channels, time 20 - 4, space 12 - 4 by 10 - 4 (no padding).
  const at::Tensor layer0 = InnerNeuronVisualizationObjective::layer_output(*retina, 0, x);
  EXPECT_EQ(layer0.sizes(), (std::vector<int64_t>{2, 4, 16, 8, 6}));
  // Objective: mean over the batch of channel 3 at (8/2, 6/2), frames 1..3 averaged.
  InnerNeuronVisualizationObjective objective(retina, "core_features_layer0", 3,
                                              std::make_shared<SliceMeanReducer>(0, 1, 3));
  const double expected = layer0.select(1, 3).narrow(1, 1, 3).select(2, 4).select(2, 3).mean().item<double>();
  EXPECT_NEAR(objective.forward(x).item<double>(), expected, 1e-6);

  auto v1 = v1_model();
  const at::Tensor img = torch::randn({2, 1, 20, 24});
  EXPECT_TRUE(torch::allclose(InnerNeuronVisualizationObjective::layer_output(*v1, 1, img), v1->core()->forward(img),
                              1e-6, 1e-6));
  InnerNeuronVisualizationObjective v1_objective(v1, "features.layer1", 5, std::make_shared<MeanReducer>(0));
  const at::Tensor core = v1->core()->forward(img);  // (2, 6, H, W)
  const double v1_expected =
      core.select(1, 5).select(2, core.size(3) / 2).select(1, core.size(2) / 2).mean().item<double>();
  EXPECT_NEAR(v1_objective.forward(img).item<double>(), v1_expected, 1e-6);
}

TEST(Objectives, BadInputsAreClearErrors) {
  auto model = retina_model();
  const auto reducer = std::make_shared<MeanReducer>(0);
  std::string message = error_of([&] { IncreaseObjective(model, {5}, "s1", reducer); });
  EXPECT_NE(message.find("neuron index 5"), std::string::npos) << message;
  EXPECT_NE(message.find("5 neurons"), std::string::npos) << message;
  message = error_of([&] { IncreaseObjective(model, {0}, "nope", reducer); });
  EXPECT_NE(message.find("nope"), std::string::npos) << message;
  EXPECT_NE(message.find("s1"), std::string::npos) << message;
  message = error_of([&] { ContrastiveNeuronObjective(model, {0}, {{-1}}, "s2", reducer); });
  EXPECT_NE(message.find("neuron index -1"), std::string::npos) << message;
  message = error_of([&] { InnerNeuronVisualizationObjective(model, "features.layer7", 0, reducer); });
  EXPECT_NE(message.find("unknown layer 'features.layer7'"), std::string::npos) << message;
  EXPECT_NE(message.find("features.layer0, features.layer1"), std::string::npos) << message;
  message = error_of([&] { InnerNeuronVisualizationObjective(model, "readout", 0, reducer); });
  EXPECT_NE(message.find("unknown layer 'readout'"), std::string::npos) << message;
  message = error_of([&] { InnerNeuronVisualizationObjective(model, "features.layer1", 4, reducer); });
  EXPECT_NE(message.find("4 channels"), std::string::npos) << message;
  IncreaseObjective objective(model, {0}, "s1", reducer);
  message = error_of([&] { objective.forward(torch::zeros({2, 2, 20, 12, 10})); });
  EXPECT_NE(message.find("batch size 1"), std::string::npos) << message;
}

namespace {
// Optimises from a random start and checks the result beats the start and
// random stimuli of the same norm.
void expect_optimisation_raises(const std::shared_ptr<fovea::nn::Model>& model, Objective& objective,
                                const std::vector<int64_t>& shape, double lr, int64_t steps) {
  at::Tensor stimulus = (torch::randn(shape) * 0.1).requires_grad_(true);
  double start;
  {
    torch::NoGradGuard no_grad;
    start = objective.forward(stimulus).item<double>();
  }
  OptimizationStopper stopper(steps);
  const auto history = optimize_stimulus(stimulus, sgd(lr), objective, stopper);
  ASSERT_EQ(static_cast<int64_t>(history.size()), steps);
  EXPECT_NEAR(history.front(), start, 1e-5 * std::abs(start) + 1e-7);
  EXPECT_FALSE(stimulus.requires_grad());
  torch::NoGradGuard no_grad;
  const double final_value = objective.forward(stimulus).item<double>();
  std::cout << "objective: start " << start << ", optimised " << final_value << "\n";
  EXPECT_GT(final_value, start);
  const double norm = stimulus.norm().item<double>();
  for (int i = 0; i < 5; ++i) {
    at::Tensor random = torch::randn(shape);
    random = random * (norm / random.norm().item<double>());
    const double random_value = objective.forward(random).item<double>();
    std::cout << "  random stimulus of the same norm: " << random_value << "\n";
    EXPECT_GT(final_value, random_value) << "random stimulus " << i;
  }
}
}  // namespace

TEST(OptimizeStimulus, RaisesTheRetinaObjective) {
  torch::manual_seed(5);
  auto model = retina_model();
  IncreaseObjective objective(model, {2}, "s1", std::make_shared<SliceMeanReducer>(0, 4, 6));
  expect_optimisation_raises(model, objective, model->stimulus_shape(20), 10.0, 20);
}

TEST(OptimizeStimulus, RaisesTheV1Objective) {
  torch::manual_seed(6);
  auto model = v1_model();
  IncreaseObjective objective(model, {1}, "", std::make_shared<MeanReducer>(0));
  expect_optimisation_raises(model, objective, model->stimulus_shape(1), 10.0, 20);
}

TEST(OptimizeStimulus, FrozenWeightsGiveTheSameStimulusAndNoWeightGradients) {
  torch::manual_seed(7);
  auto model = retina_model();
  IncreaseObjective objective(model, {2}, "s1", std::make_shared<SliceMeanReducer>(0, 4, 6));
  const at::Tensor start = torch::randn(model->stimulus_shape(20)) * 0.1;
  auto optimise = [&] {
    at::Tensor stimulus = start.clone().requires_grad_(true);
    OptimizationStopper stopper(5);
    optimize_stimulus(stimulus, sgd(10.0), objective, stopper);
    return stimulus;
  };
  const at::Tensor unfrozen = optimise();  // as openretina: the weights get gradients too
  auto params = model->parameters();
  ASSERT_TRUE(params.front().grad().defined());
  for (auto& p : params) p.mutable_grad() = at::Tensor();
  // One parameter starts frozen already: its flag must come back as it was.
  params.back().set_requires_grad(false);
  model->train();
  at::Tensor frozen;
  {
    FrozenForOptimisation guard(*model);
    EXPECT_FALSE(model->is_training());
    frozen = optimise();
  }
  EXPECT_TRUE(torch::allclose(frozen, unfrozen, 1e-5, 1e-7));
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_FALSE(params[i].grad().defined()) << "parameter " << i;
    EXPECT_EQ(params[i].requires_grad(), i + 1 < params.size()) << "parameter " << i;
  }
  EXPECT_TRUE(model->is_training());
}

namespace {
// −Σx²: its loss x² is easy to follow by hand under SGD (x ← x − lr·2x).
class NegativeSquare : public Objective {
 public:
  at::Tensor forward(const at::Tensor& x) override { return -(x * x).sum(); }
};
}  // namespace

TEST(OptimizeStimulus, StepsAddTheRegularisationAndStopEarly) {
  NegativeSquare objective;
  // One step, lr 0.1, x = 1, plus relu(x − 0) (gradient 1): x ← 1 − 0.1·(2 + 1) = 0.7.
  at::Tensor x = torch::ones({1, 1}).requires_grad_(true);
  OptimizationStopper one(1);
  auto range = std::make_shared<RangeRegularizationLoss>(ChannelRanges{{std::nullopt, 0.0}}, std::nullopt);
  auto history = optimize_stimulus(x, sgd(0.1), objective, one, {range});
  EXPECT_NEAR(x.item<double>(), 0.7, 1e-6);
  EXPECT_EQ(history, std::vector<double>{-1.0});
  // lr 1.5: x ← −2x, the loss x² grows 4-fold each step: losses 1, 4, 16, 64, ...
  // Patience 1 stops at the second iteration, patience 3 at the fourth.
  for (int64_t patience : {1, 3}) {
    at::Tensor y = torch::ones({1, 1}).requires_grad_(true);
    EarlyStopper stopper(100, patience, 0.0);
    history = optimize_stimulus(y, sgd(1.5), objective, stopper);
    EXPECT_EQ(static_cast<int64_t>(history.size()), patience + 1);
    EXPECT_NEAR(y.item<double>(), std::pow(-2.0, patience + 1), 1e-6);
  }
}

TEST(OptimizeStimulus, PostprocessorsRunAfterEveryStep) {
  NegativeSquare objective;
  // x ← x/2 by the step, then back to norm 1 (and clamped to at most 0.8) by the postprocessor.
  at::Tensor x = torch::tensor({3.0f, 4.0f}).view({1, 2}).clone().requires_grad_(true);
  auto post = std::make_shared<ChangeNormJointlyClipRangeSeparately>(
      ChannelRanges{{std::nullopt, 0.8}, {std::nullopt, 0.8}}, 1.0);
  OptimizationStopper stopper(3);
  const auto history = optimize_stimulus(x, sgd(0.25), objective, stopper, {}, {post});
  // After step 1: (1.5, 2) → (0.6, 0.8) → clamp (0.6, 0.8); it stays there.
  EXPECT_TRUE(torch::allclose(x, torch::tensor({0.6f, 0.8f}).view({1, 2}), 1e-6, 1e-6));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_NEAR(history[0], -25.0, 1e-5);
  EXPECT_NEAR(history[1], -1.0, 1e-5);
  EXPECT_FALSE(x.requires_grad());
}
