// Walks a model's core layers and readouts and draws each one's weights.
#include "fovea/viz/model_weights.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "fovea/error.h"
#include "fovea/nn/ensemble.h"
#include "fovea/nn/factorized_readout.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/legacy_core.h"
#include "fovea/nn/lnp.h"
#include "fovea/nn/point_gaussian_readout.h"
#include "fovea/nn/retina_core.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/viz/evaluation_figures.h"
#include "fovea/viz/seed_api.h"
#include "fovea/viz/stimulus_decomposition.h"
#include "fovea/viz/weight_figures.h"

namespace fs = std::filesystem;

namespace fovea::viz {

std::string session_folder(const std::string& session) { return session.empty() ? "readout" : session; }

std::string core_layer_folder(int64_t layer, WeightLayout layout) {
  const std::string folder = "weights_layer_" + std::to_string(layer);
  return layout == WeightLayout::lightning ? "weights_core/" + folder : folder;
}

std::string readout_folder(const std::string& session, WeightLayout layout) {
  return "weights_readout/" + session_folder(session);
}

namespace {

// ---- core layers ----

// One (in, out) channel of a retina core layer, whatever its conv type.
Figure retina_channel_figure(const nn::SimpleCoreLayerImpl& layer, int64_t in, int64_t out) {
  torch::NoGradGuard no_grad;
  if (layer.st_conv) return separable_channel_figure(separable_channel_panels(*layer.st_conv, in, out));
  if (layer.time_independent_conv)
    return separable_channel_figure(time_independent_channel_panels(layer.time_independent_conv->conv->weight, in, out));
  if (layer.separable_conv) {
    // space_conv (O, I, 1, kh, kw), then time_conv (O, O, T, 1, 1): output
    // channel o applies the temporal kernel time_conv[o, o] to its own
    // spatial response (the off-diagonal kernels mix channels and are not shown).
    const auto& conv = *layer.separable_conv;
    const at::Tensor w = conv.space_conv->weight;
    const at::Tensor diagonal = conv.time_conv->weight.flatten(2).diagonal(0, 0, 1).t();  // (O, T)
    const at::Tensor temporal = diagonal.unsqueeze(1).expand({w.size(0), w.size(1), diagonal.size(1)});
    return separable_channel_figure(separable_channel_panels(w, temporal, {}, {}, in, out));
  }
  if (layer.full_conv) return separable_channel_figure(full_conv_channel_panels(layer.full_conv->conv->weight, in, out));
  fail("visualize", "a core layer has no convolution");
}

// A V1 core channel: the filter of layer 0; for a separable layer, its
// spatial (depthwise) kernel and its 1×1 weights over the previous layer's channels.
Figure v1_channel_figure(const nn::MinimodelLayerImpl& layer, int64_t out, const std::string& title) {
  torch::NoGradGuard no_grad;
  if (layer.conv) {
    const at::Tensor w = layer.conv->weight[out];  // (I, k, k)
    return w.size(0) == 1 ? conv2d_filters_figure(w.unsqueeze(0), title)
                          : spacetime_kernel_figure(w, title);  // several input channels: rank-1 over them
  }
  Figure fig(640, 300);
  fig.set_title(title);
  Panel& s = fig.add_panel(1, 2, 0, 0);
  s.title = "spatial kernel";
  s.image = Heatmap{to_grid(layer.spatial_conv->weight[out][0]), Colormap::RdBu_r};
  s.image->colorbar = true;
  s.axes = false;
  Panel& b = fig.add_panel(1, 2, 0, 1);
  const auto w = to_vector(layer.in_depth_conv->weight[out]);
  std::vector<double> x(w.size());
  std::vector<Rgb> c;
  for (size_t i = 0; i < w.size(); ++i) x[i] = static_cast<double>(i), c.push_back(w[i] >= 0 ? colours::red : colours::blue);
  b.title = "1×1 weights";
  b.xlabel = "input channel";
  b.bars.push_back(Bars{x, w, colours::grey, c});
  return fig;
}

struct CoreLayerView {
  std::string name;    // "features.layer0"
  std::string folder;  // relative to the save folder
  int64_t in = 0, out = 0;
  std::function<Figure(int64_t in, int64_t out)> draw;
  bool per_output_only = false;  // V1: one figure per output channel
  at::Tensor spatial_filters;    // (O, I, kh, kw) for the layer's grid figure; undefined if none
};

// Output channels ordered by the norm of their filter, strongest first.
std::vector<int64_t> by_norm(const at::Tensor& filters) {
  const at::Tensor order = filters.detach().flatten(1).norm(2, 1).argsort(0, /*descending=*/true);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < order.size(0); ++i) out.push_back(order[i].item<int64_t>());
  return out;
}

// The layers of `core`; an ensemble's members one after the other, named
// members.<m>.features.layer<i> with their folders under member_<m>/.
void add_core_layers(const std::shared_ptr<nn::Core>& core, const std::string& name_prefix,
                     const std::string& member_folder, WeightLayout layout, std::vector<CoreLayerView>& views) {
  auto folder = [&](int64_t i) {
    const std::string layer = "weights_layer_" + std::to_string(i);
    return layout == WeightLayout::lightning ? "weights_core/" + member_folder + layer : member_folder + layer;
  };
  auto name = [&](int64_t i) { return name_prefix + "features.layer" + std::to_string(i); };
  if (auto c = std::dynamic_pointer_cast<nn::SimpleCoreWrapper>(core)) {
    for (int64_t i = 0; i < c->n_layers(); ++i) {
      auto layer = c->layer(i);
      at::Tensor w = layer->weight_spatial();
      at::Tensor spatial = w.defined() ? w.select(2, 0) : at::Tensor();  // (O, I, kh, kw)
      if (!w.defined()) w = layer->full_conv->conv->weight;
      views.push_back({name(i), folder(i), w.size(1), w.size(0),
                       [layer](int64_t in, int64_t out) { return retina_channel_figure(*layer, in, out); }, false,
                       spatial});
    }
  } else if (auto c = std::dynamic_pointer_cast<nn::ParametricFactorizedBatchConv3dCore>(core)) {
    // The legacy Höfling core: its convs are STSeparableBatchConv3d, drawn as
    // SimpleCoreWrapper's custom_separable layers (default log speed, not a session's).
    for (int64_t i = 0; i < c->n_layers(); ++i) {
      nn::STSeparableBatchConv3d conv = c->conv(i);
      const at::Tensor w = conv->weight_spatial;
      views.push_back({name(i), folder(i), w.size(1), w.size(0),
                       [conv](int64_t in, int64_t out) {
                         return separable_channel_figure(separable_channel_panels(*conv, in, out));
                       },
                       false, conv->spatial_kernels()});
    }
  } else if (auto c = std::dynamic_pointer_cast<nn::MinimodelCore>(core)) {
    for (int64_t i = 0; i < c->n_layers(); ++i) {
      auto layer = c->layer(i);
      const at::Tensor w = layer->conv ? layer->conv->weight : layer->spatial_conv->weight;
      const int64_t in = layer->conv ? w.size(1) : layer->in_depth_conv->weight.size(1);
      const std::string n = name(i);
      views.push_back({n, folder(i), in, w.size(0),
                       [layer, n](int64_t, int64_t out) {
                         return v1_channel_figure(*layer, out, fmt::format("{} channel {}", n, out));
                       },
                       true, w});
    }
  } else if (auto c = std::dynamic_pointer_cast<nn::EnsembleCore>(core)) {
    for (int64_t m = 0; m < c->n_members(); ++m)
      add_core_layers(c->member(m), name_prefix + "members." + std::to_string(m) + ".",
                      member_folder + "member_" + std::to_string(m) + "/", layout, views);
  }
}

std::vector<CoreLayerView> core_layers(const nn::Model& model, WeightLayout layout) {
  std::vector<CoreLayerView> views;
  add_core_layers(model.core(), "", "", layout, views);
  return views;
}

// ---- readouts ----

// The module holding session `session` of `readout`: its child of that name, or the readout itself.
std::shared_ptr<torch::nn::Module> session_module(const std::shared_ptr<torch::nn::Module>& readout,
                                                  const std::string& session) {
  if (!session.empty())
    for (const auto& child : readout->named_children())
      if (child.key() == session) return child.value();
  return readout;
}

// The spatial height and width of the core's output (its last two axes).
std::pair<int64_t, int64_t> core_hw(const std::vector<int64_t>& core_shape) {
  if (core_shape.size() < 2) return {1, core_shape.empty() ? 1 : core_shape.back()};
  return {core_shape[core_shape.size() - 2], core_shape.back()};
}

// The masks and channel weights of a mask-type readout session, or nullopt for other types.
std::optional<MaskReadoutPanels> mask_panels(const torch::nn::Module& r, const std::vector<int64_t>& core_shape) {
  torch::NoGradGuard no_grad;
  if (auto* g = dynamic_cast<const nn::GaussianMaskReadout*>(&r))  // features (1, C, 1, N)
    return mask_readout_panels(g->get_mask(), g->features.reshape({g->features.size(1), -1}).t());
  if (auto* f = dynamic_cast<const nn::FactorizedReadout*>(&r))  // feature_weights (C, N)
    return mask_readout_panels(f->spatial_masks(), f->feature_weights.t());
  if (auto* p = dynamic_cast<const nn::PointGaussianReadout*>(&r)) {  // _features (1, C, 1, N)
    const auto [h, w] = core_hw(core_shape);
    return mask_readout_panels(point_gaussian_masks(p->_mu, h, w), p->_features.reshape({p->_features.size(1), -1}).t());
  }
  return std::nullopt;
}

using NeuronDrawer = std::function<Figure(int64_t neuron)>;

// How neuron k of one session of `readout` is drawn; an empty function for
// readout types without a figure.
NeuronDrawer neuron_drawer(const std::shared_ptr<torch::nn::Module>& readout, const std::string& session,
                           const std::vector<int64_t>& core_shape, const std::string& feature_title) {
  const std::shared_ptr<torch::nn::Module> module = session_module(readout, session);
  const std::string label = session.empty() ? "readout" : session;
  if (auto panels = mask_panels(*module, core_shape)) {
    auto shared = std::make_shared<MaskReadoutPanels>(std::move(*panels));
    return [shared, feature_title](int64_t k) { return mask_readout_neuron_figure(*shared, k, feature_title); };
  }
  if (auto e = std::dynamic_pointer_cast<nn::EnsembleReadout>(module)) {
    // A row per member, when every member is a mask-type readout.
    auto members = std::make_shared<std::vector<MaskReadoutPanels>>();
    for (int64_t m = 0; m < e->n_members(); ++m) {
      auto panels = mask_panels(*session_module(e->member(m), session), core_shape);
      if (!panels) return {};
      members->push_back(std::move(*panels));
    }
    return [members, feature_title](int64_t k) { return mask_readout_ensemble_figure(*members, k, feature_title); };
  }
  if (auto r = std::dynamic_pointer_cast<nn::Rank1Readout>(module))
    return [r, label](int64_t k) {
      torch::NoGradGuard no_grad;
      return rank1_readout_figure(r->Wy[k], r->Wx[k], r->Wc[k], fmt::format("{} neuron {}", label, k));
    };
  if (auto r = std::dynamic_pointer_cast<nn::RidgeReadout>(module)) {
    // The linear receptive field: the weights over the (block-averaged) pixels.
    const auto [h, w] = core_hw(core_shape);
    const bool image = h * w == r->weight.size(0);
    return [r, label, h = h, w = w, image](int64_t k) {
      torch::NoGradGuard no_grad;
      const at::Tensor weights = r->weight.select(1, k);
      return receptive_field_figure(image ? weights.reshape({h, w}) : weights.reshape({1, -1}),
                                    fmt::format("{} neuron {}", label, k));
    };
  }
  if (auto l = std::dynamic_pointer_cast<nn::LNPReadout>(module))
    return [l, label](int64_t k) {
      torch::NoGradGuard no_grad;
      const at::Tensor w = l->inner_product_kernel->weight[k].detach().to(at::kDouble);  // (C, T_k, H, W)
      const std::string title = fmt::format("{} neuron {}", label, k);
      if (w.size(1) == 1) return kernel_rows_figure(w.select(1, 0).unsqueeze(0), {}, title);
      // Each channel's space-time filter as its rank-1 SVD.
      std::vector<at::Tensor> spatial, temporal;
      for (int64_t c = 0; c < w.size(0); ++c) {
        const auto d = decompose_kernel(w[c]);
        spatial.push_back(torch::tensor(d.spatial, at::kDouble).reshape({d.height, d.width}));
        temporal.push_back(torch::tensor(d.temporal, at::kDouble));
      }
      return kernel_rows_figure(torch::stack(spatial).unsqueeze(0), torch::stack(temporal).unsqueeze(0), title);
    };
  if (auto s = std::dynamic_pointer_cast<nn::SingleCellSeparatedLNP>(module))
    return [s, label](int64_t k) {
      torch::NoGradGuard no_grad;
      const at::Tensor spatial = s->space_conv->weight.select(2, 0);                       // (rank, C, h, w)
      const at::Tensor temporal = s->time_conv->weight.flatten(2)[0].unsqueeze(1);        // (rank, 1, T)
      return kernel_rows_figure(spatial, temporal, fmt::format("{} neuron {}", label, k));
    };
  return {};
}

struct SessionView {
  std::string session;
  int64_t n = 0;
  NeuronDrawer draw;  // empty: no figure for this readout type
};

std::vector<SessionView> readout_sessions(const nn::Model& model, WeightLayout layout) {
  const auto core_shape = model.core()->output_shape(model.input_shape());
  const std::string feature_title =
      layout == WeightLayout::legacy_ensemble ? "Readout feature weights" : "Readout Feature Weights";
  std::vector<SessionView> views;
  for (const auto& s : model.readout_keys())
    views.push_back({s, model.readout()->n_neurons(s), neuron_drawer(model.readout(), s, core_shape, feature_title)});
  return views;
}

int64_t layer_figure_count(const CoreLayerView& l, const WeightFigureOptions& options) {
  return (l.per_output_only ? l.out : l.in * l.out) + (options.filter_grids && l.spatial_filters.defined() ? 1 : 0);
}

std::string core_type(const nn::Model& model) {
  const auto& spec = model.spec();
  if (spec.is_object() && spec.contains("core") && spec["core"].is_object() && spec["core"].contains("type") &&
      spec["core"]["type"].is_string())
    return spec["core"]["type"].get<std::string>();
  return model.core()->name();
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + (n.empty() ? std::string("\"\"") : n);
  return out;
}

}  // namespace

