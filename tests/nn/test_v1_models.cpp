// The V1 model family built from specs: shapes, parameter counts, the rank-1
// contraction, BatchNorm semantics, ridge regression and spec errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/nn/model.h"
#include "fovea/nn/registry.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "test_util.h"

using fovea::nn::Json;

namespace {

Json full_spec(int64_t neurons, int64_t h = 66, int64_t w = 130) {
  return Json{{"core", {{"type", "minimodel_core"}, {"n_conv", 16}, {"n_conv_mid", 320}, {"kernel_size", {25, 9}}}},
              {"readout", {{"type", "rank1"}, {"n_neurons", neurons}}},
              {"input_shape", {1, h, w}}};
}

TEST(V1Models, FullModelHasTheReferenceParameterCount) {
  auto model = fovea::nn::build_model(full_spec(24));
  // minimodel.md: 144,112 in the 16-320 core and 419 per neuron.
  int64_t core = 0;
  for (const auto& p : model->core()->parameters()) core += p.numel();
  EXPECT_EQ(core, 144112);
  EXPECT_EQ(model->n_parameters(), 144112 + 24 * 419);
  auto out = model->forward(torch::randn({2, 1, 66, 130}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 24}));
  EXPECT_GT(out.min().item<double>(), 0.0);  // ELU + 1 + 1e-12 is positive
}

TEST(V1Models, StateDictNamesMirrorMinimodel) {
  auto model = fovea::nn::build_model(full_spec(3));
  std::set<std::string> names;
  for (auto& [k, v] : model->state_dict()) names.insert(k);
  for (const char* k : {"core.features.layer0.conv.weight", "core.features.layer0.norm.running_var",
                        "core.features.layer0.norm.num_batches_tracked",
                        "core.features.layer1.ds_conv.in_depth_conv.weight",
                        "core.features.layer1.ds_conv.spatial_conv.weight",
                        "core.features.layer1.ds_conv.out_depth_conv.weight", "core.features.layer1.norm.weight",
                        "readout.Wy", "readout.Wx", "readout.Wc", "readout.bias"})
    EXPECT_TRUE(names.count(k)) << k;
}

TEST(V1Models, PredictedCoreShapeMatchesForwardForOddSizesAndOptions) {
  for (bool pool : {true, false})
    for (int64_t layers : {1, 2, 3})
      for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{33, 65}, {31, 47}, {20, 20}}) {
        Json spec = {{"type", "minimodel_core"}, {"n_layers", layers}, {"n_conv", 4}, {"n_conv_mid", 6},
                     {"kernel_size", {7, 3}}, {"pool", pool}};
        fovea::nn::MinimodelCore core(fovea::nn::MinimodelCoreOptions::from_json(spec));
        core.eval();
        auto out = core.forward(torch::randn({1, 1, hw.first, hw.second}));
        auto predicted = core.output_shape({1, hw.first, hw.second});
        EXPECT_EQ(std::vector<int64_t>(out.sizes().begin() + 1, out.sizes().end()), predicted)
            << "pool " << pool << " layers " << layers << " " << hw.first << "x" << hw.second;
        // The first conv alone (what V1Task sizes its cache by).
        auto first = core.layer(0)->conv->forward(torch::randn({1, 1, hw.first, hw.second}));
        const auto first_predicted = core.conv_output_shape(0, hw.first, hw.second);
        EXPECT_EQ(std::vector<int64_t>(first.sizes().begin() + 1, first.sizes().end()),
                  std::vector<int64_t>(first_predicted.begin(), first_predicted.end()))
            << "pool " << pool << " " << hw.first << "x" << hw.second;
      }
}

TEST(V1Models, Rank1ReadoutEqualsTheDirectContraction) {
  fovea::nn::Rank1Readout readout(5, 7, 4, 6, 0.5, true);
  torch::NoGradGuard no_grad;
  readout.Wy.uniform_(0, 1);
  readout.Wx.uniform_(0, 1);
  readout.bias.normal_();
  auto f = torch::randn({3, 7, 4, 6}, torch::kFloat64).to(torch::kFloat32);
  auto direct = torch::einsum("ncyx,bcyx->bn", {readout.Wc.squeeze(1).unsqueeze(2).unsqueeze(3) *
                                                    readout.Wy.squeeze(1).unsqueeze(1).unsqueeze(3) *
                                                    readout.Wx.squeeze(1).unsqueeze(1).unsqueeze(2),
                                                f}) +
                readout.bias;
  auto expected = torch::elu(direct) + 1.0;
  EXPECT_TRUE(torch::allclose(readout.forward(f, ""), expected, 1e-4, 1e-5));
  // Hoyer-Square: (Σ|w|)² / Σw², between 1 (one channel) and C (all equal).
  auto hs = readout.hoyer_square();
  EXPECT_TRUE((hs >= 1.0 - 1e-5).all().item<bool>());
  EXPECT_TRUE((hs <= 7.0 + 1e-5).all().item<bool>());
}

