// minimodel's convolutional core, the tutorial's one-layer core and the
// block-averaging stage of the ridge baseline.
#include "fovea/nn/v1_cores.h"

#include <torch/torch.h>

#include <array>
#include <optional>

#include "fovea/nn/batch_norm_sync.h"
#include "fovea/nn/gather_rows.h"
#include "fovea/nn/kernels/depthwise_conv2d.h"
#include "fovea/nn/kernels/gemm.h"
#include "json_fields.h"

namespace fovea::nn {

namespace {

at::Tensor activate(const at::Tensor& x, const std::string& activation) {
  if (activation == "elu") return torch::elu(x);
  if (activation == "relu") return torch::relu(x);
  return x;
}

// The same, overwriting x: for a tensor the layer has just made and nothing
// else holds (the BN output: BN's backward keeps its input, not its output),
// so that the activation needs no second buffer of the layer's size.
at::Tensor activate_in_place(at::Tensor x, const std::string& activation) {
  if (activation == "elu") return torch::elu_(x);
  if (activation == "relu") return torch::relu_(x);
  return x;
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t groups = 1,
                            bool bias = false) {
  auto conv = torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).padding(k / 2).stride(stride).groups(groups).bias(bias));
  // minimodel initialises every conv weight with xavier_normal_.
  torch::nn::init::xavier_normal_(conv->weight);
  return conv;
}

// The padding of a conv without bias, stride or dilation, zero-padded by
// sizes (minimodel's convolutions), or nothing.
std::optional<std::array<int64_t, 2>> plain_padding(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  auto ones = [](const torch::ExpandingArray<2>& a) { return a->at(0) == 1 && a->at(1) == 1; };
  if (conv.bias.defined() || !ones(o.stride()) || !ones(o.dilation()) || !padding ||
      !c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()))
    return std::nullopt;
  return std::array<int64_t, 2>{(*padding)->at(0), (*padding)->at(1)};
}

// The padding of a depthwise conv that depthwise_conv2d computes, or nothing.
std::optional<std::array<int64_t, 2>> depthwise_padding(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  if (o.groups() != o.in_channels() || o.in_channels() != o.out_channels()) return std::nullopt;
  return plain_padding(conv);
}

// layer0's conv: from one input channel, single_channel_conv2d (its weight
// gradient is fovea's kernel with the fast kernels).
at::Tensor standard_conv(torch::nn::Conv2d& conv, const at::Tensor& x) {
  const auto& o = conv->options;
  if (o.in_channels() == 1 && o.groups() == 1)
    if (auto padding = plain_padding(*conv)) return single_channel_conv2d(x, conv->weight, *padding);
  return conv->forward(x);
}

// A 1×1 conv that pointwise_conv2d computes: no bias, stride 1, no padding, one group.
bool plain_pointwise(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  auto all = [](const torch::ExpandingArray<2>& a, int64_t v) { return a->at(0) == v && a->at(1) == v; };
  return !conv.bias.defined() && o.groups() == 1 && all(o.kernel_size(), 1) && all(o.stride(), 1) &&
         all(o.dilation(), 1) && padding && all(*padding, 0);
}

// The 1×1 convs of a separable layer: oneDNN GEMMs with the fast kernels (pointwise_conv2d).
at::Tensor pointwise(torch::nn::Conv2d& conv, const at::Tensor& x) {
  return plain_pointwise(*conv) ? pointwise_conv2d(x, conv->weight) : conv->forward(x);
}

void check_activation(const std::string& activation) {
  if (activation != "elu" && activation != "relu" && activation != "none")
    fail("model spec field 'activation'", "must be elu, relu or none, got '" + activation + "'");
}

}  // namespace

