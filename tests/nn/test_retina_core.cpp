// openretina's retina core: the space-time separable conv, the layer stack,
// the parameter names and the regularisers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "fovea/error.h"
#include "fovea/nn/retina_core.h"
#include "fovea/nn/st_separable_conv.h"

using fovea::nn::Json;
using fovea::nn::SimpleCoreWrapper;
using fovea::nn::SimpleCoreWrapperOptions;
using fovea::nn::STSeparableBatchConv3d;
using fovea::nn::STSeparableBatchConv3dOptions;

namespace {

STSeparableBatchConv3dOptions st_options(int64_t in, int64_t out, int64_t t, int64_t s) {
  STSeparableBatchConv3dOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.temporal_kernel_size = t;
  o.spatial_kernel_size = s;
  return o;
}

std::set<std::string> keys_of(const torch::nn::Module& m) {
  std::set<std::string> keys;
  for (const auto& p : m.named_parameters()) keys.insert(p.key());
  for (const auto& b : m.named_buffers()) keys.insert(b.key());
  return keys;
}

Json small_spec(const std::string& type) {
  return Json{{"channels", {3, 5, 4}},       {"temporal_kernel_sizes", {5, 3}}, {"spatial_kernel_sizes", {3, 3}},
              {"gamma_input", 0.3},          {"gamma_temporal", 40.0},        {"gamma_in_sparse", 0.2},
              {"gamma_hidden", 0.1},         {"cut_first_n_frames", 2},       {"input_padding", 0},
              {"hidden_padding", {0, 1, 1}}, {"convolution_type", type}};
}

}  // namespace

