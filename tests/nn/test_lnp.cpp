// Unit tests of openretina's LNP models: DummyCore, LNPReadout / MultipleLNPReadout
// and the single-cell separated LNP model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "fovea/error.h"
#include "fovea/nn/lnp.h"
#include "fovea/nn/model_file.h"
#include "test_util.h"

using fovea::nn::DummyCore;
using fovea::nn::Json;
using fovea::nn::LNPReadout;
using fovea::nn::LNPReadoutOptions;
using fovea::nn::MultipleLNPReadout;
using fovea::nn::SingleCellSeparatedLNP;
using fovea::nn::SingleCellSeparatedLNPOptions;

namespace {

std::set<std::string> keys_of(const torch::nn::Module& m) {
  std::set<std::string> keys;
  for (const auto& p : m.named_parameters()) keys.insert(p.key());
  for (const auto& b : m.named_buffers()) keys.insert(b.key());
  return keys;
}

// The plus-shaped 3x3 kernel and its "same"-padded Laplace, worked out by hand:
// corners −2, edges 2, centre 4 → Σ(Laplace)² = 48; Σk² = 8.
at::Tensor plus_kernel() { return torch::tensor({{0.f, 1.f, 0.f}, {1.f, 2.f, 1.f}, {0.f, 1.f, 0.f}}); }
constexpr double kPlusLaplaceL2norm = 48.0 / (8.0 + 1e-6);

}  // namespace

TEST(DummyCore, PassesThroughAfterCuttingFrames) {
  at::Tensor x = torch::randn({2, 3, 7, 4, 5});
  DummyCore identity;
  EXPECT_TRUE(torch::equal(identity.forward(x), x));
  EXPECT_EQ(identity.regularizer().item<double>(), 0.0);
  EXPECT_TRUE(keys_of(identity).empty());
  DummyCore cut(3);
  EXPECT_TRUE(torch::equal(cut.forward(x), x.slice(2, 3)));
  EXPECT_EQ(cut.output_shape({3, 7, 4, 5}), (std::vector<int64_t>{3, 4, 4, 5}));
  EXPECT_THROW(cut.output_shape({3, 3, 4, 5}), fovea::Error);
  EXPECT_THROW(cut.output_shape({3, 4, 5}), fovea::Error);
  EXPECT_THROW(DummyCore(-1), fovea::Error);
}

TEST(LNPReadout, KeysFollowOpenretina) {
  MultipleLNPReadout r({2, 5, 4, 3}, {{"s2", 3}, {"s1", 2}});
  std::set<std::string> expected;
  for (std::string s : {"s1", "s2"})
    for (std::string k : {"inner_product_kernel.weight", "_smooth_reg_fn.laplace.filter"}) expected.insert(s + "." + k);
  EXPECT_EQ(keys_of(r), expected);
  EXPECT_EQ(r.session("s2")->inner_product_kernel->weight.sizes(), (std::vector<int64_t>{3, 2, 1, 4, 3}));
  LNPReadoutOptions o;
  o.bias = true;
  LNPReadout b({2, 5, 4, 3}, 2, o, torch::tensor({0.5f, 1.5f}));
  EXPECT_TRUE(keys_of(b).count("inner_product_kernel.bias"));
  EXPECT_TRUE(torch::equal(b.inner_product_kernel->bias, torch::tensor({0.5f, 1.5f})));
}

TEST(LNPReadout, ForwardIsTheNonlinearityOfOneKernelPerNeuron) {
  torch::manual_seed(0);
  const int64_t B = 2, C = 2, T = 3, H = 4, W = 3, N = 2;
  for (const std::string nl : {"exp", "softplus"}) {
    LNPReadoutOptions o;
    o.nonlinearity = nl;
    LNPReadout r({C, T, H, W}, N, o);
    at::Tensor x = torch::randn({B, C, T, H, W});
    at::Tensor y = r.forward(x);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{B, T, N}));
    at::Tensor k = r.inner_product_kernel->weight.detach();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < N; ++n) {
          double drive = 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t w = 0; w < W; ++w) drive += k[n][c][0][h][w].item<double>() * x[b][c][t][h][w].item<double>();
          const double expected = nl == "exp" ? std::exp(drive) : std::log1p(std::exp(drive));
          EXPECT_NEAR(y[b][t][n].item<double>(), expected, 1e-5 * std::max(1.0, expected));
        }
  }
  LNPReadout r({C, T, H, W}, N);
  EXPECT_THROW(r.forward(torch::randn({B, C, T, H + 1, W})), c10::Error);
}

