// openretina's SimpleCoreWrapper: options from a spec, the layer stack, the
// output shape arithmetic and the regularisers.
#include "fovea/nn/retina_core.h"

#include <torch/torch.h>

#include "fovea/nn/batch_norm_sync.h"
#include "json_fields.h"

namespace fovea::nn {

namespace {

const char* kWhere = "model spec 'core' (SimpleCoreWrapper)";

bool known_conv_type(const std::string& t) {
  return t == "custom_separable" || t == "separable" || t == "full" || t == "time_independent";
}

// batch_norm(norm, x) + extra_bias (a Bias3DLayer's, (1, C, 1, 1, 1)) with
// the extra bias added to the norm's own, so that no full-size add (and, in
// backward, no full-size bias-gradient sum) is needed. The module's forward
// (running statistics, num_batches_tracked, momentum) is repeated here
// because it takes no bias argument. Falls back to the plain sum where the
// folding could change a dtype (a bf16 input keeps a bf16 batch norm output,
// while adding the float32 bias would promote it) or the norm has no bias.
at::Tensor batch_norm_plus_bias(torch::nn::BatchNorm3d& norm, const at::Tensor& extra_bias, const at::Tensor& x) {
  const auto& o = norm->options;
  if (!norm->bias.defined() || x.scalar_type() != extra_bias.scalar_type()) return batch_norm(norm, x) + extra_bias;
  const at::Tensor b = norm->bias + extra_bias.view({-1});
  if (BatchNormSync* sync = batch_norm_sync(); sync && norm->is_training())
    return sync->forward(x, norm->weight, b, norm->running_mean, norm->running_var, norm->num_batches_tracked,
                         o.momentum() ? std::optional<double>(*o.momentum()) : std::nullopt, o.eps());
  double factor = o.momentum() ? *o.momentum() : 0.0;
  if (norm->is_training() && o.track_running_stats() && norm->num_batches_tracked.defined()) {
    norm->num_batches_tracked += 1;
    if (!o.momentum()) factor = 1.0 / norm->num_batches_tracked.item<double>();
  }
  return torch::batch_norm(x, norm->weight, b, norm->running_mean, norm->running_var,
                           norm->is_training() || !o.track_running_stats(), factor, o.eps(),
                           at::globalContext().userEnabledCuDNN());
}

// Output length of a convolution or pooling along one axis.
int64_t conv_length(int64_t n, int64_t kernel, int64_t padding, int64_t stride, bool same) {
  if (same) return n;  // PyTorch allows "same" only with stride 1
  return (n + 2 * padding - kernel) / stride + 1;
}

}  // namespace

SimpleCoreWrapperOptions SimpleCoreWrapperOptions::from_json(const Json& spec) {
  SimpleCoreWrapperOptions o;
  o.channels = required_field<std::vector<int64_t>>(spec, "channels", kWhere);
  o.temporal_kernel_sizes = required_field<std::vector<int64_t>>(spec, "temporal_kernel_sizes", kWhere);
  o.spatial_kernel_sizes = required_field<std::vector<int64_t>>(spec, "spatial_kernel_sizes", kWhere);
  o.gamma_input = field<double>(spec, "gamma_input", o.gamma_input);
  o.gamma_temporal = field<double>(spec, "gamma_temporal", o.gamma_temporal);
  o.gamma_in_sparse = field<double>(spec, "gamma_in_sparse", o.gamma_in_sparse);
  o.gamma_hidden = field<double>(spec, "gamma_hidden", o.gamma_hidden);
  o.dropout_rate = field<double>(spec, "dropout_rate", o.dropout_rate);
  o.cut_first_n_frames = field<int64_t>(spec, "cut_first_n_frames", o.cut_first_n_frames);
  o.convolution_type = field<std::string>(spec, "convolution_type", o.convolution_type);
  for (const char* key : {"maxpool_every_n_layers", "maxpool"}) {
    if (!spec.contains(key) || spec.at(key).is_null()) continue;
    const auto& v = spec.at(key);
    if (v.is_boolean()) {
      if (v.get<bool>()) o.maxpool_every_n_layers = 1;
    } else {
      o.maxpool_every_n_layers = field<int64_t>(spec, key, 1);
      if (*o.maxpool_every_n_layers < 1) fail(kWhere, std::string("'") + key + "' must be at least 1");
    }
  }
  if (spec.contains("downsample_input_kernel_size") && !spec.at("downsample_input_kernel_size").is_null()) {
    auto k = field<std::vector<int64_t>>(spec, "downsample_input_kernel_size", {});
    if (k.size() != 3 || k[0] < 1 || k[1] < 1 || k[2] < 1)
      fail(kWhere, "'downsample_input_kernel_size' must be three positive ints");
    o.downsample_input_kernel_size = std::array<int64_t, 3>{k[0], k[1], k[2]};
  }
  o.color_squashing_weights = field<std::vector<double>>(spec, "color_squashing_weights", {});
  if (spec.contains("input_padding")) o.input_padding = Padding3d::from_json(spec.at("input_padding"), "input_padding");
  if (spec.contains("hidden_padding"))
    o.hidden_padding = Padding3d::from_json(spec.at("hidden_padding"), "hidden_padding");

  // The checks of the reference's constructor.
  if (o.channels.size() < 2)
    fail(kWhere, "'channels' needs at least two entries (input and output channels)");
  if (o.temporal_kernel_sizes.size() != o.channels.size() - 1)
    fail(kWhere, std::to_string(o.channels.size() - 1) + " layers, but " +
                     std::to_string(o.temporal_kernel_sizes.size()) + " temporal kernel sizes");
  if (o.spatial_kernel_sizes.size() != o.temporal_kernel_sizes.size())
    fail(kWhere, "'temporal_kernel_sizes' and 'spatial_kernel_sizes' must have the same length");
  for (auto c : o.channels)
    if (c < 1) fail(kWhere, "'channels' must be positive");
  for (size_t i = 0; i < o.temporal_kernel_sizes.size(); ++i)
    if (o.temporal_kernel_sizes[i] < 1 || o.spatial_kernel_sizes[i] < 1) fail(kWhere, "kernel sizes must be positive");
  if (!known_conv_type(o.convolution_type))
    fail(kWhere, "'convolution_type' must be custom_separable, separable, full or time_independent, got '" +
                     o.convolution_type + "'");
  if (o.dropout_rate < 0.0 || o.dropout_rate >= 1.0) fail(kWhere, "'dropout_rate' must be in [0, 1)");
  if (o.cut_first_n_frames < 0) fail(kWhere, "'cut_first_n_frames' must not be negative");
  if (!o.color_squashing_weights.empty() && o.channels[0] != 1)
    fail(kWhere, "with 'color_squashing_weights' the first layer takes one (grey) channel: channels[0] must be 1");
  return o;
}

Json SimpleCoreWrapperOptions::to_json() const {
  Json j{{"type", "simple_core_wrapper"},
         {"channels", channels},
         {"temporal_kernel_sizes", temporal_kernel_sizes},
         {"spatial_kernel_sizes", spatial_kernel_sizes},
         {"gamma_input", gamma_input},
         {"gamma_temporal", gamma_temporal},
         {"gamma_in_sparse", gamma_in_sparse},
         {"gamma_hidden", gamma_hidden},
         {"dropout_rate", dropout_rate},
         {"cut_first_n_frames", cut_first_n_frames},
         {"input_padding", input_padding.to_json()},
         {"hidden_padding", hidden_padding.to_json()},
         {"convolution_type", convolution_type}};
  if (!color_squashing_weights.empty()) j["color_squashing_weights"] = color_squashing_weights;
  j["maxpool_every_n_layers"] = maxpool_every_n_layers ? Json(*maxpool_every_n_layers) : Json(nullptr);
  j["downsample_input_kernel_size"] =
      downsample_input_kernel_size ? Json(*downsample_input_kernel_size) : Json(nullptr);
  return j;
}

SimpleCoreLayerImpl::SimpleCoreLayerImpl(const SimpleCoreWrapperOptions& o, int64_t index) {
  RetinaConvOptions conv;
  conv.in_channels = o.channels.at(index);
  conv.out_channels = o.channels.at(index + 1);
  conv.temporal_kernel_size = o.temporal_kernel_sizes.at(index);
  conv.spatial_kernel_size = o.spatial_kernel_sizes.at(index);
  conv.padding = index == 0 ? o.input_padding : o.hidden_padding;
  conv.bias = false;  // the batch norm and Bias3DLayer follow
  if (o.convolution_type == "custom_separable") {
    STSeparableBatchConv3dOptions st;
    st.in_channels = conv.in_channels;
    st.out_channels = conv.out_channels;
    st.temporal_kernel_size = conv.temporal_kernel_size;
    st.spatial_kernel_size = conv.spatial_kernel_size;
    st.padding = conv.padding;
    st.bias = false;
    st_conv = register_module("conv", STSeparableBatchConv3d(st));
    conv_module_ = torch::nn::AnyModule(st_conv);
  } else if (o.convolution_type == "separable") {
    separable_conv = register_module("conv", TorchSTSeparableConv3D(conv));
    conv_module_ = torch::nn::AnyModule(separable_conv);
  } else if (o.convolution_type == "full") {
    full_conv = register_module("conv", TorchFullConv3D(conv));
    conv_module_ = torch::nn::AnyModule(full_conv);
  } else {
    time_independent_conv = register_module("conv", TimeIndependentConv3D(conv));
    conv_module_ = torch::nn::AnyModule(time_independent_conv);
  }
  norm = register_module(
      "norm", torch::nn::BatchNorm3d(torch::nn::BatchNormOptions(conv.out_channels).momentum(0.1).eps(1e-5)));
  bias = register_module("bias", Bias3DLayer(conv.out_channels));
  register_module("nonlin", torch::nn::ELU());  // no parameters; named as in the reference for printing
  if (o.dropout_rate > 0.0) dropout = register_module("dropout", torch::nn::Dropout3d(o.dropout_rate));
  if (o.maxpool_every_n_layers && index % *o.maxpool_every_n_layers == 0)
    pool = register_module("pool", torch::nn::MaxPool3d(torch::nn::MaxPool3dOptions({1, 2, 2})));
}

at::Tensor SimpleCoreLayerImpl::forward(const at::Tensor& input) {
  at::Tensor x = conv_module_.forward(input);
  // norm then bias, as the reference, but the Bias3DLayer's per-channel bias
  // folded into the batch norm's (its output is (x - mean)·invstd·w + b, so
  // adding a second bias is adding it to b): one full-size pass fewer
  // forward and no separate bias-gradient reduction backward. Autograd
  // still gives each bias parameter its gradient through the small sum.
  x = batch_norm_plus_bias(norm, bias->bias, x);
  x = torch::elu(x);
  if (dropout) x = dropout->forward(x);
  if (pool) x = pool->forward(x);
  return x;
}

at::Tensor SimpleCoreLayerImpl::weight_spatial() const {
  if (st_conv) return st_conv->weight_spatial;
  // The reference has no weight_spatial for these types; their 1 x k x k
  // conv weight is the analogue the group-sparsity terms could act on.
  if (separable_conv) return separable_conv->space_conv->weight;
  if (time_independent_conv) return time_independent_conv->conv->weight;
  return {};
}

SimpleCoreWrapper::SimpleCoreWrapper(SimpleCoreWrapperOptions options) : options_(std::move(options)) {
  // Registered first, as openretina's __init__ does, so state dict order matches.
  _input_weights_regularizer_spatial =
      register_module("_input_weights_regularizer_spatial", FlatLaplaceL23dnorm(0));
  if (!options_.color_squashing_weights.empty()) {
    color_squashing_layer = register_module("color_squashing_layer", std::make_shared<torch::nn::Module>());
    color_squashing_layer->register_parameter(
        "channel_weights", torch::tensor(options_.color_squashing_weights, torch::kFloat32), /*requires_grad=*/false);
  }
  features = register_module("features", torch::nn::Sequential());
  for (int64_t i = 0; i < options_.n_layers(); ++i) {
    layers_.push_back(SimpleCoreLayer(options_, i));
    features->push_back("layer" + std::to_string(i), layers_.back());
  }
}

at::Tensor SimpleCoreWrapper::forward_inner_layers(const at::Tensor& input, const std::string&, int64_t n) {
  at::Tensor x = input;
  if (color_squashing_layer && x.dim() == 5 && x.size(1) > 1) {
    const at::Tensor& w = color_squashing_layer->named_parameters()["channel_weights"];
    TORCH_CHECK(w.numel() == x.size(1), "the colour squashing weights have ", w.numel(), " entries, the movie ",
                x.size(1), " channels");
    x = (x * w.view({1, -1, 1, 1, 1})).sum(1, /*keepdim=*/true);
  }
  TORCH_CHECK(x.dim() == 5 && x.size(1) == options_.channels.front(),
              "the retina core expects movies of shape (batch, ", options_.channels.front(),
              ", time, height, width), got ", input.sizes());
  if (options_.downsample_input_kernel_size) {
    const auto& k = *options_.downsample_input_kernel_size;
    x = torch::avg_pool3d(x, {k[0], k[1], k[2]});
  }
  for (int64_t i = 0; i < n && i < n_layers(); ++i) x = layers_[i]->forward(x);
  return x;
}

at::Tensor SimpleCoreWrapper::forward(const at::Tensor& input) {
  at::Tensor x = forward_inner_layers(input, "", n_layers());
  // The reference cuts after the layers "to keep compatibility with hoefling model scores".
  return x.slice(2, std::min(options_.cut_first_n_frames, x.size(2)));
}

std::vector<int64_t> SimpleCoreWrapper::output_shape(const std::vector<int64_t>& s) {
  if (s.size() != 4) fail(kWhere, "the retina core needs an input shape (channels, time, height, width)");
  int64_t t = s[1], h = s[2], w = s[3];
  if (options_.downsample_input_kernel_size) {
    const auto& k = *options_.downsample_input_kernel_size;
    t = conv_length(t, k[0], 0, k[0], false);
    h = conv_length(h, k[1], 0, k[1], false);
    w = conv_length(w, k[2], 0, k[2], false);
  }
  const std::string& type = options_.convolution_type;
  for (int64_t i = 0; i < n_layers(); ++i) {
    const Padding3d& p = i == 0 ? options_.input_padding : options_.hidden_padding;
    const int64_t kt = options_.temporal_kernel_sizes[i], ks = options_.spatial_kernel_sizes[i];
    // Separable: a 1 x k x k conv, then a T x 1 x 1 conv, each with the same padding.
    const int64_t passes = type == "separable" ? 2 : 1;
    for (int64_t pass = 0; pass < passes; ++pass) {
      const bool space = type != "separable" || pass == 0;
      const bool time = (type == "custom_separable" || type == "full") || (type == "separable" && pass == 1);
      t = conv_length(t, time ? kt : 1, p.size[0], 1, p.same);
      h = conv_length(h, space ? ks : 1, p.size[1], 1, p.same);
      w = conv_length(w, space ? ks : 1, p.size[2], 1, p.same);
    }
    if (layers_[i]->pool) {
      h /= 2;
      w /= 2;
    }
  }
  t = std::max<int64_t>(0, t - options_.cut_first_n_frames);
  return {options_.channels.back(), t, h, w};
}

at::Tensor SimpleCoreWrapper::spatial_laplace() {
  if (!layers_.front()->st_conv)
    fail(kWhere, "gamma_input (spatial Laplace) needs convolution_type custom_separable, not '" +
                     options_.convolution_type + "'");
  return _input_weights_regularizer_spatial->forward(layers_.front()->st_conv->weight_spatial, false);
}

at::Tensor SimpleCoreWrapper::temporal_smoothness() {
  if (options_.convolution_type == "separable")
    return time_laplace_l2_3d_norm(layers_.front()->separable_conv->time_conv->weight, false);
  if (options_.convolution_type != "custom_separable")
    fail(kWhere, "gamma_temporal needs convolution_type custom_separable or separable, not '" +
                     options_.convolution_type + "'");
  at::Tensor total = torch::zeros({}, layers_.front()->st_conv->sin_weights.options());
  for (const auto& layer : layers_)
    total = total + temporal_smoothing(layer->st_conv->sin_weights, layer->st_conv->cos_weights);
  return total;
}

at::Tensor SimpleCoreWrapper::group_sparsity_0() {
  at::Tensor total;
  for (const auto& layer : layers_) {
    const at::Tensor w = layer->weight_spatial();
    if (!w.defined()) fail(kWhere, "gamma_in_sparse needs a conv type with spatial kernels, not 'full'");
    total = total.defined() ? total + group_sparsity_of(w) : group_sparsity_of(w);
  }
  return total;
}

at::Tensor SimpleCoreWrapper::group_sparsity() {
  at::Tensor total;
  for (size_t i = 1; i < layers_.size(); ++i) {
    const at::Tensor w = layers_[i]->weight_spatial();
    if (!w.defined()) fail(kWhere, "gamma_hidden needs a conv type with spatial kernels, not 'full'");
    total = total.defined() ? total + group_sparsity_of(w) : group_sparsity_of(w);
  }
  // One layer: no hidden layers, nothing to regularise (the reference fails on an empty stack).
  return total.defined() ? total : torch::zeros({});
}

std::map<std::string, at::Tensor> SimpleCoreWrapper::regularizer_terms() {
  std::map<std::string, at::Tensor> terms;
  at::Tensor total = torch::zeros({});
  // Lazy, as openretina: a term whose gamma is 0 is neither computed nor reported.
  const std::vector<std::tuple<const char*, double, at::Tensor (SimpleCoreWrapper::*)()>> table = {
      {"spatial_laplace", options_.gamma_input, &SimpleCoreWrapper::spatial_laplace},
      {"group_sparsity", options_.gamma_hidden, &SimpleCoreWrapper::group_sparsity},
      {"temporal_smoothness", options_.gamma_temporal, &SimpleCoreWrapper::temporal_smoothness},
      {"group_sparsity_0", options_.gamma_in_sparse, &SimpleCoreWrapper::group_sparsity_0}};
  for (const auto& [name, gamma, term] : table) {
    if (gamma == 0.0) continue;
    at::Tensor value = (this->*term)();
    terms[name] = value;
    total = total + gamma * value;
  }
  terms["total"] = total;
  return terms;
}

at::Tensor SimpleCoreWrapper::regularizer() { return regularizer_terms().at("total"); }

}  // namespace fovea::nn
