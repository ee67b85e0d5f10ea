// Unit tests of openretina's Gaussian mask readout. (The Poisson loss lives in
// fovea_train, which test_nn does not link: its unit tests are in
// tests/parity/test_retina_readout_parity.cpp.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "fovea/error.h"
#include "fovea/nn/gaussian_mask_readout.h"

using fovea::nn::GaussianMaskReadout;
using fovea::nn::GaussianMaskReadoutOptions;
using fovea::nn::MultiGaussianMaskReadout;

namespace {

GaussianMaskReadoutOptions default_options() {
  GaussianMaskReadoutOptions o;
  o.scale = true;
  o.positive = true;
  o.gaussian_mean_scale = 6.0;
  o.gaussian_var_scale = 4.0;
  return o;
}

}  // namespace

TEST(GaussianMaskReadout, GridSpansTheCoreOutputAsOpenretina) {
  at::Tensor g = GaussianMaskReadout::make_mask_grid(3, 8, 6);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{3, 8, 6, 2}));
  // Rows: linspace(-1, 1, 8); columns: linspace(-0.75, 0.75, 6) (m = max(8, 6)).
  EXPECT_TRUE(torch::allclose(g[1].select(-1, 0).select(1, 2), torch::linspace(-1, 1, 8)));
  EXPECT_TRUE(torch::allclose(g[2].select(-1, 1)[5], torch::linspace(-0.75, 0.75, 6)));
}

TEST(GaussianMaskReadout, MasksSumToOnePerNeuron) {
  torch::manual_seed(0);
  GaussianMaskReadout r({4, 10, 8, 6}, 5, default_options());
  {
    torch::NoGradGuard no_grad;
    r.mask_mean.uniform_(-0.3, 0.3);
    r.mask_log_var.uniform_(-1.0, 0.5);
  }
  at::Tensor m = r.get_mask();
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{5, 8, 6}));
  EXPECT_TRUE(torch::allclose(m.sum({1, 2}), torch::ones({5}), 1e-5, 1e-6));
  EXPECT_GE(m.min().item<float>(), 0.0f);
  // A mask centred at the origin with a small variance peaks in the middle of the grid.
  {
    torch::NoGradGuard no_grad;
    r.mask_mean.zero_();
    r.mask_log_var.fill_(-1.0);
  }
  at::Tensor centred = r.get_mask()[0];
  const int64_t argmax = centred.flatten().argmax().item<int64_t>();
  EXPECT_TRUE(argmax / 6 == 3 || argmax / 6 == 4) << argmax;
  EXPECT_TRUE(argmax % 6 == 2 || argmax % 6 == 3) << argmax;
}

TEST(GaussianMaskReadout, ForwardShapeAndFormula) {
  torch::manual_seed(1);
  const int64_t B = 2, C = 3, T = 4, H = 5, W = 4, N = 6;
  GaussianMaskReadout r({C, T, H, W}, N, default_options());
  {
    torch::NoGradGuard no_grad;
    r.mask_mean.uniform_(-0.2, 0.2);
    r.mask_log_var.uniform_(-0.5, 0.2);
    r.bias.uniform_(-0.5, 0.5);
  }
  at::Tensor x = torch::randn({B, C, T, H, W});
  at::Tensor y = r.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{B, T, N}));
  // openretina's own formulation: einsum over space, then the channel weights.
  at::Tensor masks = r.get_mask().permute({1, 2, 0});
  at::Tensor ref = torch::einsum("bcthw,hwn->bctn", {x, masks});
  ref = (ref * r.features).sum(1);
  ref = torch::softplus(ref * r.scale_param + r.bias);
  EXPECT_TRUE(torch::allclose(y, ref, 1e-5, 1e-6));
  EXPECT_THROW(r.forward(torch::randn({B, C, T, H + 1, W})), c10::Error);
}

