// Unit tests of ensembles (openretina's EnsembleModel): "ensemble" core + "ensemble" readout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "fovea/error.h"
#include "fovea/nn/ensemble.h"
#include "fovea/nn/model_file.h"
#include "test_util.h"

using fovea::nn::EnsembleCore;
using fovea::nn::EnsembleReadout;
using fovea::nn::Json;

namespace {

const Json kNeurons = {{"s1", 3}, {"s2", 2}};

Json factorized_member() {
  return {{"type", "factorized"},
          {"n_neurons_dict", kNeurons},
          {"mask_l1_reg", 1.0},
          {"weights_l1_reg", 1.0},
          {"laplace_mask_reg", 1.0},
          {"readout_bias", true},
          {"init_scales", {{0.0, 0.15}, {0.0, 0.15}}}};
}
Json lnp_member() {
  return {{"type", "lnp"}, {"n_neurons_dict", kNeurons}, {"nonlinearity", "softplus"}, {"sparse_weight", 1.0}};
}
Json point_member() { return {{"type", "point_gaussian"}, {"n_neurons_dict", kNeurons}, {"init_sigma_range", 0.15}}; }

Json single_spec(const Json& readout) {
  return {{"input_shape", {2, 6, 5, 4}}, {"core", {{"type", "dummy_core"}, {"cut_first_n_frames", 1}}}, {"readout", readout}};
}

Json ensemble_spec(const std::vector<Json>& readouts) {
  Json cores = Json::array(), members = Json::array();
  for (const auto& r : readouts) {
    cores.push_back({{"type", "dummy_core"}, {"cut_first_n_frames", 1}});
    members.push_back(r);
  }
  return {{"input_shape", {2, 6, 5, 4}},
          {"core", {{"type", "ensemble"}, {"members", cores}}},
          {"readout", {{"type", "ensemble"}, {"members", members}}}};
}

// model i's "core.X" / "readout.X" -> "core.members.<i>.X" / "readout.members.<i>.X".
std::vector<std::pair<std::string, at::Tensor>> as_member(const fovea::nn::Model& model, int i) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [k, t] : model.state_dict()) {
    const auto dot = k.find('.');
    out.emplace_back(k.substr(0, dot) + ".members." + std::to_string(i) + k.substr(dot), t);
  }
  return out;
}

}  // namespace

TEST(Ensemble, OutputIsTheMeanOfTheMembersOutputs) {
  torch::manual_seed(0);
  auto a = fovea::nn::build_model(single_spec(factorized_member()));
  auto b = fovea::nn::build_model(single_spec(lnp_member()));
  auto ensemble = fovea::nn::build_model(ensemble_spec({factorized_member(), lnp_member()}));
  auto state = as_member(*a, 0);
  for (auto& kv : as_member(*b, 1)) state.push_back(kv);
  ensemble->load_state_dict(state, "members");  // every key matches: the names are the members' own

  a->eval();
  b->eval();
  ensemble->eval();
  at::Tensor x = torch::randn({2, 2, 6, 5, 4});
  for (const std::string key : {"s1", "s2", ""}) {
    at::Tensor expected = (a->forward(x, key) + b->forward(x, key)) / 2;
    at::Tensor y = ensemble->forward(x, key);
    ASSERT_EQ(y.sizes(), expected.sizes()) << key;
    EXPECT_TRUE(torch::allclose(y, expected, 1e-6, 1e-7)) << key;
  }
  EXPECT_EQ(ensemble->readout_keys(), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(ensemble->readout()->n_neurons(""), 5);
  // Regularisers add up: each member keeps its own penalty.
  EXPECT_NEAR(ensemble->readout()->regularizer("s1").item<double>(),
              (a->readout()->regularizer("s1") + b->readout()->regularizer("s1")).item<double>(), 1e-5);
  EXPECT_EQ(ensemble->core()->regularizer().item<double>(), 0.0);
}

TEST(Ensemble, KeysNameTheMembers) {
  auto ensemble = fovea::nn::build_model(ensemble_spec({factorized_member(), point_member()}));
  std::set<std::string> keys;
  for (const auto& [k, t] : ensemble->state_dict()) keys.insert(k);
  for (std::string s : {"s1", "s2"}) {
    EXPECT_TRUE(keys.count("readout.members.0." + s + ".mask_weights")) << s;
    EXPECT_TRUE(keys.count("readout.members.0." + s + "._input_weights_regularizer_spatial.laplace.filter")) << s;
    EXPECT_TRUE(keys.count("readout.members.1." + s + "._mu")) << s;
  }
  auto core = std::dynamic_pointer_cast<EnsembleCore>(ensemble->core());
  ASSERT_TRUE(core);
  EXPECT_EQ(core->n_members(), 2);
  EXPECT_EQ(core->output_shape({2, 6, 5, 4}), (std::vector<int64_t>{2, 2, 5, 5, 4}));
  EXPECT_EQ(core->forward(torch::zeros({3, 2, 6, 5, 4})).sizes(), (std::vector<int64_t>{3, 2, 2, 5, 5, 4}));
}

TEST(Ensemble, GradientsReachEveryMember) {
  torch::manual_seed(1);
  auto ensemble = fovea::nn::build_model(ensemble_spec({factorized_member(), lnp_member(), point_member()}));
  ensemble->train();
  at::Tensor loss = ensemble->forward(torch::randn({2, 2, 6, 5, 4}), "s2").sum() + ensemble->readout()->regularizer("s2");
  loss.backward();
  int64_t checked = 0;
  for (const auto& p : ensemble->named_parameters()) {
    if (p.key().find(".s1.") != std::string::npos) continue;  // the other session's readouts are not used
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
    ++checked;
  }
  EXPECT_EQ(checked, 3 + 1 + 4);  // factorized: mask, weights, bias; lnp: kernel; point: _mu, sigma, _features, bias
}

TEST(Ensemble, RoundTripsThroughTheModelFile) {
  torch::manual_seed(2);
  // Shared fields once for every member.
  Json spec = ensemble_spec({factorized_member(), point_member()});
  for (auto& m : spec["readout"]["members"]) m.erase("n_neurons_dict");
  spec["readout"]["n_neurons_dict"] = kNeurons;
  spec["readout"]["mean_activity_dict"] = {{"s2", {0.5, 1.5}}};
  auto model = fovea::nn::build_model(spec);
  model->eval();
  at::Tensor x = torch::randn({2, 2, 6, 5, 4});
  at::Tensor y = model->forward(x, "");
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 5}));

  fovea::test::TempDir dir;
  fovea::nn::save_model(dir.file("e.safetensors"), *model);
  auto loaded = fovea::nn::load_model(dir.file("e.safetensors"));
  EXPECT_TRUE(torch::equal(loaded->forward(x, ""), y));
  EXPECT_TRUE(torch::equal(loaded->forward(x, "s2"), model->forward(x, "s2")));
  auto readout = std::dynamic_pointer_cast<EnsembleReadout>(loaded->readout());
  ASSERT_TRUE(readout);
  EXPECT_EQ(readout->n_members(), 2);
}

