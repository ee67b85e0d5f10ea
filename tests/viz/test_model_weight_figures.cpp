// openretina's weight figures: the numbers each panel shows (the
// centre-positive flip, the layer- and session-wide limits), that drawing
// leaves the model untouched, a figure for every readout type, the file
// names of both folder layouts, the errors of the one-call API, and the
// highlighted frames of the stimulus-composition figure.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "data/temp_dir.h"
#include "fovea/error.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/legacy_core.h"
#include "fovea/nn/retina_core.h"
#include "fovea/viz/model_weights.h"
#include "fovea/viz/seed_api.h"
#include "fovea/viz/stimulus_figures.h"
#include "fovea/viz/weight_figures.h"
#include "insilico/small_models.h"
#include "legacy_model_spec.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace fovea::viz;
using fovea::nn::Json;
using fovea::testing::TempDir;

namespace {

std::vector<double> values(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kDouble).contiguous().reshape({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

void expect_near(const std::vector<double>& a, const at::Tensor& b, const std::string& what) {
  const auto expected = values(b);
  ASSERT_EQ(a.size(), expected.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], expected[i], 1e-6) << what << " [" << i << "]";
}

// Every parameter and buffer, cloned.
std::map<std::string, at::Tensor> snapshot(const fovea::nn::Model& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, t] : model.state_dict()) out[k] = t.detach().clone();
  return out;
}
void expect_unchanged(const fovea::nn::Model& model, const std::map<std::string, at::Tensor>& before) {
  for (const auto& [k, t] : model.state_dict()) EXPECT_TRUE(torch::equal(t, before.at(k))) << k << " changed";
}

// An 11×11 kernel whose centre pixel is positive and whose total is positive,
// but whose centre window (rows and columns 2..6) has a negative mean: only
// openretina's window rule flips it.
at::Tensor window_negative_kernel() {
  at::Tensor k = torch::full({11, 11}, 3.0);
  k.slice(0, 2, 7).slice(1, 2, 7).fill_(-1.0);
  k[5][5] = 5.0;
  return k;
}

std::shared_ptr<fovea::nn::Model> build(const Json& spec) {
  auto model = fovea::nn::build_model(spec);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.3);
  model->eval();
  return model;
}

Json retina_spec(const std::string& conv_type) {
  return {{"core",
           {{"type", "simple_core_wrapper"},
            {"channels", {2, 3}},
            {"temporal_kernel_sizes", {5}},
            {"spatial_kernel_sizes", {5}},
            {"convolution_type", conv_type},
            {"cut_first_n_frames", 0}}},
          {"readout", {{"type", "gaussian_mask"}, {"n_neurons_dict", {{"s1", 2}}}}},
          {"input_shape", {2, 10, 9, 8}}};
}

Json legacy_spec() { return fovea::test::legacy_model_spec({3, 4}); }

}  // namespace

// ---- the centre-positive flip and the layer-wide limits ----

TEST(SeparableChannelFigure, CentreRuleUsesOpenretinasWindow) {
  EXPECT_TRUE(spatial_center_negative(window_negative_kernel()));
  EXPECT_FALSE(spatial_center_negative(-window_negative_kernel()));
  // Rows and columns 7..8 lie outside the 11×11 window [2:7, 2:7]: negative there does not flip.
  at::Tensor k = torch::ones({11, 11});
  k.slice(0, 7, 11).fill_(-100.0);
  k.slice(1, 7, 11).fill_(-100.0);
  EXPECT_FALSE(spatial_center_negative(k));
  // 5×5: the window is [0:4, 0:4]; the last row and column do not count.
  at::Tensor small = torch::full({5, 5}, -10.0);
  small.slice(0, 0, 4).slice(1, 0, 4).fill_(1.0);
  EXPECT_FALSE(spatial_center_negative(small));
  EXPECT_TRUE(spatial_center_negative(-small));
  EXPECT_FALSE(spatial_center_negative(torch::ones({1, 1})));
  EXPECT_TRUE(spatial_center_negative(-torch::ones({1, 1})));
}

