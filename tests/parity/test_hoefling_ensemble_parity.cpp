// Parity with openretina's loader of the Höfling 2024 ensemble
// (../shared/golden/hoefling_ensemble): every member from its three files
// (members 0-2 store their weights in torch's zip container, 3-4 in the
// legacy one), the ensemble mean, the centred ensemble, the core output with
// a session's log speed, and the MEI of openretina's `visualize` recipe.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "fovea/insilico/mei.h"
#include "fovea/insilico/regularizers.h"
#include "fovea/io/npy.h"
#include "fovea/nn/hoefling_ensemble.h"
#include "fovea/nn/legacy_core.h"
#include "test_util.h"

namespace {

const std::string kDir = "hoefling_ensemble/";

nlohmann::json ensemble_json() {
  std::ifstream in(fovea::test::golden(kDir + "golden.json"));
  return nlohmann::json::parse(in);
}

at::Tensor golden_npy(const std::string& name) { return fovea::io::read_npy(fovea::test::golden(kDir + name)); }

std::string files() { return fovea::test::golden(kDir + "ensemble"); }

// Compares the model's output for every session with <prefix><session>.npy.
void expect_outputs(fovea::nn::Model& model, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  const at::Tensor input = golden_npy("input.npy");
  const nlohmann::json golden = ensemble_json();
  const double tolerance = golden["tolerances"]["outputs_rel_l2"].get<double>();
  ASSERT_EQ(golden["sessions_sorted"].size(), 3u);
  for (const auto& session : golden["sessions_sorted"]) {
    const std::string s = session.get<std::string>();
    const at::Tensor expected = golden_npy(prefix + s + ".npy");
    const at::Tensor out = model.forward(input, s);
    ASSERT_EQ(out.sizes(), expected.sizes()) << prefix << s;
    const double error = fovea::test::relative_error(out, expected);
    std::cout << prefix << s << ": relative error " << error << "\n";
    EXPECT_LT(error, tolerance) << prefix << s;
  }
}

}  // namespace

TEST(HoeflingEnsembleParity, EveryMemberFromBothStateDictContainers) {
  SKIP_WITHOUT_GOLDEN();
  const nlohmann::json golden = ensemble_json();
  const auto ids = fovea::nn::ensemble_member_ids(files());
  ASSERT_EQ(ids, fovea::nn::hoefling_ensemble_ids());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto member = fovea::nn::load_legacy_member(files(), ids[i]);
    // The per-session log speeds are the members' own, read from the file.
    auto core = std::dynamic_pointer_cast<fovea::nn::ParametricFactorizedBatchConv3dCore>(member->core());
    ASSERT_TRUE(core);
    ASSERT_EQ(golden["members"][i]["log_speed"].size(), 3u);
    for (const auto& [session, speed] : golden["members"][i]["log_speed"].items())
      EXPECT_NEAR(core->log_speed(session).item<double>(), speed.get<double>(), 1e-7) << session;
    expect_outputs(*member, "member_" + std::to_string(i) + "_");
  }
}

TEST(HoeflingEnsembleParity, CoreOutputUsesTheSessionsLogSpeed) {
  SKIP_WITHOUT_GOLDEN();
  auto member = fovea::nn::load_legacy_member(files(), "00000");
  torch::NoGradGuard no_grad;
  const at::Tensor out = member->core()->forward_session(golden_npy("input.npy"), "1_ventral1_20201021");
  const at::Tensor expected = golden_npy("core_member0_1_ventral1_20201021.npy");
  ASSERT_EQ(out.sizes(), expected.sizes());
  EXPECT_LT(fovea::test::relative_error(out, expected), 1e-4);
  // Without a session the default log speed (stretch 1) gives another output.
  EXPECT_GT(fovea::test::relative_error(member->core()->forward(golden_npy("input.npy")), expected), 1e-3);
}

TEST(HoeflingEnsembleParity, EnsembleMeanAndCentredEnsemble) {
  SKIP_WITHOUT_GOLDEN();
  auto ensemble = fovea::nn::load_ensemble_from_directory(files());
  expect_outputs(*ensemble, "ensemble_");
  fovea::nn::center_readouts(*ensemble);
  expect_outputs(*ensemble, "ensemble_centered_");

  auto member = fovea::nn::load_legacy_member(files(), "00000");
  fovea::nn::center_readouts(*member);
  torch::NoGradGuard no_grad;
  const at::Tensor out = member->forward(golden_npy("input.npy"), "1_ventral1_20201021");
  EXPECT_LT(fovea::test::relative_error(out, golden_npy("member_0_centered_1_ventral1_20201021.npy")), 1e-4);
}

TEST(HoeflingEnsembleParity, VisualizeMeiOfTheCentredMember) {
  SKIP_WITHOUT_GOLDEN();
  const nlohmann::json all = ensemble_json();
  const nlohmann::json golden = all["mei"];
  auto member = fovea::nn::load_legacy_member(files(), golden["member_id"].get<std::string>());
  fovea::nn::center_readouts(*member);
  const at::Tensor draw = golden_npy("mei_start.npy");

  // The recipe of openretina's visualize for a green/UV model.
  const fovea::insilico::MeiRecipe recipe = fovea::insilico::visualize_recipe(2, 50);
  ASSERT_TRUE(recipe.norm && recipe.range_regularization && recipe.postprocess_start);
  EXPECT_EQ(*recipe.norm, golden["postprocessor"]["norm"].get<double>());
  EXPECT_EQ(*recipe.range_regularization, golden["regularizer"]["factor"].get<double>());
  EXPECT_EQ(recipe.steps, golden["iterations"].get<int64_t>());
  EXPECT_EQ(recipe.lr, 100.0);

  // The start: P(0.1 · draw).
  fovea::insilico::ChangeNormJointlyClipRangeSeparately post(recipe.ranges, recipe.norm);
  EXPECT_LT(fovea::test::relative_error(post.process(draw * recipe.init_scale), golden_npy("mei_start_processed.npy")),
            1e-6);

  const auto results = fovea::insilico::optimize_neuron_meis(member, golden["session"].get<std::string>(),
                                                             {golden["neuron"].get<int64_t>()}, recipe, {draw});
  ASSERT_EQ(results.size(), 1u);
  const at::Tensor expected = golden_npy("mei_member0_neuron0.npy");
  const double error = fovea::test::relative_error(results[0].stimulus.unsqueeze(0), expected);
  std::cout << "MEI: relative error " << error << ", objective " << results[0].final_objective << " vs "
            << golden["objective_final"].get<double>() << "\n";
  EXPECT_LT(error, all["tolerances"]["mei_rel_l2"].get<double>());
  const auto before = golden["objective_per_iteration_before_step"];
  ASSERT_EQ(results[0].objective.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_NEAR(results[0].objective[i], before[i].get<double>(), 1e-4 * std::abs(before[i].get<double>())) << i;
  EXPECT_NEAR(results[0].final_objective, golden["objective_final"].get<double>(),
              1e-4 * golden["objective_final"].get<double>());
}