TEST(STSeparableBatchConv3d, ParameterShapesAndNames) {
  STSeparableBatchConv3d conv(st_options(2, 3, 7, 5));
  EXPECT_EQ(conv->sin_weights.sizes().vec(), (std::vector<int64_t>{3, 2, 2}));  // K = 7 / 3 = 2
  EXPECT_EQ(conv->cos_weights.sizes().vec(), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(conv->weight_spatial.sizes().vec(), (std::vector<int64_t>{3, 2, 1, 5, 5}));
  EXPECT_EQ(conv->bias.sizes().vec(), (std::vector<int64_t>{3}));
  EXPECT_EQ(conv->_log_speed_default.sizes().vec(), (std::vector<int64_t>{1}));
  EXPECT_EQ(conv->_log_speed_default.item<float>(), 0.f);
  EXPECT_EQ(keys_of(*conv), (std::set<std::string>{"sin_weights", "cos_weights", "weight_spatial", "bias",
                                                   "_log_speed_default"}));
  auto o = st_options(2, 3, 7, 5);
  o.bias = false;
  EXPECT_EQ(keys_of(*STSeparableBatchConv3d(o)).count("bias"), 0u);
}

// The basis for T = 6 (K = 2), written out from the formulas:
// tau_j = j - 6, mask_j = 1 / (1 + exp(-tau_j - floor(0.95 * 6) / s)), phi_j = 2 pi s tau_j / 6.
TEST(STSeparableBatchConv3d, TemporalBasisMatchesHandComputation) {
  for (double log_speed : {0.0, std::log(2.0)}) {
    const double s = std::exp(log_speed);
    auto [sines, cosines] = fovea::nn::STSeparableBatchConv3dImpl::temporal_basis(torch::full({1}, s), 6);
    ASSERT_EQ(sines.sizes().vec(), (std::vector<int64_t>{2, 6}));
    ASSERT_EQ(cosines.sizes().vec(), (std::vector<int64_t>{2, 6}));
    for (int j = 0; j < 6; ++j) {
      const double tau = j - 6.0;
      const double mask = 1.0 / (1.0 + std::exp(-tau - 5.0 / s));  // floor(5.7) = 5
      const double phi = 2.0 * M_PI * s * tau / 6.0;
      EXPECT_NEAR(sines[0][j].item<double>(), 0.0, 1e-7);
      EXPECT_NEAR(cosines[0][j].item<double>(), mask, 1e-6);
      EXPECT_NEAR(sines[1][j].item<double>(), mask * std::sin(phi), 1e-6) << "j=" << j << " s=" << s;
      EXPECT_NEAR(cosines[1][j].item<double>(), mask * std::cos(phi), 1e-6) << "j=" << j << " s=" << s;
    }
  }
}

TEST(STSeparableBatchConv3d, TemporalKernelIsTheWeightedBasis) {
  STSeparableBatchConv3d conv(st_options(1, 1, 6, 1));
  torch::NoGradGuard no_grad;
  conv->sin_weights.copy_(torch::tensor({0.5f, -2.0f}).view({1, 1, 2}));
  conv->cos_weights.copy_(torch::tensor({1.5f, 0.25f}).view({1, 1, 2}));
  at::Tensor kernel = conv->temporal_kernels();
  ASSERT_EQ(kernel.sizes().vec(), (std::vector<int64_t>{1, 1, 6}));
  for (int j = 0; j < 6; ++j) {
    const double tau = j - 6.0, mask = 1.0 / (1.0 + std::exp(-tau - 5.0)), phi = 2.0 * M_PI * tau / 6.0;
    // k = 0: sin 0 = 0 and cos 0 = 1; k = 1: sin(phi), cos(phi).
    const double expected = mask * (1.5 + 0.25 * std::cos(phi) - 2.0 * std::sin(phi));
    EXPECT_NEAR(kernel[0][0][j].item<double>(), expected, 1e-5) << "j=" << j;
  }
  // A log speed changes the kernel.
  EXPECT_GT((conv->temporal_kernels(torch::full({1}, 0.5)) - kernel).abs().max().item<double>(), 1e-3);
}

// With one input and one output channel, the dense kernel is separable: the
// conv3d must equal a spatial conv followed by a temporal conv.
TEST(STSeparableBatchConv3d, ForwardEqualsSpatialThenTemporalConvolution) {
  torch::manual_seed(0);
  STSeparableBatchConv3d conv(st_options(1, 1, 7, 3));
  torch::NoGradGuard no_grad;
  conv->bias.fill_(0.25);
  at::Tensor x = torch::randn({2, 1, 11, 9, 7});
  at::Tensor y = conv->forward(x);
  ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 1, 5, 7, 5}));
  at::Tensor spatial = conv->spatial_kernels();   // (1, 1, 3, 3)
  at::Tensor temporal = conv->temporal_kernels();  // (1, 1, 7)
  at::Tensor two_step = torch::conv3d(torch::conv3d(x, spatial.unsqueeze(2)), temporal.view({1, 1, 7, 1, 1})) + 0.25;
  EXPECT_LT((y - two_step).abs().max().item<double>(), 1e-5);
}

TEST(STSeparableBatchConv3d, PaddingAndStride) {
  auto o = st_options(2, 3, 4, 3);
  o.padding.size = {1, 2, 0};
  o.stride = {1, 2, 1};
  STSeparableBatchConv3d conv(o);
  at::Tensor y = conv->forward(torch::randn({1, 2, 9, 8, 7}));
  // T: 9 + 2 - 4 + 1 = 8; H: (8 + 4 - 3) / 2 + 1 = 5; W: 7 - 3 + 1 = 5.
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 3, 8, 5, 5}));
  auto same = st_options(2, 3, 5, 3);
  same.padding = fovea::nn::Padding3d::from_json(true, "padding");
  EXPECT_EQ(STSeparableBatchConv3d(same)->forward(torch::randn({1, 2, 9, 8, 7})).sizes().vec(),
            (std::vector<int64_t>{1, 3, 9, 8, 7}));
}

TEST(Padding3d, ReadsEveryFormTheReferenceAccepts) {
  using fovea::nn::Padding3d;
  EXPECT_TRUE(Padding3d::from_json(true, "p").same);
  EXPECT_FALSE(Padding3d::from_json(false, "p").same);
  EXPECT_EQ(Padding3d::from_json(false, "p").size, (std::array<int64_t, 3>{0, 0, 0}));
  EXPECT_EQ(Padding3d::from_json(2, "p").size, (std::array<int64_t, 3>{2, 2, 2}));
  EXPECT_EQ(Padding3d::from_json(Json::array({0, 2, 3}), "p").size, (std::array<int64_t, 3>{0, 2, 3}));
  EXPECT_TRUE(Padding3d::from_json("same", "p").same);
  EXPECT_THROW(Padding3d::from_json(Json::array({1, 2}), "p"), fovea::Error);
  EXPECT_THROW(Padding3d::from_json("full", "p"), fovea::Error);
}

