// Walks a model's core layers and readouts and draws each one's weights.
#include "fovea/viz/model_weights.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/factorized_readout.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/lnp.h"
#include "fovea/nn/retina_core.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/viz/evaluation_figures.h"
#include "fovea/viz/weight_figures.h"

namespace fs = std::filesystem;

namespace fovea::viz {

std::string session_folder(const std::string& session) { return session.empty() ? "readout" : session; }

namespace {

// One (in, out) channel of a retina core layer, whatever its conv type.
Figure retina_channel_figure(const nn::SimpleCoreLayerImpl& layer, int64_t in, int64_t out, const std::string& title) {
  torch::NoGradGuard no_grad;
  if (layer.st_conv) {
    const auto& conv = *layer.st_conv;
    return separable_kernel_figure(conv.spatial_kernels()[out][in], conv.temporal_kernels()[out][in],
                                   conv.sin_weights[out][in], conv.cos_weights[out][in], title);
  }
  if (layer.full_conv) return spacetime_kernel_figure(layer.full_conv->conv->weight[out][in], title);
  if (layer.separable_conv) {
    // space_conv (O, I, 1, kh, kw), then time_conv (O, O, T, 1, 1): the temporal
    // kernel that output channel `out` applies to its own spatial response.
    const auto& conv = *layer.separable_conv;
    return separable_kernel_figure(conv.space_conv->weight[out][in][0],
                                   conv.time_conv->weight[out][out].reshape({-1}), {}, {}, title);
  }
  if (layer.time_independent_conv) {
    const at::Tensor w = layer.time_independent_conv->conv->weight[out][in];  // (1, kh, kw)
    return separable_kernel_figure(w[0], torch::ones({1}), {}, {}, title);
  }
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

// The readout figure of neuron k, or nullopt for readout types without one.
std::optional<Figure> neuron_figure(const torch::nn::Module& readout, int64_t k, const std::string& title,
                                    const std::vector<int64_t>& core_output_shape) {
  torch::NoGradGuard no_grad;
  if (auto* r = dynamic_cast<const nn::RidgeReadout*>(&readout)) {
    // The linear receptive field: the weights over the (block-averaged) pixels.
    const int64_t h = core_output_shape.size() >= 2 ? core_output_shape[core_output_shape.size() - 2] : 1;
    const int64_t w = core_output_shape.empty() ? r->weight.size(0) : core_output_shape.back();
    if (h * w == r->weight.size(0)) return receptive_field_figure(r->weight.select(1, k).reshape({h, w}), title);
  }
  if (auto* g = dynamic_cast<const nn::GaussianMaskReadout*>(&readout))
    return mask_readout_figure(g->get_mask()[k], g->features.reshape({-1, g->features.size(3)}).select(1, k), title);
  if (auto* f = dynamic_cast<const nn::FactorizedReadout*>(&readout))
    return mask_readout_figure(f->spatial_masks()[k], f->feature_weights.select(1, k), title);
  if (auto* r = dynamic_cast<const nn::Rank1Readout*>(&readout))
    return rank1_readout_figure(r->Wy[k], r->Wx[k], r->Wc[k], title);
  if (auto* l = dynamic_cast<const nn::LNPReadout*>(&readout)) {
    const at::Tensor w = l->inner_product_kernel->weight[k];  // (C, T, H, W)
    return spacetime_kernel_figure(w.sum(0), title);
  }
  return std::nullopt;
}

// The per-session readout modules: children named after the sessions, or the readout itself.
std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> session_readouts(const nn::Model& model) {
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> out;
  const auto sessions = model.readout_keys();
  const auto children = model.readout()->named_children();
  for (const auto& s : sessions) {
    if (s.empty() || !children.contains(s)) out.emplace_back(s, model.readout());
    else out.emplace_back(s, children[s]);
  }
  return out;
}

struct CoreLayerView {
  std::string name;
  int64_t in = 0, out = 0;
  std::function<Figure(int64_t in, int64_t out, const std::string& title)> draw;
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

std::vector<CoreLayerView> core_layers(const nn::Model& model) {
  std::vector<CoreLayerView> views;
  if (auto core = std::dynamic_pointer_cast<nn::SimpleCoreWrapper>(model.core())) {
    for (int64_t i = 0; i < core->n_layers(); ++i) {
      auto layer = core->layer(i);
      at::Tensor w = layer->weight_spatial();
      at::Tensor spatial = w.defined() ? w.select(2, 0) : at::Tensor();  // (O, I, kh, kw)
      if (layer->st_conv) spatial = layer->st_conv->spatial_kernels();
      if (!w.defined()) w = layer->full_conv->conv->weight;
      views.push_back({"features.layer" + std::to_string(i), w.size(1), w.size(0),
                       [layer](int64_t in, int64_t out, const std::string& t) {
                         return retina_channel_figure(*layer, in, out, t);
                       },
                       false, spatial});
    }
  } else if (auto core = std::dynamic_pointer_cast<nn::MinimodelCore>(model.core())) {
    for (int64_t i = 0; i < core->n_layers(); ++i) {
      auto layer = core->layer(i);
      const at::Tensor w = layer->conv ? layer->conv->weight : layer->spatial_conv->weight;
      const int64_t in = layer->conv ? w.size(1) : layer->in_depth_conv->weight.size(1);
      views.push_back({"features.layer" + std::to_string(i), in, w.size(0),
                       [layer](int64_t, int64_t out, const std::string& t) { return v1_channel_figure(*layer, out, t); },
                       true, layer->conv ? layer->conv->weight : layer->spatial_conv->weight});
    }
  }
  return views;
}

}  // namespace

int64_t count_weight_figures(const nn::Model& model) {
  int64_t n = 0;
  for (const auto& l : core_layers(model)) n += (l.per_output_only ? l.out : l.in * l.out) + (l.spatial_filters.defined() ? 1 : 0);
  for (const auto& [s, r] : session_readouts(model)) n += model.readout()->n_neurons(s);
  if (std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout())) ++n;  // the Wc matrix
  return n;
}

WeightFigures save_weight_visualizations(const nn::Model& model, const fs::path& dir, const std::string& format,
                                         const std::function<void()>& on_figure) {
  WeightFigures result;
  auto save = [&](const Figure& fig, const std::string& relative) {
    fig.save(dir / relative);
    if (on_figure) on_figure();
    return relative;
  };

  int64_t index = 0;
  for (const auto& view : core_layers(model)) {
    WeightFigures::Layer layer{view.name, view.in, view.out, {}};
    const std::string folder = "weights_core/weights_layer_" + std::to_string(index++) + "/";
    for (int64_t out = 0; out < view.out; ++out) {
      std::vector<std::string> files;
      if (view.per_output_only) {
        files.push_back(save(view.draw(0, out, fmt::format("{} channel {}", view.name, out)),
                             folder + std::to_string(out) + "." + format));
      } else {
        for (int64_t in = 0; in < view.in; ++in)
          files.push_back(save(view.draw(in, out, fmt::format("{}: in {} → out {}", view.name, in, out)),
                               folder + fmt::format("{}_{}.{}", in, out, format)));
      }
      layer.files.push_back(std::move(files));
    }
    if (view.spatial_filters.defined()) {
      torch::NoGradGuard no_grad;
      layer.filters = save(conv2d_filters_figure(view.spatial_filters, view.name + ": spatial filters (input channel 0), "
                                                                   "strongest first",
                                                 by_norm(view.spatial_filters.select(1, 0))),
                           folder + "filters." + format);
    }
    result.layers.push_back(std::move(layer));
  }
  if (result.layers.empty()) result.skipped.push_back("core: no weight figures for this core type");

  const auto core_shape = model.core()->output_shape(model.input_shape());
  for (const auto& [session, readout] : session_readouts(model)) {
    const int64_t n = model.readout()->n_neurons(session);
    auto& files = result.neurons[session];
    for (int64_t k = 0; k < n; ++k) {
      auto fig = neuron_figure(*readout, k, fmt::format("{} neuron {}", session.empty() ? "readout" : session, k),
                               core_shape);
      if (!fig) {
        result.skipped.push_back("readout '" + session + "': no weight figure for readout type " + readout->name());
        files.assign(n, "");
        break;
      }
      files.push_back(save(*fig, "weights_readout/" + session_folder(session) + "/neuron_" + std::to_string(k) + "." +
                                     format));
    }
  }
  if (auto r = std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout())) {
    torch::NoGradGuard no_grad;
    result.summaries.push_back(
        save(wc_matrix_figure(r->Wc, true, "Wc: neurons × channels (sorted)"), "weights_readout/Wc_matrix." + format));
  }
  return result;
}

}  // namespace fovea::viz