MinimodelCoreOptions MinimodelCoreOptions::from_json(const Json& spec) {
  MinimodelCoreOptions o;
  o.in_channels = field<int64_t>(spec, "in_channels", o.in_channels);
  o.n_layers = field<int64_t>(spec, "n_layers", o.n_layers);
  o.n_conv = field<int64_t>(spec, "n_conv", o.n_conv);
  o.n_conv_mid = field<int64_t>(spec, "n_conv_mid", o.n_conv_mid);
  o.kernel_size = field<std::vector<int64_t>>(spec, "kernel_size", o.kernel_size);
  o.activation = field<std::string>(spec, "activation", o.activation);
  o.pool = field<bool>(spec, "pool", o.pool);
  o.avgpool = field<bool>(spec, "avgpool", o.avgpool);
  o.depth_separable = field<bool>(spec, "depth_separable", o.depth_separable);
  o.use_bn = field<bool>(spec, "use_bn", o.use_bn);
  o.out_1x1 = field<bool>(spec, "out_1x1", o.out_1x1);
  o.bn_momentum = field<double>(spec, "bn_momentum", o.bn_momentum);
  check_activation(o.activation);
  if (o.n_layers < 1) fail("model spec field 'n_layers'", "must be at least 1");
  if (o.n_conv < 1 || o.n_conv_mid < 1) fail("model spec field 'n_conv'", "channel counts must be positive");
  if (o.kernel_size.empty()) fail("model spec field 'kernel_size'", "must name at least the first layer's size");
  for (auto k : o.kernel_size)
    if (k < 1) fail("model spec field 'kernel_size'", "sizes must be positive");
  // minimodel appends 5 for every layer beyond the listed ones (without mutating a shared default here).
  while (static_cast<int64_t>(o.kernel_size.size()) < o.n_layers) o.kernel_size.push_back(5);
  return o;
}

Json MinimodelCoreOptions::to_json() const {
  return Json{{"type", "minimodel_core"}, {"in_channels", in_channels}, {"n_layers", n_layers},
              {"n_conv", n_conv}, {"n_conv_mid", n_conv_mid}, {"kernel_size", kernel_size},
              {"activation", activation}, {"pool", pool}, {"avgpool", avgpool},
              {"depth_separable", depth_separable}, {"use_bn", use_bn}, {"out_1x1", out_1x1},
              {"bn_momentum", bn_momentum}};
}

MinimodelLayerImpl::MinimodelLayerImpl(const MinimodelCoreOptions& o, int64_t index)
    : activation_(o.activation) {
  const int64_t in = index == 0 ? o.in_channels : (index == 1 ? o.n_conv : o.n_conv_mid);
  const int64_t out = index == 0 ? o.n_conv : o.n_conv_mid;
  const int64_t k = o.kernel_size.at(index);
  const bool standard = index == 0 || !o.depth_separable;
  if (standard) {
    // The stride argument of build_model is ignored: stride 2 only replaces pooling.
    conv = register_module("conv", make_conv(in, out, k, (index == 0 && !o.pool) ? 2 : 1));
    pool_ = o.pool;
    avgpool_ = o.avgpool;
  } else {
    auto ds = register_module("ds_conv", std::make_shared<torch::nn::Module>());
    in_depth_conv = ds->register_module("in_depth_conv", make_conv(in, out, 1));
    spatial_conv = ds->register_module("spatial_conv", make_conv(out, out, k, 1, out));
    if (o.out_1x1) out_depth_conv = ds->register_module("out_depth_conv", make_conv(out, out, 1));
  }
  if (o.use_bn)
    norm = register_module(
        "norm", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(1e-5).momentum(o.bn_momentum)));
}

at::Tensor MinimodelLayerImpl::forward(at::Tensor x) {
  if (conv) return forward_after_conv(standard_conv(conv, x));
  x = pointwise(in_depth_conv, x);
  // The module keeps the parameter (names, checkpoints); fovea's depthwise
  // kernel computes the convolution wherever it is the same function.
  if (auto padding = depthwise_padding(*spatial_conv))
    x = depthwise_conv2d(x, spatial_conv->weight, *padding);
  else
    x = spatial_conv->forward(x);
  if (out_depth_conv) x = pointwise(out_depth_conv, x);
  return forward_after_conv(x);
}

