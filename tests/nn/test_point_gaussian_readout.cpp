// Unit tests of openretina's point Gaussian readout (PointGaussianReadout through MultiSampledGaussianReadout).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "fovea/error.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/point_gaussian_readout.h"
#include "test_util.h"

using fovea::nn::Json;
using fovea::nn::MultiSampledGaussianReadout;
using fovea::nn::PointGaussianReadout;
using fovea::nn::PointGaussianReadoutOptions;

namespace {

// Bilinear interpolation of img (H, W) at grid coordinates (gx along the
// width, gy along the height) in [-1, 1] with align_corners=True, written out.
double bilinear(const at::Tensor& img, double gx, double gy) {
  const int64_t H = img.size(0), W = img.size(1);
  const double ix = (gx + 1) / 2 * (W - 1), iy = (gy + 1) / 2 * (H - 1);
  const int64_t x0 = static_cast<int64_t>(std::floor(ix)), y0 = static_cast<int64_t>(std::floor(iy));
  const double wx = ix - x0, wy = iy - y0;
  auto at = [&](int64_t y, int64_t x) {
    return (y < 0 || y >= H || x < 0 || x >= W) ? 0.0 : img[y][x].item<double>();
  };
  return (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1)) + wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1));
}

double softplus(double v) { return std::log1p(std::exp(v)); }

}  // namespace

TEST(PointGaussianReadout, KeysAndShapesFollowOpenretina) {
  MultiSampledGaussianReadout r({3, 4, 5, 6}, {{"b", 2}, {"a", 4}});
  std::set<std::string> keys;
  for (const auto& p : r.named_parameters()) keys.insert(p.key());
  std::set<std::string> expected;
  for (std::string s : {"a", "b"})
    for (std::string k : {"_mu", "sigma", "_features", "bias"}) expected.insert(s + "." + k);
  EXPECT_EQ(keys, expected);
  EXPECT_TRUE(r.named_buffers().is_empty());
  auto a = r.session("a");
  EXPECT_EQ(a->_mu.sizes(), (std::vector<int64_t>{1, 4, 1, 2}));
  EXPECT_EQ(a->sigma.sizes(), (std::vector<int64_t>{1, 4, 2, 2}));
  EXPECT_EQ(a->_features.sizes(), (std::vector<int64_t>{1, 3, 1, 4}));
  EXPECT_TRUE(torch::allclose(a->_features, torch::full({1, 3, 1, 4}, 1.0 / 3)));
  EXPECT_LE(a->_mu.abs().max().item<double>(), 0.1);
  EXPECT_TRUE(torch::equal(a->bias, torch::zeros({4})));

  PointGaussianReadoutOptions o;
  o.bias = false;
  o.gauss_type = "uncorrelated";
  o.init_sigma_range = 0.15;
  PointGaussianReadout u({3, 4, 5, 6}, 2, o);
  keys.clear();
  for (const auto& p : u.named_parameters()) keys.insert(p.key());
  EXPECT_EQ(keys, (std::set<std::string>{"_mu", "sigma", "_features"}));  // no bias key, as openretina's None
  EXPECT_TRUE(torch::equal(u.sigma, torch::full({1, 2, 1, 2}, 0.15f)));
  o.gauss_type = "isotropic";
  EXPECT_EQ(PointGaussianReadout({3, 4, 5, 6}, 2, o).sigma.sizes(), (std::vector<int64_t>{1, 2, 1, 1}));
}

TEST(PointGaussianReadout, EvalReadsTheMeanPositionBilinearly) {
  torch::manual_seed(0);
  const int64_t B = 2, C = 2, T = 3, H = 4, W = 5;
  PointGaussianReadout r({C, T, H, W}, 2, {}, torch::tensor({0.1f, -0.2f}));
  {
    torch::NoGradGuard no_grad;
    // Neuron 0 at x = 0.25 (column 2.5), y = −0.5 (row 0.75); neuron 1 at a grid point (column 4, row 0).
    r._mu.copy_(torch::tensor({0.25f, -0.5f, 1.0f, -1.0f}).view({1, 2, 1, 2}));
    r._features.copy_(torch::tensor({0.7f, -0.3f, 1.5f, 0.4f}).view({1, C, 1, 2}));
    r.sigma.fill_(0.3);  // ignored in eval
  }
  r.eval();
  at::Tensor x = torch::randn({B, C, T, H, W});
  at::Tensor y = r.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{B, T, 2}));
  const double pos[2][2] = {{0.25, -0.5}, {1.0, -1.0}};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < 2; ++n) {
        double drive = r.bias[n].item<double>();
        for (int64_t c = 0; c < C; ++c)
          drive += r._features[0][c][0][n].item<double>() * bilinear(x[b][c][t], pos[n][0], pos[n][1]);
        EXPECT_NEAR(y[b][t][n].item<double>(), softplus(drive), 1e-5) << b << " " << t << " " << n;
      }
  // The same frames give the same outputs again: eval does not sample.
  EXPECT_TRUE(torch::equal(r.forward(x), y));
}