TEST(SeparableChannelFigure, NegativeCentreIsDrawnFlippedWithLayerWideLimits) {
  torch::manual_seed(1);
  const int64_t O = 2, I = 3;
  at::Tensor ws = torch::randn({O, I, 1, 11, 11}) * 0.1;
  ws[1][2][0] = window_negative_kernel();
  ws[0][0][0] = -window_negative_kernel();  // centre positive: not flipped
  const at::Tensor temporal = torch::randn({O, I, 9});
  const at::Tensor sin_w = torch::randn({O, I, 3}), cos_w = torch::randn({O, I, 3}) * 2;

  const auto p = separable_channel_panels(ws, temporal, sin_w, cos_w, /*in=*/2, /*out=*/1);
  EXPECT_TRUE(p.flipped);
  expect_near(values(p.spatial), -ws[1][2][0], "spatial");
  expect_near(values(p.temporal), -temporal[1][2], "temporal");
  expect_near(values(p.sin_weights), -sin_w[1][2], "sin");
  expect_near(values(p.cos_weights), -cos_w[1][2], "cos");
  // Limits over the whole layer, not this kernel.
  EXPECT_DOUBLE_EQ(p.spatial_limit, 5.0);  // the 5 at the centre of the 11×11 kernels
  EXPECT_NEAR(p.temporal_limit, temporal.abs().max().item<double>(), 1e-6);
  EXPECT_NEAR(p.sin_cos_limit, 1.1 * std::max(sin_w.abs().max().item<double>(), cos_w.abs().max().item<double>()),
              1e-6);

  const auto q = separable_channel_panels(ws, temporal, sin_w, cos_w, 0, 0);
  EXPECT_FALSE(q.flipped);
  expect_near(values(q.spatial), ws[0][0][0], "unflipped spatial");
  expect_near(values(q.temporal), temporal[0][0], "unflipped temporal");

  // The figure shows exactly these numbers.
  const Figure fig = separable_channel_figure(p);
  EXPECT_EQ(fig.title(), "Weights for in_channel=2 out_channel=1");
  ASSERT_EQ(fig.panel_count(), 3u);
  const Panel& s = fig.panel(0);
  EXPECT_EQ(s.title, "Spatial Weight");
  ASSERT_TRUE(s.image.has_value());
  expect_near(s.image->data.values, -ws[1][2][0], "spatial panel");
  EXPECT_DOUBLE_EQ(*s.image->vmin, -5.0);
  EXPECT_DOUBLE_EQ(*s.image->vmax, 5.0);
  EXPECT_TRUE(s.image->colorbar);
  EXPECT_EQ(s.image->colormap, Colormap::RdBu_r);
  const Panel& t = fig.panel(1);
  EXPECT_EQ(t.title, "Temporal Weight");
  expect_near(t.lines.at(0).y, -temporal[1][2], "temporal panel");
  EXPECT_DOUBLE_EQ(t.ylim->second, p.temporal_limit);
  EXPECT_DOUBLE_EQ(t.ylim->first, -p.temporal_limit);
  const Panel& b = fig.panel(2);
  EXPECT_EQ(b.title, "Sin/Cos Weights");
  ASSERT_EQ(b.lines.size(), 2u);
  EXPECT_EQ(b.lines[0].label, "sin");
  EXPECT_EQ(b.lines[1].label, "cos");
  expect_near(b.lines[0].y, -sin_w[1][2], "sin panel");
  expect_near(b.lines[1].y, -cos_w[1][2], "cos panel");
  EXPECT_TRUE(b.legend);
  EXPECT_DOUBLE_EQ(b.ylim->second, p.sin_cos_limit);

  TempDir dir;
  fig.save(fs::path(dir.path()) / "k.png");
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "k.png"));
}