TEST(LNPReadout, XavierNormalInitialisation) {
  torch::manual_seed(1);
  LNPReadout r({4, 1, 10, 10}, 50);
  // std = sqrt(2 / (fan_in + fan_out)) with fan_in = 4·100, fan_out = 50·100.
  const double expected = std::sqrt(2.0 / (400.0 + 5000.0));
  EXPECT_NEAR(r.inner_product_kernel->weight.std().item<double>(), expected, 0.03 * expected);
}

TEST(LNPReadout, RegulariserMatchesHandComputation) {
  LNPReadoutOptions o;
  o.smooth_weight = 0.5;
  o.sparse_weight = 3.0;
  LNPReadout r({1, 2, 3, 3}, 1, o);
  {
    torch::NoGradGuard no_grad;
    r.inner_product_kernel->weight.copy_(plus_kernel().view({1, 1, 1, 3, 3}));
  }
  EXPECT_NEAR(r.laplace().item<double>(), kPlusLaplaceL2norm, 1e-5);
  EXPECT_NEAR(r.regularizer().item<double>(), 0.5 * kPlusLaplaceL2norm + 3.0 * 6.0 / 9.0, 1e-5);
  EXPECT_NEAR(r.weights_l1(false).item<double>(), 6.0, 1e-6);

  // GaussianLaplaceL2 weighs the Laplace by 1 − the normalised Gaussian of σ = 3/4:
  // 0 at the centre, 1 at the corners, 1 − (e^{−1/(2σ²)} − e^{−1/σ²}) / (1 − e^{−1/σ²}) at the edges.
  o.smooth_regularizer = "GaussianLaplaceL2";
  o.sparse_weight = 0.0;
  o.smooth_weight = 1.0;
  LNPReadout g({1, 2, 3, 3}, 1, o);
  {
    torch::NoGradGuard no_grad;
    g.inner_product_kernel->weight.copy_(plus_kernel().view({1, 1, 1, 3, 3}));
  }
  const double s2 = 0.75 * 0.75, gmin = std::exp(-1.0 / s2), edge = 1 - (std::exp(-0.5 / s2) - gmin) / (1 - gmin);
  const double gaussian_laplace = (4 * 4.0 + 4 * std::pow(2.0 * edge, 2)) / (8.0 + 1e-6);
  EXPECT_NEAR(g.regularizer().item<double>(), gaussian_laplace, 1e-5);
}

