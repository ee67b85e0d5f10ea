// Unit tests of openretina's factorized (Klindt) readout and its multi-session container.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "fovea/error.h"
#include "fovea/nn/factorized_readout.h"
#include "fovea/nn/model_file.h"
#include "test_util.h"

using fovea::nn::FactorizedReadout;
using fovea::nn::FactorizedReadoutOptions;
using fovea::nn::Json;
using fovea::nn::MultiFactorizedReadout;

namespace {

FactorizedReadoutOptions scaled_options() {
  FactorizedReadoutOptions o;
  o.mask_l1_reg = 5.0;
  o.weights_l1_reg = 5.0;
  o.laplace_mask_reg = 1.0;
  o.readout_bias = true;
  o.init_scales = {{{0.0, 0.15}, {0.0, 0.15}}};
  return o;
}

std::set<std::string> keys_of(const torch::nn::Module& m, bool parameters) {
  std::set<std::string> keys;
  if (parameters)
    for (const auto& p : m.named_parameters()) keys.insert(p.key());
  else
    for (const auto& b : m.named_buffers()) keys.insert(b.key());
  return keys;
}

// y[b,t,n] = softplus(Σ_c w[c,n] Σ_{h,w} x[b,c,t,h,w]·m[h·W+w, n] + bias[n]), in float64 loops.
at::Tensor reference_forward(const at::Tensor& x, const at::Tensor& mask, const at::Tensor& weights,
                             const at::Tensor& bias, bool softplus_and_bias) {
  auto xd = x.to(torch::kFloat64);
  auto md = mask.to(torch::kFloat64);
  auto wd = weights.to(torch::kFloat64);
  auto bd = bias.to(torch::kFloat64);
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4), N = mask.size(1);
  at::Tensor out = torch::zeros({B, T, N}, torch::kFloat64);
  auto xa = xd.accessor<double, 5>();
  auto ma = md.accessor<double, 2>();
  auto wa = wd.accessor<double, 2>();
  auto oa = out.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0.0;
        for (int64_t c = 0; c < C; ++c) {
          double spatial = 0.0;
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) spatial += xa[b][c][t][h][w] * ma[h * W + w][n];
          acc += wa[c][n] * spatial;
        }
        oa[b][t][n] = softplus_and_bias ? std::log1p(std::exp(acc + bd[n].item<double>())) : acc;
      }
  return out;
}

}  // namespace

TEST(FactorizedReadout, KeysFollowOpenretina) {
  MultiFactorizedReadout r({3, 4, 5, 4}, {{"s2", 3}, {"s1", 2}}, scaled_options());
  std::set<std::string> params, buffers;
  for (std::string s : {"s1", "s2"}) {
    for (std::string k : {"mask_weights", "feature_weights", "bias"}) params.insert(s + "." + k);
    buffers.insert(s + "._input_weights_regularizer_spatial.laplace.filter");
  }
  EXPECT_EQ(keys_of(r, true), params);
  EXPECT_EQ(keys_of(r, false), buffers);
  EXPECT_EQ(r.session("s1")->mask_weights.sizes(), (std::vector<int64_t>{20, 2}));
  EXPECT_EQ(r.session("s2")->feature_weights.sizes(), (std::vector<int64_t>{3, 3}));

  // Without readout_bias the bias is a zero buffer under the same key.
  auto o = scaled_options();
  o.readout_bias = false;
  FactorizedReadout no_bias({3, 4, 5, 4}, 2, o);
  EXPECT_EQ(keys_of(no_bias, true), (std::set<std::string>{"mask_weights", "feature_weights"}));
  EXPECT_EQ(keys_of(no_bias, false),
            (std::set<std::string>{"bias", "_input_weights_regularizer_spatial.laplace.filter"}));

  // The legacy KlindtReadoutWrapper3D names the channel weights readout_weights and always trains the bias.
  o.legacy_klindt = true;
  FactorizedReadout legacy({3, 4, 5, 4}, 2, o);
  EXPECT_EQ(keys_of(legacy, true), (std::set<std::string>{"mask_weights", "readout_weights", "bias"}));
}

TEST(FactorizedReadout, ForwardMatchesExplicitLoops) {
  torch::manual_seed(0);
  FactorizedReadout r({3, 2, 4, 3}, 2, scaled_options(), torch::tensor({0.3f, -0.4f}));
  EXPECT_TRUE(torch::equal(r.bias, torch::tensor({0.3f, -0.4f})));  // mean_activity -> bias
  at::Tensor x = torch::randn({2, 3, 2, 4, 3});
  at::Tensor y = r.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 2, 2}));
  at::Tensor ref = reference_forward(x, r.mask_weights.detach(), r.feature_weights.detach(), r.bias.detach(), true);
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat64), ref, 1e-5, 1e-6));
  EXPECT_THROW(r.forward(torch::randn({2, 3, 2, 4, 4})), c10::Error);

  // Without readout_bias the bias is not added even when it is non-zero.
  auto o = scaled_options();
  o.readout_bias = false;
  FactorizedReadout nb({3, 2, 4, 3}, 2, o, torch::tensor({5.0f, 5.0f}));
  at::Tensor ref_nb = reference_forward(x, nb.mask_weights.detach(), nb.feature_weights.detach(), torch::zeros({2}), true);
  EXPECT_TRUE(torch::allclose(nb.forward(x).to(torch::kFloat64), ref_nb, 1e-5, 1e-6));
}

