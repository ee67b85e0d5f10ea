// The objective on an inner core channel: runs the core's layers explicitly,
// since LibTorch modules have no forward hooks.
#include <torch/torch.h>

#include <regex>

#include "fovea/error.h"
#include "fovea/insilico/objectives.h"
#include "fovea/nn/model.h"

namespace fovea::insilico {

namespace {

// "features.layer3", "core.features.layer3" or openretina's hook key
// "core_features_layer3" -> 3; -1 when the name has none of these forms.
int64_t parse_layer_name(const std::string& name) {
  static const std::regex pattern(R"(^(?:core[._])?features[._]layer(\d+)$)");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return -1;
  return std::stoll(match[1].str());
}

}  // namespace

std::vector<std::string> InnerNeuronVisualizationObjective::layer_names(const nn::Model& model) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < model.core()->inner_layer_count(); ++i) names.push_back("features.layer" + std::to_string(i));
  return names;
}

at::Tensor InnerNeuronVisualizationObjective::layer_output(nn::Model& model, int64_t index,
                                                           const at::Tensor& stimulus, const std::string& data_key) {
  check(index >= 0 && index < model.core()->inner_layer_count(), "InnerNeuronVisualizationObjective",
        "layer index " + std::to_string(index) + " is out of range");
  return model.core()->forward_inner_layers(stimulus, data_key, index + 1);
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
                    (list.empty() ? std::string("none (only the retina, Höfling-ensemble and V1 minimodel cores have them)")
                                  : list));
  }
  const int64_t channels = layer_channels(*model_, layer_index_);
  check(channel >= 0 && channel < channels, where,
        "channel " + std::to_string(channel) + " is out of range: layer '" + known[layer_index_] + "' has " +
            std::to_string(channels) + " channels");
}

int64_t InnerNeuronVisualizationObjective::layer_channels(const nn::Model& model, int64_t index) {
  return model.core()->inner_layer_channels(index);
}

at::Tensor InnerNeuronVisualizationObjective::forward(const at::Tensor& stimulus) {
  const at::Tensor output = layer_output(*model_, layer_index_, stimulus, data_key_).select(1, channel_);
  // (B, [T,] H, W) -> the centre pixel, averaged over the batch.
  const int64_t h = output.size(-2), w = output.size(-1);
  const at::Tensor centre = output.select(-1, w / 2).select(-1, h / 2);
  return reducer_->forward(centre.mean(0));
}

}  // namespace fovea::insilico
