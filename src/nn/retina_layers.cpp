// The small layers and regulariser terms of openretina's retina core.
#include "fovea/nn/retina_layers.h"

#include <torch/torch.h>

namespace fovea::nn {

namespace {

constexpr double kEps = 1e-6;  // openretina's regularizers.EPS

torch::nn::Conv3dOptions conv_options(const RetinaConvOptions& o, int64_t in, int64_t out,
                                      torch::ExpandingArray<3> kernel) {
  auto options = torch::nn::Conv3dOptions(in, out, kernel).stride(o.stride).bias(o.bias);
  if (o.padding.same) options.padding(torch::kSame);
  else options.padding(o.padding.size);
  return options;
}

}  // namespace

Bias3DLayerImpl::Bias3DLayerImpl(int64_t channels, double initial) : channels_(channels), initial_(initial) {
  reset();
}

void Bias3DLayerImpl::reset() {
  bias = register_parameter("bias", torch::full({1, channels_, 1, 1, 1}, initial_));
}

TorchFullConv3DImpl::TorchFullConv3DImpl(RetinaConvOptions options) : options_(options) { reset(); }

void TorchFullConv3DImpl::reset() {
  const auto& o = options_;
  _log_speed_default = register_buffer("_log_speed_default", torch::zeros({1}));
  conv = register_module("conv", torch::nn::Conv3d(conv_options(
                                     o, o.in_channels, o.out_channels,
                                     {o.temporal_kernel_size, o.spatial_kernel_size, o.spatial_kernel_size})));
}

TorchSTSeparableConv3DImpl::TorchSTSeparableConv3DImpl(RetinaConvOptions options) : options_(options) { reset(); }

void TorchSTSeparableConv3DImpl::reset() {
  const auto& o = options_;
  _log_speed_default = register_buffer("_log_speed_default", torch::zeros({1}));
  space_conv = register_module(
      "space_conv", torch::nn::Conv3d(conv_options(o, o.in_channels, o.out_channels,
                                                   {1, o.spatial_kernel_size, o.spatial_kernel_size})));
  time_conv = register_module(
      "time_conv",
      torch::nn::Conv3d(conv_options(o, o.out_channels, o.out_channels, {o.temporal_kernel_size, 1, 1})));
}

at::Tensor TorchSTSeparableConv3DImpl::forward(const at::Tensor& x) {
  return torch::exp(_log_speed_default) * time_conv->forward(space_conv->forward(x));
}

TimeIndependentConv3DImpl::TimeIndependentConv3DImpl(RetinaConvOptions options) : options_(options) { reset(); }

void TimeIndependentConv3DImpl::reset() {
  const auto& o = options_;
  conv = register_module("conv", torch::nn::Conv3d(conv_options(o, o.in_channels, o.out_channels,
                                                                 {1, o.spatial_kernel_size, o.spatial_kernel_size})));
}

void LaplaceImpl::reset() {
  filter = register_buffer("filter", torch::tensor({0.f, -1.f, 0.f, -1.f, 4.f, -1.f, 0.f, -1.f, 0.f}).view({1, 1, 3, 3}));
}

at::Tensor LaplaceImpl::forward(const at::Tensor& x) {
  return torch::conv2d(x, filter.to(x.dtype()), {}, 1, padding_);
}

at::Tensor FlatLaplaceL23dnormImpl::forward(const at::Tensor& weight, bool avg) {
  TORCH_CHECK(weight.dim() == 5 && weight.size(2) == 1, "FlatLaplaceL23dnorm expects (O, I, 1, kh, kw), got ",
              weight.sizes());
  const at::Tensor flat = weight.reshape({weight.size(0) * weight.size(1), 1, weight.size(3), weight.size(4)});
  const at::Tensor num = laplace->forward(flat).pow(2);
  const at::Tensor den = flat.pow(2);
  return avg ? num.mean() / (den.mean() + kEps) : num.sum() / (den.sum() + kEps);
}

at::Tensor time_laplace_l2_3d_norm(const at::Tensor& weight, bool avg) {
  TORCH_CHECK(weight.dim() == 5 && weight.size(3) == 1 && weight.size(4) == 1,
              "TimeLaplaceL23dnorm expects (O, I, T, 1, 1), got ", weight.sizes());
  const at::Tensor flat = weight.reshape({weight.size(0) * weight.size(1), 1, weight.size(2)});
  const at::Tensor kernel = torch::tensor({-1.f, 2.f, -1.f}, flat.options()).view({1, 1, 3});
  const at::Tensor num = torch::conv1d(flat, kernel).pow(2);
  const at::Tensor den = flat.pow(2);
  return avg ? num.mean() / (den.mean() + kEps) : num.sum() / (den.sum() + kEps);
}

at::Tensor temporal_smoothing(const at::Tensor& sin_weights, const at::Tensor& cos_weights) {
  const at::Tensor smoother =
      torch::linspace(0.1, 0.9, sin_weights.size(2), sin_weights.options()).view({1, 1, -1});
  const double n_out = static_cast<double>(sin_weights.size(0));
  return (smoother * sin_weights).pow(2).sum() / n_out + (smoother * cos_weights).pow(2).sum() / n_out;
}

at::Tensor group_sparsity_of(const at::Tensor& w) {
  const at::Tensor per_input = w.pow(2).sum({2, 3, 4}).sqrt().sum(1);   // (O)
  const at::Tensor per_output = torch::sqrt(1e-8 + w.pow(2).sum({1, 2, 3, 4}));  // (O)
  return (per_input / per_output).sum();
}

}  // namespace fovea::nn