TEST(FactorizedReadout, LegacyKlindtIsLinearWithoutReadoutBias) {
  torch::manual_seed(1);
  auto o = scaled_options();
  o.legacy_klindt = true;
  o.readout_bias = false;
  FactorizedReadout linear({2, 3, 3, 3}, 2, o);
  EXPECT_TRUE(torch::equal(linear.bias, torch::zeros({2})));
  at::Tensor x = torch::randn({1, 2, 3, 3, 3});
  at::Tensor ref = reference_forward(x, linear.mask_weights.detach(), linear.feature_weights.detach(), linear.bias, false);
  EXPECT_TRUE(torch::allclose(linear.forward(x).to(torch::kFloat64), ref, 1e-5, 1e-6));
  EXPECT_LT(linear.forward(x).min().item<float>(), 0.0f);  // no softplus

  o.readout_bias = true;
  FactorizedReadout with_bias({2, 3, 3, 3}, 2, o);
  EXPECT_TRUE(torch::equal(with_bias.bias, torch::full({2}, 0.5)));
  at::Tensor ref_b =
      reference_forward(x, with_bias.mask_weights.detach(), with_bias.feature_weights.detach(), with_bias.bias.detach(), true);
  EXPECT_TRUE(torch::allclose(with_bias.forward(x).to(torch::kFloat64), ref_b, 1e-5, 1e-6));
}

TEST(FactorizedReadout, ConstraintsAreAppliedToTheStoredWeightsOnForward) {
  auto o = scaled_options();
  o.weights_constraint = "absnorm";
  o.mask_constraint = "abs";
  FactorizedReadout r({2, 1, 3, 3}, 2, o);
  {
    torch::NoGradGuard no_grad;
    r.feature_weights.copy_(torch::tensor({{3.0f, -1.0f}, {-4.0f, 0.0f}}));
    r.mask_weights.fill_(-0.5);
  }
  r.eval();  // openretina constrains in eval mode too
  (void)r.forward(torch::randn({1, 2, 1, 3, 3}));
  // |w| / sqrt(Σ_c w² + 1e-5) per neuron: (3, 4)/5 and (1, 0)/1.
  const double n0 = std::sqrt(25.0 + 1e-5), n1 = std::sqrt(1.0 + 1e-5);
  at::Tensor expected = torch::tensor({{3.0 / n0, 1.0 / n1}, {4.0 / n0, 0.0}}, torch::kFloat32);
  EXPECT_TRUE(torch::allclose(r.feature_weights, expected, 1e-6, 1e-7));
  EXPECT_TRUE(torch::equal(r.mask_weights, torch::full({9, 2}, 0.5)));

  o.weights_constraint = "norm";  // keeps the sign
  o.mask_constraint = "";
  FactorizedReadout n({2, 1, 3, 3}, 1, o);
  {
    torch::NoGradGuard no_grad;
    n.feature_weights.copy_(torch::tensor({{-3.0f}, {4.0f}}));
    n.mask_weights.fill_(-0.5);
  }
  (void)n.forward(torch::randn({1, 2, 1, 3, 3}));
  EXPECT_TRUE(torch::allclose(n.feature_weights, torch::tensor({{-3.0f / 5}, {4.0f / 5}}), 1e-5, 1e-7));
  EXPECT_TRUE(torch::equal(n.mask_weights, torch::full({9, 1}, -0.5)));
}

TEST(FactorizedReadout, RegulariserMatchesHandComputation) {
  auto o = scaled_options();
  o.mask_l1_reg = 0.5;
  o.weights_l1_reg = 2.0;
  o.laplace_mask_reg = 3.0;
  FactorizedReadout r({2, 1, 3, 3}, 1, o);
  {
    torch::NoGradGuard no_grad;
    // A plus-shaped mask: Σ|m| = 6, Σm² = 8, valid 3x3 Laplace at the centre 4·2 − 4 = 4.
    r.mask_weights.copy_(torch::tensor({0.f, 1.f, 0.f, 1.f, 2.f, 1.f, 0.f, 1.f, 0.f}).view({9, 1}));
    r.feature_weights.copy_(torch::tensor({{0.5f}, {-1.5f}}));
  }
  const double laplace = 16.0 / (8.0 + 1e-6);
  EXPECT_NEAR(r.laplace_term().item<double>(), laplace, 1e-5);
  EXPECT_NEAR(r.regularizer().item<double>(), 0.5 * 6 + 2.0 * 2 + 3.0 * laplace, 1e-4);

  o.readout_reg_avg = true;  // openretina's "mean" reduction divides only the Laplace term by 3
  FactorizedReadout avg({2, 1, 3, 3}, 1, o);
  {
    torch::NoGradGuard no_grad;
    avg.mask_weights.copy_(r.mask_weights);
    avg.feature_weights.copy_(r.feature_weights);
  }
  EXPECT_NEAR(avg.regularizer().item<double>(), 0.5 * 6 + 2.0 * 2 + laplace, 1e-4);
}