TEST(SeparableChannelFigure, ModelChannelIsFlippedButTheModelIsNotChanged) {
  auto model = fovea::testing::retina_model();
  auto core = std::dynamic_pointer_cast<fovea::nn::SimpleCoreWrapper>(model->core());
  ASSERT_TRUE(core);
  auto conv = core->layer(0)->st_conv;  // (4, 2, 1, 5, 5)
  {
    torch::NoGradGuard no_grad;
    conv->weight_spatial[3][1][0].fill_(0.1);
    conv->weight_spatial[3][1][0].slice(0, 0, 4).slice(1, 0, 4).fill_(-0.4);  // the 5×5 window is [0:4, 0:4]
  }
  const auto before = snapshot(*model);
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({1, 2, 20, 12, 10});
  const at::Tensor y = model->forward(x, "s1");

  const Figure fig = plot_weight_visualization(*model, 0, /*in=*/1, /*out=*/3);
  // Expected from the weights, computed here: the stored kernel negated, the
  // temporal kernel at the default log speed negated; limits over the layer.
  const at::Tensor ws = conv->weight_spatial.detach().to(at::kDouble);
  const at::Tensor tk = conv->temporal_kernels().detach().to(at::kDouble);
  expect_near(fig.panel(0).image->data.values, -ws[3][1][0], "spatial");
  EXPECT_NEAR(*fig.panel(0).image->vmax, ws.abs().max().item<double>(), 1e-7);
  expect_near(fig.panel(1).lines.at(0).y, -tk[3][1], "temporal");
  EXPECT_NEAR(fig.panel(1).ylim->second, tk.abs().max().item<double>(), 1e-7);
  const double sc = std::max(conv->sin_weights.abs().max().item<double>(), conv->cos_weights.abs().max().item<double>());
  EXPECT_NEAR(fig.panel(2).ylim->second, 1.1 * sc, 1e-6);
  expect_near(fig.panel(2).lines.at(0).y, -conv->sin_weights[3][1], "sin");

  TempDir dir;
  save_weight_visualizations(*model, dir.path(), "png");
  save_weight_visualizations(*model, dir.path(), WeightFigureOptions{"png", WeightLayout::legacy_ensemble, false});
  plot_weight_for_neuron(*model, "s2", 1);
  expect_unchanged(*model, before);
  EXPECT_TRUE(torch::equal(model->forward(x, "s1"), y));
}

TEST(SeparableChannelFigure, TimeIndependentLayerHasTwoPanelsAndItsOwnScale) {
  torch::manual_seed(2);
  auto model = build(retina_spec("time_independent"));
  auto conv = std::dynamic_pointer_cast<fovea::nn::SimpleCoreWrapper>(model->core())->layer(0)->time_independent_conv;
  ASSERT_TRUE(conv);
  {
    torch::NoGradGuard no_grad;
    conv->conv->weight[2][0][0].fill_(-0.2);  // negative centre window
    conv->conv->weight[2][0][0][4][4] = 0.3;
  }
  const auto before = snapshot(*model);
  const Figure fig = plot_weight_visualization(*model, 0, 0, 2);
  ASSERT_EQ(fig.panel_count(), 2u);
  EXPECT_EQ(fig.panel(0).title, "Spatial Weight");
  EXPECT_EQ(fig.panel(1).title, "No temporal filter");
  EXPECT_TRUE(fig.panel(1).lines.empty());
  const at::Tensor w = conv->conv->weight[2][0][0].detach().to(at::kDouble);
  expect_near(fig.panel(0).image->data.values, -w, "flipped kernel");
  EXPECT_NEAR(*fig.panel(0).image->vmax, w.abs().max().item<double>(), 1e-7);  // this kernel's scale, not the layer's
  EXPECT_LT(*fig.panel(0).image->vmax, conv->conv->weight.abs().max().item<double>());
  expect_unchanged(*model, before);
}

TEST(SeparableChannelFigure, OtherConvTypesDrawToo) {
  for (const std::string type : {"separable", "full"}) {
    auto model = build(retina_spec(type));
    const Figure fig = plot_weight_visualization(*model, 0, 1, 2);
    ASSERT_EQ(fig.panel_count(), 2u) << type;
    EXPECT_EQ(fig.panel(1).title, "Temporal Weight") << type;
    EXPECT_EQ(fig.panel(1).lines.at(0).y.size(), 5u) << type;
    TempDir dir;
    int64_t drawn = 0;
    save_weight_visualizations(*model, dir.path(), "png", [&] { ++drawn; });
    EXPECT_EQ(drawn, count_weight_figures(*model)) << type;
  }
}

// ---- readouts ----