TEST(SimpleCoreWrapper, OddShapesMatchOutputShape) {
  torch::manual_seed(1);
  auto spec = small_spec("custom_separable");
  SimpleCoreWrapper core(SimpleCoreWrapperOptions::from_json(spec));
  core.eval();
  at::Tensor y = core.forward(torch::randn({2, 3, 13, 11, 9}));
  // Layer 0 (valid): T 13-4=9, H 11-2=9, W 9-2=7. Layer 1 (0,1,1): T 9-2=7, H 9, W 7. Cut 2: T 5.
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 4, 5, 9, 7}));
  EXPECT_EQ(core.output_shape({3, 13, 11, 9}), (std::vector<int64_t>{4, 5, 9, 7}));

  spec["maxpool_every_n_layers"] = 1;
  SimpleCoreWrapper pooled(SimpleCoreWrapperOptions::from_json(spec));
  pooled.eval();
  // Pool after both layers: H 9 -> 4 -> 4 -> 2, W 7 -> 3 -> 3 -> 1.
  EXPECT_EQ(pooled.forward(torch::randn({1, 3, 13, 11, 9})).sizes().vec(), (std::vector<int64_t>{1, 4, 5, 2, 1}));
  EXPECT_EQ(pooled.output_shape({3, 13, 11, 9}), (std::vector<int64_t>{4, 5, 2, 1}));

  spec["maxpool_every_n_layers"] = 2;  // pool after layer 0 only
  SimpleCoreWrapper every_second(SimpleCoreWrapperOptions::from_json(spec));
  EXPECT_TRUE(every_second.layer(0)->pool);
  EXPECT_FALSE(every_second.layer(1)->pool);
  EXPECT_EQ(every_second.output_shape({3, 13, 11, 9}), (std::vector<int64_t>{4, 5, 4, 3}));
}

TEST(SimpleCoreWrapper, EveryConvTypeBuildsAndRuns) {
  const std::vector<std::pair<std::string, std::set<std::string>>> cases = {
      {"custom_separable", {"conv.sin_weights", "conv.cos_weights", "conv.weight_spatial", "conv._log_speed_default"}},
      {"full", {"conv.conv.weight", "conv._log_speed_default"}},
      {"separable", {"conv.space_conv.weight", "conv.time_conv.weight", "conv._log_speed_default"}},
      {"time_independent", {"conv.conv.weight"}}};
  for (const auto& [type, conv_keys] : cases) {
    SCOPED_TRACE(type);
    auto spec = small_spec(type);
    spec["hidden_padding"] = true;  // "same": the separable type pads both of its convs
    spec["dropout_rate"] = 0.1;
    SimpleCoreWrapper core(SimpleCoreWrapperOptions::from_json(spec));
    core.eval();
    at::Tensor x = torch::randn({2, 3, 13, 11, 9});
    at::Tensor y = core.forward(x);
    EXPECT_EQ(y.size(0), 2);
    const auto expected_shape = core.output_shape({3, 13, 11, 9});
    EXPECT_EQ(std::vector<int64_t>(y.sizes().begin() + 1, y.sizes().end()), expected_shape);
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    std::set<std::string> layer_keys;
    for (const auto& k : keys_of(*core.layer(1))) layer_keys.insert(k);
    std::set<std::string> expected = conv_keys;
    for (const char* k : {"norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
                          "norm.num_batches_tracked", "bias.bias"})
      expected.insert(k);
    EXPECT_EQ(layer_keys, expected);
    EXPECT_TRUE(core.layer(0)->dropout);
  }
}