TEST(LNPReadout, GradientsReachEveryParameter) {
  torch::manual_seed(2);
  LNPReadoutOptions o;
  o.bias = true;
  o.smooth_weight = 1.0;
  o.sparse_weight = 1.0;
  MultipleLNPReadout r({2, 3, 4, 4}, {{"a", 3}}, o);
  at::Tensor loss = r.forward(torch::randn({2, 2, 3, 4, 4}), "a").sum() + r.regularizer("a");
  loss.backward();
  for (const auto& p : r.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(LNPReadout, BuildsFromSpecAndRoundTripsThroughTheModelFile) {
  torch::manual_seed(3);
  Json spec = {{"input_shape", {2, 8, 6, 5}},
               {"core", {{"type", "dummy_core"}, {"cut_first_n_frames", 3}}},
               {"readout",
                {{"type", "lnp"},
                 {"n_neurons_dict", {{"s1", 4}, {"s2", 2}}},
                 {"nonlinearity", "softplus"},
                 {"smooth_weight", 1},
                 {"sparse_weight", 1},
                 {"bias", true},
                 {"mean_activity_dict", {{"s1", {0.1, 0.2, 0.3, 0.4}}}}}}};
  auto model = fovea::nn::build_model(spec);
  model->eval();
  at::Tensor x = torch::randn({2, 2, 8, 6, 5});
  at::Tensor y = model->forward(x, "s1");
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 4}));
  EXPECT_GT(model->readout()->regularizer("s1").item<double>(), 0.0);

  fovea::test::TempDir dir;
  fovea::nn::save_model(dir.file("m.safetensors"), *model);
  auto loaded = fovea::nn::load_model(dir.file("m.safetensors"));
  std::set<std::string> keys;
  for (const auto& [k, t] : loaded->state_dict()) keys.insert(k);
  EXPECT_TRUE(keys.count("readout.s1.inner_product_kernel.weight") && keys.count("readout.s2.inner_product_kernel.bias") &&
              keys.count("readout.s2._smooth_reg_fn.laplace.filter"));
  EXPECT_TRUE(torch::equal(loaded->forward(x, "s1"), y));
  EXPECT_TRUE(torch::equal(loaded->forward(x, ""), model->forward(x, "")));
}

TEST(LNPReadout, BadSpecsAreErrors) {
  Json good = {{"input_shape", {2, 8, 6, 5}},
               {"core", {{"type", "dummy_core"}}},
               {"readout", {{"type", "lnp"}, {"n_neurons_dict", {{"s1", 4}}}}}};
  EXPECT_NO_THROW(fovea::nn::build_model(good));
  auto with = [&](const std::string& section, const std::string& key, const Json& value) {
    Json s = good;
    s[section][key] = value;
    return s;
  };
  EXPECT_THROW(fovea::nn::build_model(with("readout", "nonlinearity", "square")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("readout", "smooth_regularizer", "Laplace3d")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("readout", "smooth_weight", "lots")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("readout", "n_neurons_dict", nullptr)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("core", "cut_first_n_frames", 8)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("readout", "laplace_padding", -1)), fovea::Error);
}

// ---- SingleCellSeparatedLNP ----

TEST(SingleCellSeparatedLNP, KeysAndShapes) {
  SingleCellSeparatedLNPOptions o;
  o.rank = 2;
  o.spat_kernel_size = {5, 5};
  SingleCellSeparatedLNP m(o, {3, 10, 15, 15});
  EXPECT_EQ(keys_of(m), (std::set<std::string>{"space_conv.weight", "time_conv.weight",
                                                "_smooth_reg_fn_spat.laplace.filter", "_smooth_reg_fn_temp.filter"}));
  EXPECT_EQ(m.space_conv->weight.sizes(), (std::vector<int64_t>{2, 3, 1, 5, 5}));
  EXPECT_EQ(m.time_conv->weight.sizes(), (std::vector<int64_t>{1, 2, 10, 1, 1}));
  // openretina's test: in_shape (3, 10, 15, 15), one input of 10 frames -> batch 1, one frame, one neuron.
  EXPECT_EQ(m.forward(torch::rand({1, 3, 10, 15, 15})).sizes(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(m.forward(torch::rand({2, 3, 14, 15, 15})).sizes(), (std::vector<int64_t>{2, 5, 1}));
  EXPECT_EQ(m.sessions(), (std::vector<std::string>{""}));
  EXPECT_EQ(m.n_neurons(""), 1);

  o.nonlinearity = "parametrized_softplus";
  SingleCellSeparatedLNP p(o, {3, 10, 15, 15});
  EXPECT_TRUE(keys_of(p).count("nonlinearity.b") && keys_of(p).count("nonlinearity.w"));
}

TEST(SingleCellSeparatedLNP, ForwardCropsFiltersAndNormalises) {
  torch::manual_seed(4);
  SingleCellSeparatedLNPOptions o;
  o.rank = 2;
  o.spat_kernel_size = {3, 4};
  o.rf_location = std::array<int64_t, 2>{4, 3};
  o.nonlinearity = "softplus";
  const int64_t C = 2, Tk = 3, H = 9, W = 8;
  SingleCellSeparatedLNP m(o, {C, Tk, H, W});
  at::Tensor x = torch::randn({2, C, 5, H, W});
  at::Tensor y = m.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 1}));
  // normalize_weights (the default) leaves both kernels with unit norm.
  EXPECT_NEAR(m.space_conv->weight.norm().item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(m.time_conv->weight.norm().item<double>(), 1.0, 1e-5);
  // The patch: rows 4 − 1 .. 4 + 1 (3 rows), columns 3 − 2 .. 3 + 1 (4 columns).
  at::Tensor ws = m.space_conv->weight.detach(), wt = m.time_conv->weight.detach();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t) {
      double drive = 0.0;
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t tau = 0; tau < Tk; ++tau) {
          double spatial = 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < 3; ++h)
              for (int64_t w = 0; w < 4; ++w)
                spatial += ws[r][c][0][h][w].item<double>() * x[b][c][t + tau][3 + h][1 + w].item<double>();
          drive += wt[0][r][tau][0][0].item<double>() * spatial;
        }
      EXPECT_NEAR(y[b][t][0].item<double>(), std::log1p(std::exp(drive)), 1e-5);
    }
}