TEST(ReadoutFigure, GaussianMaskNeuronUsesSessionWideLimits) {
  auto model = fovea::testing::retina_model();
  auto readout = std::dynamic_pointer_cast<fovea::nn::MultiGaussianMaskReadout>(model->readout())->session("s1");
  {
    torch::NoGradGuard no_grad;
    readout->features.normal_(0.0, 0.5);
    readout->mask_log_var.uniform_(-1.0, 1.0);
  }
  const Figure fig = plot_weight_for_neuron(*model, "s1", 2);
  ASSERT_EQ(fig.panel_count(), 2u);
  EXPECT_EQ(fig.title(), "");
  const Panel& m = fig.panel(0);
  EXPECT_EQ(m.title, "Readout Mask");
  const at::Tensor masks = readout->get_mask().detach().to(at::kDouble);
  expect_near(m.image->data.values, masks[2], "mask");
  EXPECT_NEAR(*m.image->vmax, masks.abs().max().item<double>(), 1e-9);
  EXPECT_NEAR(*m.image->vmin, -masks.abs().max().item<double>(), 1e-9);
  EXPECT_FALSE(m.image->colorbar);
  const Panel& f = fig.panel(1);
  EXPECT_EQ(f.title, "Readout Feature Weights");
  const at::Tensor features = readout->features.detach().to(at::kDouble);  // (1, C, 1, N)
  expect_near(f.bars.at(0).heights, features.select(3, 2).reshape({-1}), "features");
  EXPECT_NEAR(f.ylim->first, features.min().item<double>(), 1e-9);
  EXPECT_NEAR(f.ylim->second, features.max().item<double>(), 1e-9);
}

TEST(ReadoutFigure, PointGaussianMaskIsTheBilinearSamplingWeights) {
  // mu (x along the width, y along the height) in [-1, 1], align_corners.
  const at::Tensor mu = torch::tensor({0.0, 0.0, 1.0, -1.0, 0.25, 0.0, 2.0, 0.3}, at::kDouble).reshape({1, 4, 1, 2});
  const at::Tensor masks = point_gaussian_masks(mu, 3, 5);
  ASSERT_EQ(masks.sizes(), (std::vector<int64_t>{4, 3, 5}));
  EXPECT_DOUBLE_EQ(masks[0][1][2].item<double>(), 1.0);  // the centre
  EXPECT_DOUBLE_EQ(masks[1][0][4].item<double>(), 1.0);  // top right
  EXPECT_DOUBLE_EQ(masks[2][1][2].item<double>(), 0.5);  // x = 2.5: between columns 2 and 3
  EXPECT_DOUBLE_EQ(masks[2][1][3].item<double>(), 0.5);
  for (int64_t k = 0; k < 4; ++k) EXPECT_NEAR(masks[k].sum().item<double>(), 1.0, 1e-12);
  // What grid_sample reads equals the masks' weighted sum of the features.
  const at::Tensor features = torch::randn({1, 6, 3, 5}, at::kDouble);
  const at::Tensor grid = mu.clamp(-1, 1).reshape({1, 4, 1, 2});
  const at::Tensor sampled = torch::grid_sampler(features, grid, 0, 0, true).reshape({6, 4});
  const at::Tensor by_mask = torch::einsum("chw,nhw->cn", {features[0], masks});
  EXPECT_TRUE(torch::allclose(sampled, by_mask, 1e-9, 1e-12));
}