TEST(SimpleCoreWrapper, StateDictKeysFollowOpenretina) {
  auto parent = std::make_shared<torch::nn::Module>();
  auto core = parent->register_module("core", std::make_shared<SimpleCoreWrapper>(
                                                  SimpleCoreWrapperOptions::from_json(small_spec("custom_separable"))));
  std::set<std::string> expected = {"core._input_weights_regularizer_spatial.laplace.filter"};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "core.features.layer" + std::to_string(i) + ".";
    for (const char* k : {"conv.sin_weights", "conv.cos_weights", "conv.weight_spatial", "conv._log_speed_default",
                          "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
                          "norm.num_batches_tracked", "bias.bias"})
      expected.insert(p + k);
  }
  EXPECT_EQ(keys_of(*parent), expected);
  EXPECT_EQ(core->layer(1)->bias->bias.sizes().vec(), (std::vector<int64_t>{1, 4, 1, 1, 1}));
  EXPECT_EQ(core->layer(0)->st_conv->sin_weights.sizes().vec(), (std::vector<int64_t>{5, 3, 1}));
}

TEST(SimpleCoreWrapper, BatchNormUsesBatchStatisticsOnlyInTraining) {
  SimpleCoreWrapper core(SimpleCoreWrapperOptions::from_json(small_spec("custom_separable")));
  at::Tensor x = torch::randn({2, 3, 13, 11, 9}) * 3 + 1;
  core.train();
  core.forward(x);
  at::Tensor mean = core.layer(0)->norm->running_mean.clone();
  EXPECT_GT(mean.abs().max().item<double>(), 0.0);  // momentum 0.1 moved it away from 0
  EXPECT_EQ(core.layer(0)->norm->options.momentum().value(), 0.1);
  core.eval();
  core.forward(x);
  EXPECT_TRUE(torch::equal(core.layer(0)->norm->running_mean, mean));
}

TEST(SimpleCoreWrapper, RegularizerTermsMatchTheirDefinitions) {
  torch::manual_seed(2);
  auto spec = small_spec("custom_separable");
  SimpleCoreWrapper core(SimpleCoreWrapperOptions::from_json(spec));
  torch::NoGradGuard no_grad;
  auto l0 = core.layer(0)->st_conv, l1 = core.layer(1)->st_conv;

  // Spatial Laplace, written out with a valid 3x3 stencil on every (o, i) kernel.
  at::Tensor w = l0->weight_spatial.select(2, 0);  // (5, 3, 3, 3)
  at::Tensor lap = 4 * w.narrow(2, 1, 1).narrow(3, 1, 1) - w.narrow(2, 0, 1).narrow(3, 1, 1) -
                   w.narrow(2, 2, 1).narrow(3, 1, 1) - w.narrow(2, 1, 1).narrow(3, 0, 1) - w.narrow(2, 1, 1).narrow(3, 2, 1);
  const double spatial = (lap.pow(2).sum() / (w.pow(2).sum() + 1e-6)).item<double>();

  // Temporal smoothness: K = 1 for layer 0 and layer 1 -> linspace(0.1, 0.9, 1) = [0.1].
  const double temporal = ((0.1 * l0->sin_weights).pow(2).sum() + (0.1 * l0->cos_weights).pow(2).sum()).item<double>() / 5 +
                          ((0.1 * l1->sin_weights).pow(2).sum() + (0.1 * l1->cos_weights).pow(2).sum()).item<double>() / 4;

  auto group = [](const at::Tensor& ws) {
    double total = 0;
    for (int64_t o = 0; o < ws.size(0); ++o) {
      double per_input = 0;
      for (int64_t i = 0; i < ws.size(1); ++i) per_input += ws[o][i].norm().item<double>();
      total += per_input / std::sqrt(1e-8 + ws[o].pow(2).sum().item<double>());
    }
    return total;
  };
  const double sparse0 = group(l0->weight_spatial) + group(l1->weight_spatial);
  const double hidden = group(l1->weight_spatial);

  auto terms = core.regularizer_terms();
  EXPECT_NEAR(terms.at("spatial_laplace").item<double>(), spatial, 1e-5 * spatial);
  EXPECT_NEAR(terms.at("temporal_smoothness").item<double>(), temporal, 1e-5 * temporal);
  EXPECT_NEAR(terms.at("group_sparsity_0").item<double>(), sparse0, 1e-5 * sparse0);
  EXPECT_NEAR(terms.at("group_sparsity").item<double>(), hidden, 1e-5 * hidden);
  const double total = 0.3 * spatial + 40 * temporal + 0.2 * sparse0 + 0.1 * hidden;
  EXPECT_NEAR(terms.at("total").item<double>(), total, 1e-5 * total);
  EXPECT_NEAR(core.regularizer().item<double>(), total, 1e-5 * total);

  // A gamma of 0 leaves its term out of the total and the map.
  spec["gamma_input"] = 0.0;
  SimpleCoreWrapper no_laplace(SimpleCoreWrapperOptions::from_json(spec));
  EXPECT_EQ(no_laplace.regularizer_terms().count("spatial_laplace"), 0u);
  EXPECT_EQ(no_laplace.regularizer_terms().size(), 4u);
}