TEST(SingleCellSeparatedLNP, RegulariserMatchesHandComputation) {
  SingleCellSeparatedLNPOptions o;
  o.spat_kernel_size = {3, 3};
  o.smooth_weight_spat = 0.5;
  o.smooth_weight_temp = 2.0;
  o.sparse_weight = 3.0;
  o.normalize_weights = false;
  SingleCellSeparatedLNP m(o, {1, 4, 3, 3});
  {
    torch::NoGradGuard no_grad;
    m.space_conv->weight.copy_(plus_kernel().view({1, 1, 1, 3, 3}));
    m.time_conv->weight.copy_(torch::tensor({1.f, 2.f, 3.f, 5.f}).view({1, 1, 4, 1, 1}));
  }
  // Temporal: [-1, 2, -1] on the zero-padded [1, 2, 3, 5] = [0, 0, −1, 7] → 50 / Σw² = 50 / 39.
  const double temporal = 50.0 / (39.0 + 1e-6);
  const double sparse = 6.0 / 9.0 + 11.0 / 4.0;
  EXPECT_NEAR(m.regularizer().item<double>(), 0.5 * kPlusLaplaceL2norm + 2.0 * temporal + 3.0 * sparse, 1e-4);
}

TEST(SingleCellSeparatedLNP, GradientsReachEveryParameter) {
  torch::manual_seed(5);
  SingleCellSeparatedLNPOptions o;
  o.spat_kernel_size = {3, 3};
  o.nonlinearity = "parametrized_softplus";
  o.smooth_weight_spat = o.smooth_weight_temp = o.sparse_weight = 1.0;
  SingleCellSeparatedLNP m(o, {2, 4, 7, 7});
  at::Tensor loss = m.forward(torch::randn({2, 2, 6, 7, 7})).sum() + m.regularizer();
  loss.backward();
  for (const auto& p : m.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(SingleCellSeparatedLNP, BuildsFromSpecAndRoundTrips) {
  torch::manual_seed(6);
  Json spec = {{"input_shape", {2, 6, 11, 10}},
               {"core", {{"type", "dummy_core"}}},
               {"readout",
                {{"type", "single_cell_separated_lnp"},
                 {"in_shape", {2, 4, 11, 10}},
                 {"n_neurons_dict", {{"cell_7", 1}}},
                 {"spat_kernel_size", {5, 5}},
                 {"rf_location", {4, 6}},
                 {"rank", 1},
                 {"nonlinearity", "parametrized_softplus"},
                 {"smooth_weight_spat", 1.0},
                 {"smooth_weight_temp", 1.0},
                 {"sparse_weight", 1.0},
                 {"smooth_regularizer_spat", "LaplaceL2norm"},
                 {"smooth_regularizer_temp", "Laplace1d"},
                 {"laplace_padding", nullptr},
                 {"fit_gaussian", false},
                 {"normalize_weights", false}}}};
  auto model = fovea::nn::build_model(spec);
  model->eval();
  EXPECT_EQ(model->readout_keys(), (std::vector<std::string>{"cell_7"}));
  at::Tensor x = torch::randn({2, 2, 6, 11, 10});
  at::Tensor y = model->forward(x, "cell_7");
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 1}));  // 6 frames, a 4-frame temporal kernel
  EXPECT_TRUE(torch::equal(model->forward(x), y));
  EXPECT_THROW(model->forward(x, "cell_8"), fovea::Error);

  fovea::test::TempDir dir;
  fovea::nn::save_model(dir.file("m.safetensors"), *model);
  auto loaded = fovea::nn::load_model(dir.file("m.safetensors"));
  std::set<std::string> keys;
  for (const auto& [k, t] : loaded->state_dict()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"readout.space_conv.weight", "readout.time_conv.weight",
                                         "readout._smooth_reg_fn_spat.laplace.filter", "readout._smooth_reg_fn_temp.filter",
                                         "readout.nonlinearity.b", "readout.nonlinearity.w"}));
  EXPECT_TRUE(torch::equal(loaded->forward(x, "cell_7"), y));
}