int64_t count_weight_figures(const nn::Model& model, const WeightFigureOptions& options) {
  int64_t n = 0;
  for (const auto& l : core_layers(model, options.layout)) n += layer_figure_count(l, options);
  for (const auto& s : readout_sessions(model, options.layout))
    if (s.draw) n += s.n;
  if (std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout())) ++n;  // the Wc matrix
  return n;
}

WeightFigures save_weight_visualizations(const nn::Model& model, const fs::path& dir, const std::string& format,
                                         const std::function<void()>& on_figure, WeightLayout layout) {
  WeightFigureOptions options;
  options.format = format;
  options.layout = layout;
  return save_weight_visualizations(model, dir, options, on_figure);
}

WeightFigures save_weight_visualizations(const nn::Model& model, const fs::path& dir,
                                         const WeightFigureOptions& options, const std::function<void()>& on_figure) {
  const std::string& format = options.format;
  WeightFigures result;
  auto save = [&](const Figure& fig, const std::string& relative) {
    fig.save(dir / relative);
    if (on_figure) on_figure();
    return relative;
  };

  for (const auto& view : core_layers(model, options.layout)) {
    WeightFigures::Layer layer{view.name, view.folder, view.in, view.out, {}, {}};
    const std::string folder = view.folder + "/";
    for (int64_t out = 0; out < view.out; ++out) layer.files.emplace_back(view.per_output_only ? 1 : view.in);
    if (view.per_output_only) {
      for (int64_t out = 0; out < view.out; ++out)
        layer.files[out][0] = save(view.draw(0, out), folder + std::to_string(out) + "." + format);
    } else {
      // openretina's loop: in channels outer, out channels inner; <in>_<out>_<suffix>.<fmt>, empty suffix.
      for (int64_t in = 0; in < view.in; ++in)
        for (int64_t out = 0; out < view.out; ++out)
          layer.files[out][in] = save(view.draw(in, out), folder + fmt::format("{}_{}_.{}", in, out, format));
    }
    if (options.filter_grids && view.spatial_filters.defined()) {
      torch::NoGradGuard no_grad;
      layer.filters = save(conv2d_filters_figure(view.spatial_filters,
                                                 view.name + ": spatial filters (input channel 0), strongest first",
                                                 by_norm(view.spatial_filters.select(1, 0))),
                           folder + "filters." + format);
    }
    result.layers.push_back(std::move(layer));
  }
  if (result.layers.empty()) result.skipped.push_back("core: no weight figures for core type " + core_type(model));

  for (const auto& view : readout_sessions(model, options.layout)) {
    auto& files = result.neurons[view.session];
    if (!view.draw) {
      result.skipped.push_back("readout '" + view.session + "': no weight figure for readout type " +
                               session_module(model.readout(), view.session)->name());
      files.assign(view.n, "");
      continue;
    }
    const std::string folder = readout_folder(view.session, options.layout) + "/";
    for (int64_t k = 0; k < view.n; ++k)
      files.push_back(save(view.draw(k), folder + "neuron_" + std::to_string(k) + "." + format));
  }
  if (auto r = std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout())) {
    torch::NoGradGuard no_grad;
    result.summaries.push_back(
        save(wc_matrix_figure(r->Wc, true, "Wc: neurons × channels (sorted)"), "weights_readout/Wc_matrix." + format));
  }
  return result;
}