TEST(SimpleCoreWrapper, RegularizerHasGradients) {
  SimpleCoreWrapper core(SimpleCoreWrapperOptions::from_json(small_spec("custom_separable")));
  core.regularizer().backward();
  EXPECT_GT(core.layer(0)->st_conv->sin_weights.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(core.layer(1)->st_conv->weight_spatial.grad().abs().sum().item<double>(), 0.0);
}

TEST(SimpleCoreWrapper, BadSpecsNameTheField) {
  auto spec = small_spec("custom_separable");
  spec["temporal_kernel_sizes"] = {5};
  EXPECT_THROW(SimpleCoreWrapperOptions::from_json(spec), fovea::Error);
  spec = small_spec("sin_cos");
  try {
    SimpleCoreWrapperOptions::from_json(spec);
    FAIL() << "an unknown convolution_type was accepted";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("convolution_type"), std::string::npos) << e.what();
  }
  spec = small_spec("custom_separable");
  spec.erase("channels");
  EXPECT_THROW(SimpleCoreWrapperOptions::from_json(spec), fovea::Error);
  // The full conv has no spatial weight: its group sparsity cannot be computed.
  SimpleCoreWrapper full(SimpleCoreWrapperOptions::from_json(small_spec("full")));
  EXPECT_THROW(full.regularizer(), fovea::Error);
}

TEST(SimpleCoreWrapper, ColorSquashingIsAFrozenWeightedChannelSum) {
  auto spec = [](bool squash) {
    nlohmann::json j = {{"channels", {1, 4}},
                        {"temporal_kernel_sizes", {5}},
                        {"spatial_kernel_sizes", {3}},
                        {"cut_first_n_frames", 0}};
    if (squash) j["color_squashing_weights"] = {0.3, 0.7};
    return fovea::nn::SimpleCoreWrapperOptions::from_json(j);
  };
  fovea::nn::SimpleCoreWrapper squashing(spec(true)), grey(spec(false));
  auto params = squashing.named_parameters();
  ASSERT_TRUE(params.contains("color_squashing_layer.channel_weights"));
  EXPECT_FALSE(params["color_squashing_layer.channel_weights"].requires_grad());
  {
    torch::NoGradGuard no_grad;
    auto grey_params = grey.named_parameters();
    for (const auto& p : grey_params) p.value().copy_(params[p.key()]);
  }
  squashing.eval();
  grey.eval();
  at::Tensor x = torch::randn({2, 2, 12, 7, 6});
  at::Tensor manual = 0.3 * x.narrow(1, 0, 1) + 0.7 * x.narrow(1, 1, 1);
  EXPECT_TRUE(torch::allclose(squashing.forward(x), grey.forward(manual), 1e-5, 1e-6));
  nlohmann::json bad = {{"channels", {2, 4}}, {"temporal_kernel_sizes", {5}}, {"spatial_kernel_sizes", {3}},
                        {"color_squashing_weights", {0.5, 0.5}}};
  EXPECT_THROW(fovea::nn::SimpleCoreWrapperOptions::from_json(bad), fovea::Error);
}