TEST(Ensemble, MismatchedMembersAreErrors) {
  // Member cores with different output shapes.
  Json cores_differ = ensemble_spec({lnp_member(), lnp_member()});
  cores_differ["core"]["members"][1]["cut_first_n_frames"] = 2;
  EXPECT_THROW(fovea::nn::build_model(cores_differ), fovea::Error);
  // Another member count in the readout than in the core.
  Json counts_differ = ensemble_spec({lnp_member(), lnp_member()});
  counts_differ["readout"]["members"].push_back(lnp_member());
  EXPECT_THROW(fovea::nn::build_model(counts_differ), fovea::Error);
  // Readouts with other sessions or neuron counts.
  Json sessions_differ = ensemble_spec({lnp_member(), lnp_member()});
  sessions_differ["readout"]["members"][1]["n_neurons_dict"] = {{"s1", 3}, {"s3", 2}};
  EXPECT_THROW(fovea::nn::build_model(sessions_differ), fovea::Error);
  Json neurons_differ = ensemble_spec({lnp_member(), lnp_member()});
  neurons_differ["readout"]["members"][1]["n_neurons_dict"] = {{"s1", 3}, {"s2", 4}};
  EXPECT_THROW(fovea::nn::build_model(neurons_differ), fovea::Error);
  // An ensemble core with a plain readout, and the reverse.
  Json plain_readout = ensemble_spec({lnp_member(), lnp_member()});
  plain_readout["readout"] = lnp_member();
  EXPECT_THROW(fovea::nn::build_model(plain_readout), fovea::Error);
  Json plain_core = ensemble_spec({lnp_member(), lnp_member()});
  plain_core["core"] = {{"type", "dummy_core"}};
  EXPECT_THROW(fovea::nn::build_model(plain_core), fovea::Error);
  // No members, or members that are not specs.
  Json empty = ensemble_spec({lnp_member()});
  empty["core"]["members"] = Json::array();
  EXPECT_THROW(fovea::nn::build_model(empty), fovea::Error);
  Json not_specs = ensemble_spec({lnp_member()});
  not_specs["readout"]["members"] = Json::array({1});
  EXPECT_THROW(fovea::nn::build_model(not_specs), fovea::Error);
  // At forward time a feature tensor without the member axis is refused.
  auto ok = fovea::nn::build_model(ensemble_spec({lnp_member(), lnp_member()}));
  EXPECT_THROW(ok->readout()->forward(torch::zeros({2, 2, 5, 5, 4}), "s1"), fovea::Error);
}