TEST(ReadoutFigure, EveryReadoutTypeGivesAFigureAndTheCountMatches) {
  const Json neurons = {{"s1", 3}, {"s2", 2}};
  const Json dummy = {{"type", "dummy_core"}, {"cut_first_n_frames", 1}};
  const Json conv_core = {{"type", "simple_core_wrapper"},
                          {"channels", {2, 3}},
                          {"temporal_kernel_sizes", {3}},
                          {"spatial_kernel_sizes", {3}},
                          {"cut_first_n_frames", 0}};
  const Json factorized = {{"type", "factorized"}, {"n_neurons_dict", neurons}, {"init_scales", {{0.0, 0.15}, {0.0, 0.15}}}};
  const Json klindt = {{"type", "klindt"}, {"n_neurons_dict", neurons}, {"init_scales", {{0.0, 0.15}, {0.0, 0.15}}}};
  const Json point = {{"type", "point_gaussian"}, {"n_neurons_dict", neurons}};
  const Json lnp = {{"type", "lnp"}, {"n_neurons_dict", neurons}};
  const Json lnp_t = {{"type", "lnp"}, {"n_neurons_dict", neurons}, {"temporal_kernel_size", 3}};
  const Json gaussian = {{"type", "gaussian_mask"}, {"n_neurons_dict", neurons}};
  struct Case {
    std::string name;
    Json spec;
    size_t panels;  // of the first neuron's figure
  };
  const std::vector<Case> cases = {
      {"gaussian_mask", {{"core", conv_core}, {"readout", gaussian}, {"input_shape", {2, 6, 7, 6}}}, 2},
      {"factorized", {{"core", conv_core}, {"readout", factorized}, {"input_shape", {2, 6, 7, 6}}}, 2},
      {"klindt", {{"core", conv_core}, {"readout", klindt}, {"input_shape", {2, 6, 7, 6}}}, 2},
      {"point_gaussian", {{"core", conv_core}, {"readout", point}, {"input_shape", {2, 6, 7, 6}}}, 2},
      {"lnp", {{"core", dummy}, {"readout", lnp}, {"input_shape", {2, 6, 5, 4}}}, 1},
      {"lnp (space-time)", {{"core", dummy}, {"readout", lnp_t}, {"input_shape", {2, 6, 5, 4}}}, 2},
      {"single_cell_separated_lnp",
       {{"core", {{"type", "dummy_core"}}},
        {"readout",
         {{"type", "single_cell_separated_lnp"}, {"in_shape", {2, 4, 11, 10}}, {"spat_kernel_size", {5, 5}}, {"rank", 2}}},
        {"input_shape", {2, 6, 11, 10}}},
       4},
      {"ensemble",
       {{"core", {{"type", "ensemble"}, {"members", {dummy, dummy}}}},
        {"readout", {{"type", "ensemble"}, {"members", {point, factorized}}}},
        {"input_shape", {2, 6, 5, 4}}},
       4},
      {"spatial_x_feature_3d", legacy_spec(), 2},
      {"rank1", {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", 6}, {"kernel_size", {7, 3}}}},
                 {"readout", {{"type", "rank1"}, {"n_neurons", 3}}},
                 {"input_shape", {1, 20, 24}}},
       2},
      {"ridge", {{"core", {{"type", "block_average"}, {"factor", 2}}}, {"readout", {{"type", "ridge"}, {"n_neurons", 2}}},
                 {"input_shape", {1, 8, 10}}},
       1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    torch::manual_seed(3);
    auto model = build(c.spec);
    const auto sessions = model->readout_keys();
    const Figure fig = plot_weight_for_neuron(*model, sessions.front(), 0);
    EXPECT_EQ(fig.panel_count(), c.panels);
    TempDir dir;
    int64_t drawn = 0;
    const auto figs = save_weight_visualizations(*model, dir.path(), "png", [&] { ++drawn; });
    EXPECT_EQ(drawn, count_weight_figures(*model));
    EXPECT_TRUE(std::none_of(figs.skipped.begin(), figs.skipped.end(),
                             [](const std::string& s) { return s.rfind("readout", 0) == 0; }))
        << (figs.skipped.empty() ? "" : figs.skipped.front());
    for (const auto& s : sessions) {
      const int64_t n = model->readout()->n_neurons(s);
      ASSERT_EQ(figs.neurons.at(s).size(), static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) {
        const fs::path file = fs::path(dir.path()) / "weights_readout" / session_folder(s) / ("neuron_" + std::to_string(k) + ".png");
        EXPECT_EQ(figs.neurons.at(s)[k], fs::relative(file, dir.path()).string());
        EXPECT_TRUE(fs::exists(file)) << file;
      }
    }
  }
}

TEST(ReadoutFigure, CountMatchesForAReadoutWithoutAFigure) {
  // A readout type fovea cannot draw is skipped, and the count says so.
  struct Plain : fovea::nn::Readout {
    at::Tensor forward(const at::Tensor& x, const std::string&) override { return x.mean({1, 3, 4}).unsqueeze(-1); }
    int64_t n_neurons(const std::string&) const override { return 4; }
  };
  auto base = fovea::testing::retina_model();
  fovea::nn::Model model(base->core(), std::make_shared<Plain>(), base->spec());
  TempDir dir;
  int64_t drawn = 0;
  const auto figs = save_weight_visualizations(model, dir.path(), "png", [&] { ++drawn; });
  EXPECT_EQ(drawn, count_weight_figures(model));
  EXPECT_EQ(figs.neurons.at("").size(), 4u);
  EXPECT_EQ(figs.neurons.at("")[0], "");
  ASSERT_FALSE(figs.skipped.empty());
  EXPECT_THROW(plot_weight_for_neuron(model, "", 0), fovea::Error);
}

// ---- folder layouts ----

TEST(WeightLayouts, LightningAndLegacyEnsembleFileNames) {
  auto model = fovea::testing::retina_model();  // layers 2→4 and 4→4; sessions s1 (5), s2 (3)
  TempDir lightning, legacy;
  const auto a = save_weight_visualizations(*model, lightning.path(), "png");
  const auto b =
      save_weight_visualizations(*model, legacy.path(), WeightFigureOptions{"jpg", WeightLayout::legacy_ensemble});
  const fs::path L = lightning.path(), E = legacy.path();
  for (int64_t in = 0; in < 2; ++in)
    for (int64_t out = 0; out < 4; ++out) {
      const std::string name = std::to_string(in) + "_" + std::to_string(out) + "_";
      EXPECT_TRUE(fs::exists(L / "weights_core/weights_layer_0" / (name + ".png"))) << name;
      EXPECT_TRUE(fs::exists(E / "weights_layer_0" / (name + ".jpg"))) << name;
      EXPECT_EQ(a.layers[0].files[out][in], "weights_core/weights_layer_0/" + name + ".png");
      EXPECT_EQ(b.layers[0].files[out][in], "weights_layer_0/" + name + ".jpg");
    }
  EXPECT_TRUE(fs::exists(L / "weights_core/weights_layer_1/3_3_.png"));
  EXPECT_FALSE(fs::exists(L / "weights_core/weights_layer_1/3_3.png"));
  EXPECT_TRUE(fs::exists(E / "weights_layer_1/3_3_.jpg"));
  EXPECT_FALSE(fs::exists(E / "weights_core"));
  EXPECT_EQ(a.layers[1].folder, "weights_core/weights_layer_1");
  EXPECT_EQ(b.layers[1].folder, "weights_layer_1");
  EXPECT_EQ(a.layers[1].filters, "weights_core/weights_layer_1/filters.png");
  EXPECT_EQ(b.layers[1].filters, "weights_layer_1/filters.jpg");
  EXPECT_TRUE(fs::exists(L / "weights_readout/s1/neuron_4.png"));
  EXPECT_TRUE(fs::exists(L / "weights_readout/s2/neuron_2.png"));
  EXPECT_TRUE(fs::exists(E / "weights_readout/s1/neuron_4.jpg"));
  EXPECT_TRUE(fs::exists(E / "weights_readout/s2/neuron_2.jpg"));
  EXPECT_EQ(a.neurons.at("s1")[4], "weights_readout/s1/neuron_4.png");
  EXPECT_EQ(b.neurons.at("s2")[2], "weights_readout/s2/neuron_2.jpg");
  EXPECT_EQ(core_layer_folder(2, WeightLayout::lightning), "weights_core/weights_layer_2");
  EXPECT_EQ(core_layer_folder(2, WeightLayout::legacy_ensemble), "weights_layer_2");
  EXPECT_EQ(readout_folder("s1", WeightLayout::legacy_ensemble), "weights_readout/s1");
}

TEST(WeightLayouts, LegacyCoreIsDrawnAsSeparableLayers) {
  torch::manual_seed(4);
  auto model = build(legacy_spec());
  auto core = std::dynamic_pointer_cast<fovea::nn::ParametricFactorizedBatchConv3dCore>(model->core());
  ASSERT_TRUE(core);
  const auto before = snapshot(*model);
  TempDir dir;
  int64_t drawn = 0;
  const auto figs = save_weight_visualizations(*model, dir.path(), WeightFigureOptions{"png", WeightLayout::legacy_ensemble, false},
                                               [&] { ++drawn; });
  // Layer 0: 2 → 3, layer 1: 3 → 4; sessions a (3), b (2).
  EXPECT_EQ(drawn, 6 + 12 + 3 + 2);
  EXPECT_EQ(drawn, count_weight_figures(*model, WeightFigureOptions{"png", WeightLayout::legacy_ensemble, false}));
  ASSERT_EQ(figs.layers.size(), 2u);
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_layer_0/1_2_.png"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_layer_1/2_3_.png"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_readout/a_session/neuron_2.png"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "weights_readout/b_session/neuron_1.png"));
  // The same three panels as the custom_separable layers, from the conv's own numbers.
  const Figure fig = plot_weight_visualization(*model, 1, 2, 3);
  ASSERT_EQ(fig.panel_count(), 3u);
  const auto p = separable_channel_panels(*core->conv(1), 2, 3);
  expect_near(fig.panel(0).image->data.values, p.spatial, "spatial");
  expect_near(fig.panel(1).lines.at(0).y, p.temporal, "temporal");
  expect_unchanged(*model, before);
}

// ---- the one-call API's errors ----

TEST(SeedApi, ErrorsNameWhatExists) {
  auto model = fovea::testing::retina_model();  // 2 layers; layer 0 is 2 → 4; s1 (5), s2 (3)
  auto message = [](auto&& f) { return fovea::test::error_of(f); };
  EXPECT_NE(message([&] { plot_weight_visualization(*model, 2, 0, 0); }).find("the core has 2 layers"),
            std::string::npos);
  EXPECT_NE(message([&] { plot_weight_visualization(*model, -1, 0, 0); }).find("layer -1 does not exist"),
            std::string::npos);
  EXPECT_NE(message([&] { plot_weight_visualization(*model, 0, 2, 0); }).find("in_channel 2 is out of range"),
            std::string::npos);
  EXPECT_NE(message([&] { plot_weight_visualization(*model, 0, 0, 4); }).find("4 output channels"), std::string::npos);
  EXPECT_NO_THROW(plot_weight_visualization(*model, 1, 3, 3));
  const std::string unknown = message([&] { plot_weight_for_neuron(*model, "s3", 0); });
  EXPECT_NE(unknown.find("unknown session"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("s1, s2"), std::string::npos) << unknown;
  EXPECT_NE(message([&] { plot_weight_for_neuron(*model, "s1", 5); }).find("session 's1' has 5 neurons"),
            std::string::npos);
  EXPECT_THROW(plot_weight_for_neuron(*model, "s2", -1), fovea::Error);
  EXPECT_THROW(plot_weight_for_neuron(*model, "", 0), fovea::Error);  // two sessions: "" is ambiguous
  EXPECT_NO_THROW(plot_weight_for_neuron(*model, "s2", 2));
  // A core without conv layers.
  auto lnp = build({{"core", {{"type", "dummy_core"}}},
                    {"readout", {{"type", "lnp"}, {"n_neurons_dict", {{"s1", 2}}}}},
                    {"input_shape", {1, 4, 5, 4}}});
  EXPECT_NE(message([&] { plot_weight_visualization(*lnp, 0, 0, 0); }).find("no convolution layers"),
            std::string::npos);
}

// ---- the stimulus-composition figure ----

TEST(CompositionFigure, PanelsAndHighlightAsOpenretina) {
  torch::manual_seed(5);
  const at::Tensor movie = torch::randn({2, 50, 18, 16});
  const Figure fig = stimulus_composition_figure(movie, "", std::nullopt, FrameWindow{40, 49});
  ASSERT_EQ(fig.panel_count(), 4u);
  EXPECT_EQ(fig.width(), 1050);
  EXPECT_EQ(fig.height(), 600);
  const Panel& t = fig.panel(0);
  EXPECT_EQ(t.title, "Temporal Trace of the Stimulus");
  EXPECT_EQ(t.xlabel, "Time [s]");
  ASSERT_EQ(t.lines.size(), 2u);
  double M = 0;
  for (const auto& l : t.lines)
    for (double v : l.y) M = std::max(M, std::abs(v));
  EXPECT_DOUBLE_EQ(t.ylim->first, -M);
  EXPECT_DOUBLE_EQ(t.ylim->second, M + 1);
  // fill_betweenx(ylim, x[40], x[49]) with x = linspace(0, 50/30, 50), black at alpha 0.1.
  ASSERT_EQ(t.rects.size(), 1u);
  const double step = (50.0 / 30.0) / 49.0;
  EXPECT_NEAR(t.rects[0].x0, 40 * step, 1e-12);
  EXPECT_NEAR(t.rects[0].x1, 49 * step, 1e-12);
  EXPECT_DOUBLE_EQ(t.rects[0].y0, -M);
  EXPECT_DOUBLE_EQ(t.rects[0].y1, M + 1);
  EXPECT_TRUE(t.rects[0].filled);
  EXPECT_DOUBLE_EQ(t.rects[0].alpha, 0.1);

  const Panel& f = fig.panel(1);
  EXPECT_EQ(f.title.rfind("Weighted Frequency: ", 0), 0u) << f.title;
  EXPECT_NE(f.title.find(" Hz (Green/UV)"), std::string::npos) << f.title;
  EXPECT_EQ(f.xlabel, "Frequency [Hz]");
  EXPECT_DOUBLE_EQ(f.xlim->first, 0.0);
  EXPECT_DOUBLE_EQ(f.xlim->second, 11.0);

  const Panel& s = fig.panel(2);
  EXPECT_EQ(s.title, "Spatial Component (Green/UV)");
  EXPECT_EQ(s.image->data.rows, 18);
  EXPECT_EQ(s.image->data.cols, 32);  // the two maps side by side, no gap
  EXPECT_FALSE(s.axes);
  // Two channel outlines and the 50 µm scale bar at (6, 15), 1 × 1 for W = 16.
  ASSERT_EQ(s.rects.size(), 3u);
  EXPECT_FALSE(s.rects[0].filled);
  EXPECT_DOUBLE_EQ(s.rects[1].x0, 15.5);
  EXPECT_TRUE(s.rects[2].filled);
  EXPECT_DOUBLE_EQ(s.rects[2].x0, 6);
  EXPECT_DOUBLE_EQ(s.rects[2].x1, 7);
  EXPECT_DOUBLE_EQ(s.rects[2].y0, 15);
  ASSERT_EQ(s.texts.size(), 1u);
  EXPECT_EQ(s.texts[0].text, "50 µm");

  const Panel& empty = fig.panel(3);
  EXPECT_TRUE(empty.axes);
  EXPECT_TRUE(empty.lines.empty() && empty.texts.empty() && !empty.image);

  TempDir dir;
  fig.save(fs::path(dir.path()) / "composition.png");
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "composition.png"));
  // No highlight unless asked; frames outside the movie are an error.
  EXPECT_TRUE(stimulus_composition_figure(movie, "").panel(0).rects.empty());
  EXPECT_THROW(stimulus_composition_figure(movie, "", std::nullopt, FrameWindow{40, 50}), fovea::Error);
  EXPECT_THROW(stimulus_composition_figure(movie, "", std::nullopt, FrameWindow{9, 8}), fovea::Error);
  // One grey channel: black, "Grey".
  const Figure grey = stimulus_composition_figure(torch::randn({1, 30, 8, 6}), "");
  EXPECT_EQ(grey.panel(2).title, "Spatial Component (Grey)");
  EXPECT_EQ(grey.panel(0).lines[0].colour.r, 0);
  EXPECT_NE(grey.panel(1).title.find("Hz (Grey)"), std::string::npos);
}

TEST(SeparableChannelFigure, SpatialPanelKeepsImshowsOrientation) {
  // Rows 0..2 of the kernel positive (red), the rest 0 (white): imshow puts
  // row 0 at the top, so the red is in the upper part of the panel only.
  at::Tensor ws = torch::zeros({1, 1, 11, 11});
  ws[0][0].slice(0, 0, 3).fill_(1.0);
  const Figure fig = separable_channel_figure(separable_channel_panels(ws, torch::ones({1, 1, 5}), {}, {}, 0, 0));
  TempDir dir;
  const fs::path png = fs::path(dir.path()) / "k.png";
  fig.save(png);
  const cv::Mat img = cv::imread(png.string());
  ASSERT_FALSE(img.empty());
  int upper = 0, lower = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols / 2; ++x) {
      const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      if (p[2] > 90 && p[0] < 60 && p[1] < 60) ++(y < img.rows / 2 ? upper : lower);
    }
  EXPECT_GT(upper, 500);
  EXPECT_EQ(lower, 0);
}