TEST(GaussianMaskReadout, PositiveClampsTheFeaturesInPlaceOnForward) {
  torch::manual_seed(2);
  GaussianMaskReadout r({3, 4, 5, 4}, 4, default_options());
  {
    torch::NoGradGuard no_grad;
    r.features.fill_(0.5);
    r.features.index_put_({0, 1, 0, 2}, -1.0);
  }
  r.eval();  // openretina clamps in eval mode too
  (void)r.forward(torch::randn({1, 3, 4, 5, 4}));
  EXPECT_FLOAT_EQ(r.features[0][1][0][2].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(r.features[0][0][0][0].item<float>(), 0.5f);

  auto opts = default_options();
  opts.positive = false;
  GaussianMaskReadout free_readout({3, 4, 5, 4}, 4, opts);
  {
    torch::NoGradGuard no_grad;
    free_readout.features.fill_(-1.0);
  }
  (void)free_readout.forward(torch::randn({1, 3, 4, 5, 4}));
  EXPECT_FLOAT_EQ(free_readout.features.max().item<float>(), -1.0f);
}

TEST(GaussianMaskReadout, RegularizerIsTheSumReducedL1) {
  auto opts = default_options();
  opts.mask_l1_reg = 0.5;
  opts.feature_weights_l1_reg = 2.0;
  GaussianMaskReadout r({3, 4, 5, 4}, 2, opts);
  {
    torch::NoGradGuard no_grad;
    r.mask_mean.copy_(torch::tensor({{0.1f, -0.2f}, {0.0f, 0.3f}}));
    r.mask_log_var.copy_(torch::tensor({0.0f, -0.25f}));
    r.features.fill_(-0.5);
  }
  // mask: e^0 + e^{-1} + 36·(0.01 + 0.04 + 0 + 0.09); features: 6 · 0.5.
  const double mask = 1.0 + std::exp(-1.0) + 36.0 * 0.14;
  const double feat = 6 * 0.5;
  EXPECT_NEAR(r.regularizer().item<double>(), 0.5 * mask + 2.0 * feat, 1e-4);
  EXPECT_NEAR(r.mask_l1(/*average=*/true).item<double>(), (1.0 + std::exp(-1.0)) / 2 + 36.0 * 0.14 / 4, 1e-5);
}

TEST(GaussianMaskReadout, BiasFromMeanActivityAndBuffersWithoutScaleOrBias) {
  GaussianMaskReadout r({2, 3, 4, 4}, 3, default_options(), torch::tensor({0.5f, 1.5f, 2.5f}));
  EXPECT_TRUE(torch::equal(r.bias, torch::tensor({0.5f, 1.5f, 2.5f})));
  EXPECT_THROW(GaussianMaskReadout({2, 3, 4, 4}, 3, default_options(), torch::ones({4})), fovea::Error);

  GaussianMaskReadoutOptions fixed;
  fixed.scale = false;
  fixed.bias = false;
  GaussianMaskReadout b({2, 3, 4, 4}, 3, fixed);
  std::set<std::string> params, buffers;
  for (const auto& p : b.named_parameters()) params.insert(p.key());
  for (const auto& p : b.named_buffers()) buffers.insert(p.key());
  EXPECT_EQ(params, (std::set<std::string>{"mask_mean", "mask_log_var", "features"}));
  EXPECT_EQ(buffers, (std::set<std::string>{"grid", "scale_param", "bias"}));
  EXPECT_TRUE(torch::equal(b.scale_param, torch::ones({3})));
}

TEST(MultiGaussianMaskReadout, KeysSessionsAndNeuronCounts) {
  MultiGaussianMaskReadout r({4, 5, 6, 3}, {{"session_b", 5}, {"session_a", 7}}, default_options());
  EXPECT_EQ(r.sessions(), (std::vector<std::string>{"session_a", "session_b"}));
  EXPECT_EQ(r.n_neurons("session_a"), 7);
  EXPECT_EQ(r.n_neurons("session_b"), 5);
  EXPECT_EQ(r.n_neurons(""), 12);
  std::set<std::string> keys;
  for (const auto& p : r.named_parameters()) keys.insert(p.key());
  for (const auto& p : r.named_buffers()) keys.insert(p.key());
  std::set<std::string> expected;
  for (std::string s : {"session_a", "session_b"})
    for (std::string k : {"mask_mean", "mask_log_var", "grid", "features", "scale_param", "bias"})
      expected.insert(s + "." + k);
  EXPECT_EQ(keys, expected);
}

TEST(MultiGaussianMaskReadout, EmptyDataKeyConcatenatesSessionsInSortedOrder) {
  torch::manual_seed(3);
  // Inserted out of order: the concatenation must still follow the sorted names.
  MultiGaussianMaskReadout r({4, 5, 6, 3}, {{"zeta", 2}, {"alpha", 3}, {"mid", 4}}, default_options());
  at::Tensor x = torch::randn({2, 4, 5, 6, 3});
  at::Tensor all = r.forward(x, "");
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{2, 5, 9}));
  at::Tensor expected = torch::cat({r.forward(x, "alpha"), r.forward(x, "mid"), r.forward(x, "zeta")}, -1);
  EXPECT_TRUE(torch::equal(all, expected));
  // The sessions differ (random features), so a wrong order would not match.
  EXPECT_FALSE(torch::allclose(all.narrow(-1, 0, 2), r.forward(x, "zeta")));
  EXPECT_NEAR(r.regularizer("").item<double>(),
              (r.regularizer("alpha") + r.regularizer("mid") + r.regularizer("zeta")).item<double>(), 1e-4);
}

TEST(MultiGaussianMaskReadout, UnknownSessionNamesTheKnownOnes) {
  MultiGaussianMaskReadout r({4, 5, 6, 3}, {{"session_a", 2}, {"session_b", 3}}, default_options());
  at::Tensor x = torch::randn({1, 4, 5, 6, 3});
  try {
    r.forward(x, "session_c");
    FAIL() << "expected fovea::Error";
  } catch (const fovea::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("session_c"), std::string::npos) << msg;
    EXPECT_NE(msg.find("session_a, session_b"), std::string::npos) << msg;
  }
  EXPECT_THROW(r.regularizer("nope"), fovea::Error);
  EXPECT_THROW(r.n_neurons("nope"), fovea::Error);
  EXPECT_THROW(MultiGaussianMaskReadout({4, 5, 6, 3}, {{"a.b", 2}}), fovea::Error);
  EXPECT_THROW(MultiGaussianMaskReadout({4, 5, 6, 3}, {{"a", 2}}, {}, {{"b", torch::ones({2})}}), fovea::Error);
}

TEST(MultiGaussianMaskReadout, MeanActivityInitialisesEachSessionsBias) {
  MultiGaussianMaskReadout r({4, 5, 6, 3}, {{"a", 2}, {"b", 3}}, default_options(),
                             {{"b", torch::tensor({1.0f, 2.0f, 3.0f})}});
  EXPECT_TRUE(torch::equal(r.session("a")->bias, torch::zeros({2})));
  EXPECT_TRUE(torch::equal(r.session("b")->bias, torch::tensor({1.0f, 2.0f, 3.0f})));
}
