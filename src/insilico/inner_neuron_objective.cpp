// The objective on an inner core channel: runs the core's layers explicitly,
// since LibTorch modules have no forward hooks.
#include <torch/torch.h>

#include <regex>

#include "fovea/error.h"
#include "fovea/insilico/objectives.h"
#include "fovea/nn/legacy_core.h"
#include "fovea/nn/retina_core.h"
#include "fovea/nn/v1_cores.h"

namespace fovea::insilico {

namespace {

int64_t core_layer_count(const nn::Model& model) {
  if (auto retina = std::dynamic_pointer_cast<nn::SimpleCoreWrapper>(model.core())) return retina->n_layers();
  if (auto v1 = std::dynamic_pointer_cast<nn::MinimodelCore>(model.core())) return v1->n_layers();
  if (auto legacy = std::dynamic_pointer_cast<nn::ParametricFactorizedBatchConv3dCore>(model.core()))
    return legacy->n_layers();
  return 0;
}

// "features.layer3", "core.features.layer3" or openretina's hook key
// "core_features_layer3" -> 3; -1 when the name has none of these forms.
int64_t parse_layer_name(const std::string& name) {
  static const std::regex pattern(R"(^(?:core[._])?features[._]layer(\d+)$)");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return -1;
  return std::stoll(match[1].str());
}

// The retina core's forward up to and including layer `index`, without the
// final frame cut (that happens after all layers, outside features.layer{i}).
at::Tensor retina_layer_output(nn::SimpleCoreWrapper& core, int64_t index, const at::Tensor& input) {
  at::Tensor x = input;
  if (core.color_squashing_layer && x.dim() == 5 && x.size(1) > 1) {
    const at::Tensor w = core.color_squashing_layer->named_parameters()["channel_weights"];
    x = (x * w.view({1, -1, 1, 1, 1})).sum(1, /*keepdim=*/true);
  }
  const auto& options = core.options();
  check(x.dim() == 5 && x.size(1) == options.channels.front(), "InnerNeuronVisualizationObjective",
        "the retina core expects movies (batch, " + std::to_string(options.channels.front()) +
            ", time, height, width)");
  if (options.downsample_input_kernel_size) {
    const auto& k = *options.downsample_input_kernel_size;
    x = torch::avg_pool3d(x, {k[0], k[1], k[2]});
  }
  for (int64_t i = 0; i <= index; ++i) x = core.layer(i)->forward(x);
  return x;
}

}  // namespace

std::vector<std::string> InnerNeuronVisualizationObjective::layer_names(const nn::Model& model) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < core_layer_count(model); ++i) names.push_back("features.layer" + std::to_string(i));
  return names;
}

at::Tensor InnerNeuronVisualizationObjective::layer_output(nn::Model& model, int64_t index,
                                                           const at::Tensor& stimulus, const std::string& data_key) {
  check(index >= 0 && index < core_layer_count(model), "InnerNeuronVisualizationObjective",
        "layer index " + std::to_string(index) + " is out of range");
  if (auto retina = std::dynamic_pointer_cast<nn::SimpleCoreWrapper>(model.core()))
    return retina_layer_output(*retina, index, stimulus);
  if (auto legacy = std::dynamic_pointer_cast<nn::ParametricFactorizedBatchConv3dCore>(model.core()))
    return legacy->forward_layers(stimulus, data_key, index + 1);
  auto v1 = std::dynamic_pointer_cast<nn::MinimodelCore>(model.core());
  return v1->forward_layers(stimulus, index + 1);
}

InnerNeuronVisualizationObjective::InnerNeuronVisualizationObjective(std::shared_ptr<nn::Model> model,
                                                                     const std::string& layer, int64_t channel,
                                                                     std::shared_ptr<ResponseReducer> reducer,
                                                                     std::string data_key)
    : model_(std::move(model)), channel_(channel), reducer_(std::move(reducer)), data_key_(std::move(data_key)) {
  const std::string where = "InnerNeuronVisualizationObjective";
  check(model_ != nullptr, where, "no model given");
  check(reducer_ != nullptr, where, "no response reducer given");
  const auto known = layer_names(*model_);
  layer_index_ = parse_layer_name(layer);
  if (layer_index_ < 0 || layer_index_ >= static_cast<int64_t>(known.size())) {
    std::string list;
    for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
    fail(where, "unknown layer '" + layer + "'; this core's layers are: " +
                    (list.empty() ? std::string("none (only the retina and V1 minimodel cores are supported)")
                                  : list));
  }
  const int64_t channels = layer_channels(*model_, layer_index_);
  check(channel >= 0 && channel < channels, where,
        "channel " + std::to_string(channel) + " is out of range: layer '" + known[layer_index_] + "' has " +
            std::to_string(channels) + " channels");
}

int64_t InnerNeuronVisualizationObjective::layer_channels(const nn::Model& model, int64_t index) {
  if (auto retina = std::dynamic_pointer_cast<nn::SimpleCoreWrapper>(model.core()))
    return retina->options().channels.at(index + 1);
  if (auto v1 = std::dynamic_pointer_cast<nn::MinimodelCore>(model.core()))
    return index == 0 ? v1->options().n_conv : v1->options().n_conv_mid;
  if (auto legacy = std::dynamic_pointer_cast<nn::ParametricFactorizedBatchConv3dCore>(model.core()))
    return legacy->options().hidden_channels.at(index);
  return 0;
}

at::Tensor InnerNeuronVisualizationObjective::forward(const at::Tensor& stimulus) {
  const at::Tensor output = layer_output(*model_, layer_index_, stimulus, data_key_).select(1, channel_);
  // (B, [T,] H, W) -> the centre pixel, averaged over the batch.
  const int64_t h = output.size(-2), w = output.size(-1);
  const at::Tensor centre = output.select(-1, w / 2).select(-1, h / 2);
  return reducer_->forward(centre.mean(0));
}

}  // namespace fovea::insilico