at::Tensor MinimodelLayerImpl::forward_after_conv(at::Tensor x) {
  x = norm ? activate_in_place(batch_norm(norm, x), activation_) : activate(x, activation_);
  if (pool_) x = avgpool_ ? torch::avg_pool2d(x, 2) : torch::max_pool2d(x, 2);
  return x;
}

PooledFirstConv PooledFirstConv::from_conv_output(const at::Tensor& conv_output) {
  torch::NoGradGuard no_grad;
  PooledFirstConv p;
  p.max = torch::max_pool2d(conv_output, 2);
  p.min = -torch::max_pool2d(-conv_output, 2);
  at::Tensor x = conv_output.to(torch::kFloat64);
  p.sum = x.sum({2, 3});
  p.sum_sq = x.square().sum({2, 3});
  p.count = conv_output.size(2) * conv_output.size(3);
  return p;
}

PooledFirstConv PooledFirstConv::select(const at::Tensor& rows) const {
  return {gather_rows(max, rows), gather_rows(min, rows), gather_rows(sum, rows), gather_rows(sum_sq, rows), count};
}

PooledFirstConv PooledFirstConv::cat(const std::vector<PooledFirstConv>& parts) {
  TORCH_CHECK(!parts.empty(), "PooledFirstConv::cat needs at least one part");
  std::vector<at::Tensor> max, min, sum, sum_sq;
  for (const auto& p : parts) {
    TORCH_CHECK(p.count == parts.front().count, "PooledFirstConv::cat: the parts' maps differ in size");
    max.push_back(p.max);
    min.push_back(p.min);
    sum.push_back(p.sum);
    sum_sq.push_back(p.sum_sq);
  }
  return {torch::cat(max), torch::cat(min), torch::cat(sum), torch::cat(sum_sq), parts.front().count};
}

bool MinimodelLayerImpl::starts_from_pooled() const {
  return conv && pool_ && !avgpool_ && (activation_ == "relu" || activation_ == "elu" || activation_ == "none");
}

at::Tensor MinimodelLayerImpl::forward_from_pooled(const PooledFirstConv& pooled) {
  TORCH_CHECK(starts_from_pooled(), "this layer cannot start from pooled conv outputs");
  const auto options = pooled.max.options();
  const int64_t channels = pooled.max.size(1);
  at::Tensor scale = torch::ones({channels}, options), shift = torch::zeros({channels}, options);
  if (norm) {
    // BatchNorm2d's forward, written as scale·x + shift per channel.
    const auto& o = norm->options;
    at::Tensor mean, var;
    if (is_training() || !o.track_running_stats()) {
      const double n = static_cast<double>(pooled.sum.size(0) * pooled.count);
      at::Tensor mean64 = pooled.sum.sum(0) / n;
      at::Tensor var64 = (pooled.sum_sq.sum(0) / n - mean64.square()).clamp_min(0);  // biased, as BN normalises
      mean = mean64.to(options.dtype());
      var = var64.to(options.dtype());
      if (is_training() && o.track_running_stats()) {
        torch::NoGradGuard no_grad;
        norm->num_batches_tracked += 1;
        const double factor =
            o.momentum() ? *o.momentum() : 1.0 / static_cast<double>(norm->num_batches_tracked.item<int64_t>());
        norm->running_mean.mul_(1 - factor).add_(mean, factor);
        norm->running_var.mul_(1 - factor).add_(var * (n / std::max(n - 1, 1.0)), factor);
      }
    } else {
      mean = norm->running_mean;
      var = norm->running_var;
    }
    scale = torch::rsqrt(var + o.eps());
    if (o.affine()) scale = scale * norm->weight;
    shift = -mean * scale;
    if (o.affine()) shift = shift + norm->bias;
  }
  auto per_channel = [](const at::Tensor& t) { return t.view({1, -1, 1, 1}); };
  at::Tensor x = per_channel(scale.clamp_min(0)) * pooled.max + per_channel(scale.clamp_max(0)) * pooled.min +
                 per_channel(shift);
  return activate_in_place(x, activation_);
}