TEST(V1Models, BatchNormUsesPyTorchMomentumSemantics) {
  auto model = fovea::nn::build_model(full_spec(2, 33, 65));
  auto core = std::dynamic_pointer_cast<fovea::nn::MinimodelCore>(model->core());
  auto norm = core->layer(0)->norm;
  model->train();
  auto x = torch::randn({4, 1, 33, 65});
  auto conv_out = core->layer(0)->conv->forward(x).detach();
  model->forward(x);
  // running = 0.1 · old (0) + 0.9 · batch mean
  auto expected = 0.9 * conv_out.mean({0, 2, 3});
  EXPECT_TRUE(torch::allclose(norm->running_mean, expected, 1e-4, 1e-5));
}

TEST(V1Models, RidgeRecoversALinearReceptiveField) {
  torch::manual_seed(3);
  Json spec = {{"core", {{"type", "block_average"}, {"factor", 2}}},
               {"readout", {{"type", "ridge"}, {"n_neurons", 2}}},
               {"input_shape", {1, 8, 10}}};
  auto model = fovea::nn::build_model(spec);
  auto images = torch::randn({600, 1, 8, 10});
  auto pooled = torch::avg_pool2d(images, 2).reshape({600, -1});
  auto w = torch::randn({20, 2});
  auto y = pooled.mm(w) + 0.05 * torch::randn({600, 2}) + 3.0;
  fovea::nn::fit_ridge(*model, images, y, 1e-3);
  auto test = torch::randn({100, 1, 8, 10});
  auto truth = torch::avg_pool2d(test, 2).reshape({100, -1}).mm(w) + 3.0;
  auto pred = model->forward(test);
  EXPECT_LT((pred - truth).pow(2).mean().item<double>(), 0.01 * truth.var().item<double>());
}

TEST(V1Models, RidgeOnTooManyFeaturesIsAnErrorNotAnAllocationFailure) {
  // A core with 150 x 150 outputs: the closed form would solve a 22500 x 22500 system.
  Json spec = {{"core", {{"type", "block_average"}, {"factor", 1}}},
               {"readout", {{"type", "ridge"}, {"n_neurons", 1}}},
               {"input_shape", {1, 150, 150}}};
  auto model = fovea::nn::build_model(spec);
  const auto message = fovea::test::error_of(
      [&] { fovea::nn::fit_ridge(*model, torch::zeros({2, 1, 150, 150}), torch::zeros({2, 1}), 1.0); });
  EXPECT_NE(message.find("22500 features"), std::string::npos) << message;
}

TEST(V1Models, SpecErrorsNameTheProblem) {
  Json bad = full_spec(2);
  bad["core"]["type"] = "no_such_core";
  try {
    fovea::nn::build_model(bad);
    FAIL() << "expected an error";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown core type 'no_such_core'"), std::string::npos) << e.what();
  }
  Json no_neurons = full_spec(2);
  no_neurons["readout"].erase("n_neurons");
  EXPECT_THROW(fovea::nn::build_model(no_neurons), fovea::Error);
  Json bad_act = full_spec(2);
  bad_act["core"]["activation"] = "tanh";
  EXPECT_THROW(fovea::nn::build_model(bad_act), fovea::Error);
}

TEST(V1Models, LoadStateDictReportsMissingAndMisshapenWeights) {
  auto model = fovea::nn::build_model(full_spec(2, 33, 65));
  auto state = model->state_dict();
  auto missing = state;
  missing.erase(missing.begin());
  try {
    model->load_state_dict(missing, "x.pt");
    FAIL();
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.pt: weight 'core.features.layer0.conv.weight' is missing"),
              std::string::npos)
        << e.what();
  }
  auto misshapen = state;
  misshapen[0].second = torch::zeros({1});
  EXPECT_THROW(model->load_state_dict(misshapen, "x.pt"), fovea::Error);
}

// A user-defined core registers itself and composes with a built-in readout.
class TinyCore : public fovea::nn::Core {
 public:
  TinyCore() { conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 3, 3).padding(1))); }
  at::Tensor forward(const at::Tensor& x) override { return torch::relu(conv->forward(x)); }
  torch::nn::Conv2d conv{nullptr};
};

TEST(V1Models, CustomCoresComposeWithBuiltInReadouts) {
  fovea::nn::register_core("tiny", [](const Json&, const std::vector<int64_t>&) { return std::make_shared<TinyCore>(); });
  Json spec = {{"core", {{"type", "tiny"}}}, {"readout", {{"type", "rank1"}, {"n_neurons", 4}}}, {"input_shape", {1, 9, 11}}};
  auto model = fovea::nn::build_model(spec);
  EXPECT_EQ(model->forward(torch::randn({2, 1, 9, 11})).sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(model->n_parameters(), 3 * 9 + 3 + 4 * (9 + 11 + 3 + 1));
}

}  // namespace