// ---- the one-call API of the seed listing ----

Figure plot_weight_visualization(const nn::Model& model, int64_t layer, int64_t in_channel, int64_t out_channel) {
  const std::string where = "plot_weight_visualization";
  const auto views = core_layers(model, WeightLayout::lightning);
  check(!views.empty(), where, "the core (" + core_type(model) + ") has no convolution layers to draw");
  const int64_t n = static_cast<int64_t>(views.size());
  check(layer >= 0 && layer < n, where,
        "layer " + std::to_string(layer) + " does not exist: the core has " + std::to_string(n) +
            (n == 1 ? " layer (0)" : " layers (0.." + std::to_string(n - 1) + ")"));
  const auto& view = views[layer];
  auto channels = [](int64_t count) { return count == 1 ? std::string("0") : "0.." + std::to_string(count - 1); };
  check(in_channel >= 0 && in_channel < view.in, where,
        "in_channel " + std::to_string(in_channel) + " is out of range: layer " + std::to_string(layer) + " has " +
            std::to_string(view.in) + " input channels (" + channels(view.in) + ")");
  check(out_channel >= 0 && out_channel < view.out, where,
        "out_channel " + std::to_string(out_channel) + " is out of range: layer " + std::to_string(layer) + " has " +
            std::to_string(view.out) + " output channels (" + channels(view.out) + ")");
  return view.draw(in_channel, out_channel);
}

Figure plot_weight_for_neuron(const nn::Model& model, const std::string& session, int64_t neuron) {
  const std::string where = "plot_weight_for_neuron";
  const auto sessions = model.readout_keys();
  std::string key = session;
  if (std::find(sessions.begin(), sessions.end(), key) == sessions.end()) {
    check(key.empty() && sessions.size() == 1, where,
          "unknown session (data_key) '" + session + "'; the known sessions are: " + join(sessions));
    key = sessions.front();
  }
  const int64_t n = model.readout()->n_neurons(key);
  check(neuron >= 0 && neuron < n, where,
        "neuron " + std::to_string(neuron) + " is out of range: session '" + session_folder(key) + "' has " +
            std::to_string(n) + (n == 1 ? " neuron (0)" : " neurons (0.." + std::to_string(n - 1) + ")"));
  const auto core_shape = model.core()->output_shape(model.input_shape());
  const NeuronDrawer draw = neuron_drawer(model.readout(), key, core_shape, "Readout Feature Weights");
  check(static_cast<bool>(draw), where,
        "readout type " + session_module(model.readout(), key)->name() + " has no weight figure");
  return draw(neuron);
}

}  // namespace fovea::viz