MinimodelCore::MinimodelCore(const MinimodelCoreOptions& options) : options_(options) {
  auto features = register_module("features", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < options_.n_layers; ++i)
    layers_.push_back(features->register_module("layer" + std::to_string(i), MinimodelLayer(options_, i)));
}

at::Tensor MinimodelCore::forward_layers(const at::Tensor& input, int64_t n) {
  at::Tensor x = input;
  for (int64_t i = 0; i < n; ++i) x = layers_[i]->forward(x);
  return x;
}

at::Tensor MinimodelCore::forward_from_pooled_first_conv(const PooledFirstConv& pooled) {
  at::Tensor x = layers_[0]->forward_from_pooled(pooled);
  for (int64_t i = 1; i < n_layers(); ++i) x = layers_[i]->forward(x);
  return x;
}

at::Tensor MinimodelCore::forward(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == 4 && input.size(1) == options_.in_channels,
              "the V1 core expects images of shape (batch, ", options_.in_channels,
              ", height, width), got ", input.sizes());
  return forward_layers(input, n_layers());
}

std::array<int64_t, 3> MinimodelCore::conv_output_shape(int64_t i, int64_t h, int64_t w) const {
  const int64_t k = options_.kernel_size.at(i), channels = i == 0 ? options_.n_conv : options_.n_conv_mid;
  if (i == 0 && !options_.pool)  // stride-2 conv with padding k/2
    return {channels, (h + 2 * (k / 2) - k) / 2 + 1, (w + 2 * (k / 2) - k) / 2 + 1};
  // Padding k/2: even kernels grow the map by one, as in PyTorch.
  return {channels, h + 2 * (k / 2) - k + 1, w + 2 * (k / 2) - k + 1};
}

std::vector<int64_t> MinimodelCore::output_shape(const std::vector<int64_t>& input_shape) {
  // Shapes follow from the layer arithmetic; no forward pass needed (minimodel
  // runs a zero image through the core in train mode, which also disturbs the
  // BatchNorm statistics: see README, "Fixed in fovea").
  int64_t h = input_shape.at(1), w = input_shape.at(2);
  for (int64_t i = 0; i < options_.n_layers; ++i) {
    const auto conv = conv_output_shape(i, h, w);
    h = conv[1];
    w = conv[2];
    const bool standard = i == 0 || !options_.depth_separable;
    if (standard && options_.pool) {
      h /= 2;
      w /= 2;
    }
  }
  return {options_.n_layers == 1 ? options_.n_conv : options_.n_conv_mid, h, w};
}

SingleConvCore::SingleConvCore(int64_t in_channels, int64_t channels, int64_t kernel_size) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, channels, kernel_size)
                                                       .padding(kernel_size / 2)
                                                       .bias(true)));
}

at::Tensor SingleConvCore::forward(const at::Tensor& input) { return torch::elu(conv->forward(input)); }

std::vector<int64_t> SingleConvCore::output_shape(const std::vector<int64_t>& s) {
  const int64_t k = conv->options.kernel_size()->at(0);
  return {conv->options.out_channels(), s.at(1) + 2 * (k / 2) - k + 1, s.at(2) + 2 * (k / 2) - k + 1};
}

BlockAverageCore::BlockAverageCore(int64_t factor) : factor_(factor) {
  if (factor < 1) fail("model spec field 'factor'", "block size must be at least 1");
}

at::Tensor BlockAverageCore::forward(const at::Tensor& input) {
  if (factor_ == 1) return input;
  // As the tutorial: crop to a multiple of b, then average b x b blocks.
  const int64_t h = input.size(2) / factor_ * factor_, w = input.size(3) / factor_ * factor_;
  return torch::avg_pool2d(input.narrow(2, 0, h).narrow(3, 0, w), factor_);
}

std::vector<int64_t> BlockAverageCore::output_shape(const std::vector<int64_t>& s) {
  return {s.at(0), s.at(1) / factor_, s.at(2) / factor_};
}

}  // namespace fovea::nn
