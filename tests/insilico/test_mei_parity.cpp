// Parity with openretina's MEI recipe (../shared/golden/openretina_mei): the
// retina model of openretina_core_readout, session_a, neuron 3, mean over
// output frames 10..19, SGD lr 100 for 10 iterations, with and without the
// norm-30 + per-channel clip postprocessor.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "fovea/insilico/objectives.h"
#include "fovea/insilico/optimize.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model_file.h"
#include "test_util.h"

using namespace fovea::insilico;

namespace {

struct MeiResult {
  at::Tensor stimulus;
  double objective;
};

MeiResult run_recipe(const std::vector<std::shared_ptr<StimulusPostprocessor>>& postprocessors) {
  auto model = fovea::nn::import_checkpoint(fovea::test::golden("openretina_core_readout/checkpoint.ckpt"));
  model->eval();
  IncreaseObjective objective(model, {3}, "session_a", std::make_shared<SliceMeanReducer>(0, 10, 10));
  at::Tensor stimulus =
      fovea::io::read_npy(fovea::test::golden("openretina_mei/initial_stimulus.npy")).clone().requires_grad_(true);
  OptimizationStopper stopper(10);
  OptimizerFactory sgd = [](std::vector<at::Tensor> p) {
    return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(100.0));
  };
  optimize_stimulus(stimulus, sgd, objective, stopper, {}, postprocessors);
  torch::NoGradGuard no_grad;
  return {stimulus, objective.forward(stimulus).item<double>()};
}

// `stimulus_tolerance`: see PlainSgdMatchesOpenretina.
void expect_parity(const MeiResult& result, const std::string& npy, const std::string& key,
                   double stimulus_tolerance) {
  const at::Tensor expected = fovea::io::read_npy(fovea::test::golden("openretina_mei/" + npy));
  ASSERT_EQ(result.stimulus.sizes(), expected.sizes());
  const double stimulus_error = fovea::test::relative_error(result.stimulus, expected);
  const double golden_objective = fovea::test::golden_json().at(key).get<double>();
  const double objective_error = std::abs(result.objective - golden_objective) / std::abs(golden_objective);
  std::cout << npy << ": stimulus relative error " << stimulus_error << "; objective " << result.objective
            << " vs " << golden_objective << ", relative error " << objective_error << "\n";
  EXPECT_LT(stimulus_error, stimulus_tolerance);
  EXPECT_LT(objective_error, 1e-3);
}

}  // namespace

TEST(MeiParity, PlainSgdMatchesOpenretina) {
  SKIP_WITHOUT_GOLDEN();
  // Without the norm constraint the stimulus grows to ~470 and float32
  // rounding is amplified to the 1e-3 level: measured on this case, fovea in
  // float32 and in float64 differ by 1.0e-3, the golden file differs from the
  // float64 run by 2.1e-3, and changing 46 start values by one ulp moves the
  // result by 1.7e-3. 1e-3 is therefore below the noise floor of this case;
  // the stimulus is held to 5e-3 and the objective (insensitive to it) to 1e-3.
  expect_parity(run_recipe({}), "mei_plain.npy", "mei_plain_objective", 5e-3);
}

TEST(MeiParity, NormAndClipMatchesOpenretina) {
  SKIP_WITHOUT_GOLDEN();
  // Höfling et al.: norm 30; green [−0.654, 6.269], UV [−0.913, 6.269].
  auto post = std::make_shared<ChangeNormJointlyClipRangeSeparately>(
      ChannelRanges{{-0.654, 6.269}, {-0.913, 6.269}}, 30.0);
  const MeiResult result = run_recipe({post});
  expect_parity(result, "mei_norm_clip.npy", "mei_norm_clip_objective", 1e-3);
  // The constraint holds on the result: every value inside its channel's range.
  EXPECT_GE(result.stimulus.select(1, 0).min().item<double>(), -0.654 - 1e-6);
  EXPECT_GE(result.stimulus.select(1, 1).min().item<double>(), -0.913 - 1e-6);
  EXPECT_LE(result.stimulus.max().item<double>(), 6.269 + 1e-6);
}