TEST(PointGaussianReadout, TrainingSamplesClampedPositionsAroundTheMean) {
  torch::manual_seed(1);
  PointGaussianReadoutOptions o;
  o.init_sigma_range = 0.5;
  PointGaussianReadout r({2, 1, 6, 6}, 3, o);
  {
    torch::NoGradGuard no_grad;
    r._mu.copy_(torch::tensor({0.2f, -0.1f, 0.95f, 0.0f, 1.7f, -0.4f}).view({1, 3, 1, 2}));
  }
  torch::manual_seed(7);
  at::Tensor grid = r.sample_grid(4, /*sample=*/true);
  // The stored mean is clamped to [-1, 1] in place, as openretina does.
  EXPECT_FLOAT_EQ(r._mu[0][2][0][0].item<float>(), 1.0f);
  torch::manual_seed(7);
  at::Tensor z = torch::randn({4, 3, 1, 2});
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t c = 0; c < 2; ++c) {
        double v = r._mu[0][n][0][c].item<double>();
        for (int64_t d = 0; d < 2; ++d) v += r.sigma[0][n][c][d].item<double>() * z[b][n][0][d].item<double>();
        EXPECT_NEAR(grid[b][n][0][c].item<double>(), std::clamp(v, -1.0, 1.0), 1e-6);
      }
  // Without sampling the positions are the (clamped) means.
  EXPECT_TRUE(torch::equal(r.sample_grid(2, false), r._mu.expand({2, 3, 1, 2})));

  // In training mode the responses vary between calls; in eval they do not.
  at::Tensor x = torch::randn({2, 2, 3, 6, 6});
  r.train();
  EXPECT_FALSE(torch::allclose(r.forward(x), r.forward(x)));
  r.eval();
  EXPECT_TRUE(torch::equal(r.forward(x), r.forward(x)));
  // A zero sigma makes training equal eval.
  {
    torch::NoGradGuard no_grad;
    r.sigma.zero_();
  }
  at::Tensor eval_out = r.forward(x);
  r.train();
  EXPECT_TRUE(torch::allclose(r.forward(x), eval_out, 1e-6, 1e-7));
}

TEST(PointGaussianReadout, BatchSampleFalseSharesOnePositionAcrossFrames) {
  torch::manual_seed(2);
  at::Tensor frame = torch::randn({1, 2, 1, 5, 5});
  at::Tensor x = frame.expand({3, 2, 4, 5, 5}).contiguous();  // 12 identical frames
  PointGaussianReadoutOptions o;
  o.init_sigma_range = 0.5;
  o.batch_sample = false;
  PointGaussianReadout shared({2, 4, 5, 5}, 2, o);
  shared.train();
  at::Tensor y = shared.forward(x);
  EXPECT_TRUE(torch::allclose(y, y[0][0].expand_as(y)));
  o.batch_sample = true;
  PointGaussianReadout own({2, 4, 5, 5}, 2, o);
  own.train();
  at::Tensor y2 = own.forward(x);
  EXPECT_FALSE(torch::allclose(y2, y2[0][0].expand_as(y2)));
}

TEST(PointGaussianReadout, RegulariserIsTheWeightedFeatureL1) {
  PointGaussianReadoutOptions o;
  o.gamma = 0.4;
  PointGaussianReadout r({2, 1, 4, 4}, 3, o);
  {
    torch::NoGradGuard no_grad;
    r._features.copy_(torch::tensor({0.5f, -1.0f, 0.0f, 2.0f, -0.25f, 0.25f}).view({1, 2, 1, 3}));
  }
  EXPECT_NEAR(r.regularizer().item<double>(), 0.4 * 4.0, 1e-6);
  o.reg_avg = true;
  PointGaussianReadout avg({2, 1, 4, 4}, 3, o);
  {
    torch::NoGradGuard no_grad;
    avg._features.copy_(r._features);
  }
  EXPECT_NEAR(avg.regularizer().item<double>(), 0.4 * 4.0 / 6, 1e-6);
}

