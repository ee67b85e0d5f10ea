// The Höfling 2024 ensemble's core (openretina's legacy
// ParametricFactorizedBatchConv3dCore) and its registration with the
// SpatialXFeature3d readout.
#include "fovea/nn/legacy_core.h"

#include <torch/torch.h>

#include "fovea/nn/batch_norm_sync.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/registry.h"
#include "json_fields.h"

namespace fovea::nn {

namespace {

const char* kWhere = "model spec 'core' (ParametricFactorizedBatchConv3dCore)";

// A module that only holds a fixed filter, as the reference's regulariser
// modules do (their `laplace.filter` buffers are in every state dict).
std::shared_ptr<torch::nn::Module> filter_holder(const at::Tensor& filter) {
  auto laplace = std::make_shared<torch::nn::Module>();
  laplace->register_buffer("filter", filter);
  auto holder = std::make_shared<torch::nn::Module>();
  holder->register_module("laplace", laplace);
  return holder;
}

// A per-layer list may be given as one value for every layer.
std::vector<int64_t> per_layer(const Json& spec, const std::string& key, const std::vector<int64_t>& fallback) {
  if (spec.contains(key) && spec.at(key).is_number_integer()) return {spec.at(key).get<int64_t>()};
  return field<std::vector<int64_t>>(spec, key, fallback);
}

}  // namespace

ParametricFactorizedCoreOptions ParametricFactorizedCoreOptions::from_json(const Json& spec) {
  ParametricFactorizedCoreOptions o;
  o.input_channels = field<int64_t>(spec, "input_channels", o.input_channels);
  o.layers = field<int64_t>(spec, "layers", o.layers);
  o.hidden_channels = per_layer(spec, "hidden_channels", o.hidden_channels);
  o.temporal_kernel_size = per_layer(spec, "temporal_kernel_size", o.temporal_kernel_size);
  o.spatial_kernel_size = per_layer(spec, "spatial_kernel_size", o.spatial_kernel_size);
  o.input_padding = field<bool>(spec, "input_padding", o.input_padding);
  o.hidden_padding = field<bool>(spec, "hidden_padding", o.hidden_padding);
  o.core_bias = field<bool>(spec, "core_bias", o.core_bias);
  o.batch_norm = field<bool>(spec, "batch_norm", o.batch_norm);
  o.batch_norm_scale = field<bool>(spec, "batch_norm_scale", o.batch_norm_scale);
  o.momentum = field<double>(spec, "momentum", o.momentum);
  o.final_nonlinearity = field<bool>(spec, "final_nonlinearity", o.final_nonlinearity);
  o.nonlinearity = field<std::string>(spec, "nonlinearity", o.nonlinearity);
  o.conv_type = field<std::string>(spec, "conv_type", o.conv_type);
  o.stack = field<int64_t>(spec, "stack", o.stack);
  o.sessions = field<std::vector<std::string>>(spec, "sessions", o.sessions);
  o.gamma_input = field<double>(spec, "gamma_input", o.gamma_input);
  o.gamma_temporal = field<double>(spec, "gamma_temporal", o.gamma_temporal);
  o.gamma_in_sparse = field<double>(spec, "gamma_in_sparse", o.gamma_in_sparse);
  o.gamma_hidden = field<double>(spec, "gamma_hidden", o.gamma_hidden);

  // The reference repeats a one-entry list for every layer.
  if (o.layers < 1) fail(kWhere, "'layers' must be at least 1");
  for (auto* list : {&o.hidden_channels, &o.temporal_kernel_size, &o.spatial_kernel_size}) {
    if (list->size() == 1) list->assign(static_cast<size_t>(o.layers), list->front());
    if (static_cast<int64_t>(list->size()) != o.layers)
      fail(kWhere, "'hidden_channels', 'temporal_kernel_size' and 'spatial_kernel_size' need one entry per layer (" +
                       std::to_string(o.layers) + ")");
    for (auto v : *list)
      if (v < 1) fail(kWhere, "channel counts and kernel sizes must be positive");
  }
  if (o.input_channels < 1) fail(kWhere, "'input_channels' must be positive");
  if (o.conv_type != "custom_separable")
    fail(kWhere, "'conv_type' " + o.conv_type + " is not supported (the Höfling 2024 models use custom_separable)");
  if (o.nonlinearity != "ELU") fail(kWhere, "'nonlinearity' " + o.nonlinearity + " is not supported (expected ELU)");
  if (o.stack != -1) fail(kWhere, "'stack' " + std::to_string(o.stack) + " is not supported (expected -1: the last layer)");
  for (const auto& s : o.sessions)
    if (s.empty() || s.find('.') != std::string::npos)
      fail(kWhere, "session name '" + s + "' must be non-empty and contain no '.'");
  return o;
}

Json ParametricFactorizedCoreOptions::to_json() const {
  return Json{{"type", "parametric_factorized_batch_conv3d"},
              {"input_channels", input_channels},
              {"layers", layers},
              {"hidden_channels", hidden_channels},
              {"temporal_kernel_size", temporal_kernel_size},
              {"spatial_kernel_size", spatial_kernel_size},
              {"input_padding", input_padding},
              {"hidden_padding", hidden_padding},
              {"core_bias", core_bias},
              {"batch_norm", batch_norm},
              {"batch_norm_scale", batch_norm_scale},
              {"momentum", momentum},
              {"final_nonlinearity", final_nonlinearity},
              {"nonlinearity", nonlinearity},
              {"conv_type", conv_type},
              {"stack", stack},
              {"sessions", sessions},
              {"gamma_input", gamma_input},
              {"gamma_temporal", gamma_temporal},
              {"gamma_in_sparse", gamma_in_sparse},
              {"gamma_hidden", gamma_hidden}};
}

ParametricFactorizedLayerImpl::ParametricFactorizedLayerImpl(const ParametricFactorizedCoreOptions& o, int64_t index) {
  STSeparableBatchConv3dOptions st;
  st.in_channels = index == 0 ? o.input_channels : o.hidden_channels.at(index - 1);
  st.out_channels = o.hidden_channels.at(index);
  st.temporal_kernel_size = o.temporal_kernel_size.at(index);
  st.spatial_kernel_size = o.spatial_kernel_size.at(index);
  // Padding pads space only ("same" in height and width); time stays valid.
  const bool pad = index == 0 ? o.input_padding : o.hidden_padding;
  const int64_t half = st.spatial_kernel_size / 2;
  st.padding.size = pad ? std::array<int64_t, 3>{0, half, half} : std::array<int64_t, 3>{0, 0, 0};
  st.bias = false;
  conv = register_module("conv", STSeparableBatchConv3d(st));
  // The reference: BatchNorm3d(affine = bias and batch_norm_scale), and a
  // separate Bias3DLayer when the norm has no bias of its own.
  const bool affine = o.core_bias && o.batch_norm_scale;
  if (o.batch_norm)
    norm = register_module("norm", torch::nn::BatchNorm3d(torch::nn::BatchNormOptions(st.out_channels)
                                                              .momentum(o.momentum)
                                                              .eps(1e-5)
                                                              .affine(affine)));
  if (o.core_bias && !(o.batch_norm && o.batch_norm_scale)) bias = register_module("bias", Bias3DLayer(st.out_channels));
  elu = o.final_nonlinearity || index + 1 < o.layers;
  if (elu) register_module("nonlin", torch::nn::ELU());  // no parameters; named as in the reference
}

at::Tensor ParametricFactorizedLayerImpl::forward(const at::Tensor& x, const at::Tensor& log_speed) {
  at::Tensor y = log_speed.defined() ? conv->forward_with_log_speed(x, log_speed) : conv->forward(x);
  if (norm) y = batch_norm(norm, y);
  if (bias) y = bias->forward(y);
  return elu ? torch::elu(y) : y;
}

ParametricFactorizedBatchConv3dCore::ParametricFactorizedBatchConv3dCore(ParametricFactorizedCoreOptions options)
    : options_(std::move(options)) {
  features = register_module("features", torch::nn::Sequential());
  for (int64_t i = 0; i < options_.layers; ++i) {
    layers_.push_back(ParametricFactorizedLayer(options_, i));
    features->push_back("layer" + std::to_string(i), layers_.back());
  }
  // One Parameter per session, registered under the core and under every
  // conv, as the reference shares it (one storage in its state dict).
  for (const auto& session : options_.sessions) {
    const std::string name = "log_speed_" + session;
    at::Tensor speed = register_parameter(name, torch::zeros({1}));
    for (auto& layer : layers_) layer->conv->register_buffer(name, speed);
    log_speeds_[session] = speed;
  }
  register_module("_input_weights_regularizer_spatial",
                  filter_holder(torch::tensor({0.f, -1.f, 0.f, -1.f, 4.f, -1.f, 0.f, -1.f, 0.f}).view({1, 1, 3, 3})));
  register_module("_input_weights_regularizer_temporal",
                  filter_holder(torch::tensor({-1.f, 4.f, -1.f}).view({1, 1, 3})));
}

at::Tensor ParametricFactorizedBatchConv3dCore::log_speed(const std::string& data_key) const {
  if (data_key.empty()) return {};
  const auto it = log_speeds_.find(data_key);
  if (it == log_speeds_.end()) {
    std::string known;
    for (const auto& [k, _] : log_speeds_) known += (known.empty() ? "" : ", ") + k;
    fail("core", "unknown session (data_key) '" + data_key + "'; the known sessions are: " + known);
  }
  return it->second;
}

at::Tensor ParametricFactorizedBatchConv3dCore::forward_layers(const at::Tensor& input, const std::string& data_key,
                                                               int64_t n) {
  check(input.dim() == 5 && input.size(1) == options_.input_channels, "ParametricFactorizedBatchConv3dCore",
        "expects movies (batch, " + std::to_string(options_.input_channels) + ", time, height, width)");
  const at::Tensor speed = log_speed(data_key);
  at::Tensor x = input;
  for (int64_t i = 0; i < n && i < n_layers(); ++i) x = layers_[i]->forward(x, speed);
  return x;
}

at::Tensor ParametricFactorizedBatchConv3dCore::forward_session(const at::Tensor& input, const std::string& data_key) {
  return forward_layers(input, data_key, n_layers());
}

void register_legacy_modules() {
  register_core("parametric_factorized_batch_conv3d", [](const Json& spec, const std::vector<int64_t>& input_shape) {
    auto options = ParametricFactorizedCoreOptions::from_json(spec);
    if (input_shape.size() != 4 || input_shape[0] != options.input_channels)
      fail(kWhere, "the model's input_shape must be (" + std::to_string(options.input_channels) +
                       ", time, height, width)");
    return std::make_shared<ParametricFactorizedBatchConv3dCore>(std::move(options));
  });
  register_readout("spatial_x_feature_3d", [](const Json& spec, const std::vector<int64_t>& s) {
    const std::string where = "model spec 'readout' (SpatialXFeature3dReadout)";
    if (s.size() != 4) fail(where, "needs a core with (channels, time, height, width) output");
    auto options = GaussianMaskReadoutOptions::from_json(spec);
    options.legacy_scale_name = true;
    auto n_neurons_dict = required_field<std::map<std::string, int64_t>>(spec, "n_neurons_dict", where);
    return std::make_shared<MultiGaussianMaskReadout>(s, n_neurons_dict, options);
  });
}

}  // namespace fovea::nn