TEST(SingleCellSeparatedLNP, BadSpecsAreErrors) {
  Json good = {{"input_shape", {2, 6, 11, 10}},
               {"core", {{"type", "dummy_core"}}},
               {"readout", {{"type", "single_cell_separated_lnp"}, {"spat_kernel_size", {5, 5}}}}};
  EXPECT_NO_THROW(fovea::nn::build_model(good));
  auto with = [&](const std::string& key, const Json& value) {
    Json s = good;
    s["readout"][key] = value;
    return s;
  };
  EXPECT_THROW(fovea::nn::build_model(with("fit_gaussian", true)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("rf_location", {1, 1})), fovea::Error);   // patch leaves the frame
  EXPECT_THROW(fovea::nn::build_model(with("rf_location", {5})), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("spat_kernel_size", {12, 5})), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("n_neurons_dict", {{"a", 2}})), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("in_shape", {3, 4, 11, 10})), fovea::Error);  // channels differ
  EXPECT_THROW(fovea::nn::build_model(with("rank", 0)), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("smooth_regularizer_temp", "LaplaceL2norm")), fovea::Error);
  EXPECT_THROW(fovea::nn::build_model(with("nonlinearity", "cube")), fovea::Error);
}

TEST(LNPReadout, TemporalKernelFiltersTheLastFramesOfEachPosition) {
  // fovea's fix of "LNP has no temporal filter": with temporal_kernel_size k,
  // output frame t is f(Σ_{c,τ,h,w} W[n,c,τ,h,w] x[c,t+τ,h,w] + b): a causal
  // space-time filter over the k frames up to t + k − 1.
  torch::manual_seed(5);
  LNPReadoutOptions o;
  o.temporal_kernel_size = 4;
  o.nonlinearity = "softplus";
  o.bias = true;
  LNPReadout readout({2, 10, 3, 5}, 3, o);
  at::Tensor x = torch::randn({2, 2, 10, 3, 5});
  at::Tensor y = readout.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 7, 3}));
  const at::Tensor& w = readout.inner_product_kernel->weight;
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{3, 2, 4, 3, 5}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 7; ++t)
      for (int64_t n = 0; n < 3; ++n) {
        const double drive = (w[n] * x[b].narrow(1, t, 4)).sum().item<double>() +
                             readout.inner_product_kernel->bias[n].item<double>();
        EXPECT_NEAR(y[b][t][n].item<double>(), std::log1p(std::exp(drive)), 1e-4);
      }
  // The smoothness term treats every (channel, frame) slice as one image.
  EXPECT_GT(readout.laplace().item<double>(), 0.0);
  o.temporal_kernel_size = 0;
  EXPECT_THROW(LNPReadout({2, 10, 3, 5}, 3, o), fovea::Error);
}