TEST(PointGaussianReadout, GradientsReachEveryParameterInTraining) {
  torch::manual_seed(3);
  PointGaussianReadoutOptions o;
  o.init_sigma_range = 0.15;
  MultiSampledGaussianReadout r({3, 2, 6, 5}, {{"a", 4}}, o);
  r.train();
  at::Tensor loss = r.forward(torch::randn({2, 3, 2, 6, 5}), "a").sum() + r.regularizer("a");
  loss.backward();
  for (const auto& p : r.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(PointGaussianReadout, BuildsFromSpecAndRoundTripsThroughTheModelFile) {
  torch::manual_seed(4);
  Json spec = {{"input_shape", {3, 5, 7, 6}},
               {"core", {{"type", "dummy_core"}}},
               {"readout",
                {{"type", "point_gaussian"},
                 {"n_neurons_dict", {{"s1", 3}, {"s2", 2}}},
                 {"bias", true},
                 {"gamma", 0.4},
                 {"init_mu_range", 0.1},
                 {"init_sigma_range", 0.15},
                 {"reg_avg", false},
                 {"batch_sample", true},
                 {"align_corners", true},
                 {"gauss_type", "full"},
                 {"grid_mean_predictor", nullptr},
                 {"shared_features", nullptr},
                 {"init_grid", nullptr},
                 {"shared_grid", nullptr},
                 {"mean_activity_dict", {{"s1", {1.0, 2.0, 3.0}}}}}}};
  auto model = fovea::nn::build_model(spec);
  auto readout = std::dynamic_pointer_cast<MultiSampledGaussianReadout>(model->readout());
  ASSERT_TRUE(readout);
  EXPECT_TRUE(torch::equal(readout->session("s1")->bias, torch::tensor({1.0f, 2.0f, 3.0f})));
  EXPECT_LE(readout->session("s2")->sigma.abs().max().item<double>(), 0.15);
  model->eval();
  at::Tensor x = torch::randn({2, 3, 5, 7, 6});
  at::Tensor y = model->forward(x, "s2");
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 2}));
  EXPECT_GT(y.min().item<float>(), 0.0f);  // softplus

  fovea::test::TempDir dir;
  fovea::nn::save_model(dir.file("m.safetensors"), *model);
  auto loaded = fovea::nn::load_model(dir.file("m.safetensors"));
  std::set<std::string> keys;
  for (const auto& [k, t] : loaded->state_dict()) keys.insert(k);
  EXPECT_TRUE(keys.count("readout.s1._mu") && keys.count("readout.s2.sigma") && keys.count("readout.s1._features") &&
              keys.count("readout.s2.bias"));
  EXPECT_TRUE(torch::equal(loaded->forward(x, "s2"), y));
  EXPECT_TRUE(torch::equal(loaded->forward(x, ""), model->forward(x, "")));
}

TEST(PointGaussianReadout, BadSpecsAreErrors) {
  Json good = {{"input_shape", {3, 5, 7, 6}},
               {"core", {{"type", "dummy_core"}}},
               {"readout", {{"type", "point_gaussian"}, {"n_neurons_dict", {{"s1", 3}}}}}};
  EXPECT_NO_THROW(fovea::nn::build_model(good));
  auto with = [&](const std::string& key, const Json& value) {
    Json s = good;
    s["readout"][key] = value;
    return s;
  };
  EXPECT_THROW(fovea::nn::build_model(with("init_mu_range", 0.0)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("init_mu_range", 1.5)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("init_sigma_range", -0.1)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("gauss_type", "iso")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("shared_features", {{"match_ids", {0, 1, 1}}})), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("nonlinearity_function", "swirl")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("n_neurons_dict", {{"s1", 0}})), fovea::Error);
  // A function kept as plain data by the checkpoint reader names the nonlinearity.
  auto exp_model = fovea::nn::build_model(with("nonlinearity_function", {{"__class__", "torch.exp"}}));
  auto r = std::dynamic_pointer_cast<MultiSampledGaussianReadout>(exp_model->readout());
  EXPECT_EQ(r->session("s1")->options().nonlinearity, "exp");
}