TEST(FactorizedReadout, LaplaceActsOnTheRowMajorReshapeAsOpenretina) {
  // Two neurons: neuron 0 has the plus mask, neuron 1 zeros. openretina
  // reshapes the (9, 2) matrix itself to two 3x3 images: [0,0,1 / 0,0,0 / 1,0,2]
  // (centre Laplace 0) and [0,1,0 / 0,0,1 / 0,0,0] (centre Laplace −2).
  auto o = scaled_options();
  FactorizedReadout r({1, 1, 3, 3}, 2, o);
  {
    torch::NoGradGuard no_grad;
    r.mask_weights.zero_();
    r.mask_weights.select(1, 0).copy_(torch::tensor({0.f, 1.f, 0.f, 1.f, 2.f, 1.f, 0.f, 1.f, 0.f}));
  }
  EXPECT_NEAR(r.laplace_term().item<double>(), 4.0 / (8.0 + 1e-6), 1e-6);
  // The true per-neuron masks would give 16 / 8.
  EXPECT_TRUE(torch::equal(r.spatial_masks()[0], torch::tensor({{0.f, 1.f, 0.f}, {1.f, 2.f, 1.f}, {0.f, 1.f, 0.f}})));
}

TEST(FactorizedReadout, GradientsReachEveryParameter) {
  torch::manual_seed(2);
  MultiFactorizedReadout r({3, 2, 4, 4}, {{"a", 3}}, scaled_options());
  at::Tensor loss = r.forward(torch::randn({2, 3, 2, 4, 4}), "a").sum() + r.regularizer("a");
  loss.backward();
  for (const auto& p : r.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(FactorizedReadout, InitialisationFromMaskWeightsAndScales) {
  auto o = scaled_options();
  o.init_scales.reset();
  o.laplace_mask_reg = 0.0;  // the 3x2 masks below are too small for the Laplace term
  // (N=2, 1, 5, 4) cropped to the centre 3x2: rows 1..3, columns 1..2.
  o.init_mask = torch::arange(40, torch::kFloat32).view({2, 1, 5, 4});
  o.init_weights = torch::tensor({{1.f, 2.f}, {3.f, 4.f}});
  FactorizedReadout r({2, 1, 3, 2}, 2, o);
  at::Tensor expected_n0 = torch::tensor({5.f, 6.f, 9.f, 10.f, 13.f, 14.f});
  EXPECT_TRUE(torch::equal(r.mask_weights.select(1, 0), expected_n0));
  EXPECT_TRUE(torch::equal(r.mask_weights.select(1, 1), expected_n0 + 20));
  EXPECT_TRUE(torch::equal(r.feature_weights, o.init_weights));
  EXPECT_NE(r.feature_weights.data_ptr(), o.init_weights.data_ptr());  // each session owns its copy

  // Without init_scales both tensors are needed; bad shapes and names are errors.
  auto missing = o;
  missing.init_weights = at::Tensor();
  EXPECT_THROW(FactorizedReadout({2, 1, 3, 2}, 2, missing), fovea::Error);
  auto wrong_n = o;
  EXPECT_THROW(FactorizedReadout({2, 1, 3, 2}, 3, wrong_n), fovea::Error);
  auto bad = scaled_options();
  bad.weights_constraint = "positive";
  EXPECT_THROW(FactorizedReadout({2, 1, 3, 3}, 2, bad), fovea::Error);
  bad = scaled_options();
  bad.mask_constraint = "norm";
  EXPECT_THROW(FactorizedReadout({2, 1, 3, 3}, 2, bad), fovea::Error);
  // The Laplace term needs 3x3 masks.
  EXPECT_THROW(FactorizedReadout({2, 1, 2, 3}, 2, scaled_options()), fovea::Error);
  auto no_laplace = scaled_options();
  no_laplace.laplace_mask_reg = 0.0;
  FactorizedReadout small({2, 1, 2, 2}, 2, no_laplace);
  EXPECT_TRUE(torch::isfinite(small.regularizer()).item<bool>());
}

TEST(MultiFactorizedReadout, SessionsConcatenateInSortedOrder) {
  torch::manual_seed(3);
  MultiFactorizedReadout r({2, 3, 3, 3}, {{"zeta", 2}, {"alpha", 3}}, scaled_options());
  at::Tensor x = torch::randn({2, 2, 3, 3, 3});
  at::Tensor all = r.forward(x, "");
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{2, 3, 5}));
  EXPECT_TRUE(torch::equal(all, torch::cat({r.forward(x, "alpha"), r.forward(x, "zeta")}, -1)));
  EXPECT_EQ(r.n_neurons(""), 5);
  EXPECT_NEAR(r.regularizer("").item<double>(), (r.regularizer("alpha") + r.regularizer("zeta")).item<double>(), 1e-4);
  EXPECT_THROW(r.forward(x, "beta"), fovea::Error);
}

TEST(FactorizedReadout, BuildsFromSpecAndRoundTripsThroughTheModelFile) {
  torch::manual_seed(4);
  for (const std::string type : {"factorized", "klindt"}) {
    Json spec = {{"input_shape", {2, 6, 5, 4}},
                 {"core", {{"type", "dummy_core"}, {"cut_first_n_frames", 2}}},
                 {"readout",
                  {{"type", type},
                   {"n_neurons_dict", {{"s1", 3}, {"s2", 2}}},
                   {"mask_l1_reg", 5.0},
                   {"weights_l1_reg", 5.0},
                   {"laplace_mask_reg", 1.0},
                   {"readout_bias", true},
                   {"weights_constraint", nullptr},
                   {"mask_constraint", nullptr},
                   {"init_mask", nullptr},
                   {"init_weights", nullptr},
                   {"init_scales", {{0.0, 0.15}, {0.0, 0.15}}},
                   {"mean_activity_dict", {{"s2", {0.25, 0.75}}}}}}};
    auto model = fovea::nn::build_model(spec);
    model->eval();
    auto readout = std::dynamic_pointer_cast<MultiFactorizedReadout>(model->readout());
    ASSERT_TRUE(readout);
    EXPECT_EQ(readout->session("s1")->mask_weights.sizes(), (std::vector<int64_t>{20, 3}));
    if (type == "factorized") {
      EXPECT_TRUE(torch::equal(readout->session("s2")->bias, torch::tensor({0.25f, 0.75f})));
    }
    at::Tensor x = torch::randn({2, 2, 6, 5, 4});
    at::Tensor y = model->forward(x, "s1");
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 4, 3}));  // 6 frames − 2 cut

    fovea::test::TempDir dir;
    fovea::nn::save_model(dir.file("m.safetensors"), *model);
    auto loaded = fovea::nn::load_model(dir.file("m.safetensors"));
    const std::string weights = type == "factorized" ? "feature_weights" : "readout_weights";
    std::set<std::string> keys;
    for (const auto& [k, t] : loaded->state_dict()) keys.insert(k);
    EXPECT_TRUE(keys.count("readout.s1.mask_weights") && keys.count("readout.s2." + weights) &&
                keys.count("readout.s1._input_weights_regularizer_spatial.laplace.filter"));
    EXPECT_TRUE(torch::equal(loaded->forward(x, "s1"), y));
    EXPECT_TRUE(torch::equal(loaded->forward(x, ""), model->forward(x, "")));
  }
}

TEST(FactorizedReadout, BadSpecsAreErrors) {
  Json good = {{"input_shape", {2, 6, 5, 4}},
               {"core", {{"type", "dummy_core"}}},
               {"readout",
                {{"type", "factorized"},
                 {"n_neurons_dict", {{"s1", 3}}},
                 {"mask_l1_reg", 1.0},
                 {"weights_l1_reg", 1.0},
                 {"laplace_mask_reg", 1.0},
                 {"init_scales", {{0.0, 0.1}, {0.0, 0.1}}}}}};
  EXPECT_NO_THROW(fovea::nn::build_model(good));
  auto with = [&](const std::string& key, const Json& value) {
    Json s = good;
    if (value.is_null())
      s["readout"].erase(key);
    else
      s["readout"][key] = value;
    return s;
  };
  EXPECT_THROW(fovea::nn::build_model(with("n_neurons_dict", nullptr)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("init_scales", nullptr)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("init_scales", {0.0, 0.1})), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("weights_constraint", "positive")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("mask_l1_reg", "strong")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("init_mask", {{1, 2}, {3}})), fovea::Error);  // ragged
  EXPECT_THROW(fovea::nn::build_model(with("mean_activity_dict", {{"s9", {1.0}}})), fovea::Error);
  Json flat_core = good;
  flat_core["input_shape"] = {2, 5, 4};  // no time axis
  EXPECT_THROW(fovea::nn::build_model(flat_core), fovea::Error);
}
