#pragma once
// The small layers of openretina's retina core, under the reference names
// (modules/layers/{convolutions,scaling,regularizers}.py):
//   Bias3DLayer            parameter `bias` (1, C, 1, 1, 1)
//   TorchFullConv3D        `conv` (Conv3d T x k x k), buffer `_log_speed_default`   ("full")
//   TorchSTSeparableConv3D `space_conv` (1 x k x k), `time_conv` (T x 1 x 1),
//                          buffer `_log_speed_default`                             ("separable")
//   TimeIndependentConv3D  `conv` (Conv3d 1 x k x k)                               ("time_independent")
//   FlatLaplaceL23dnorm    `laplace.filter` (1, 1, 3, 3), the spatial smoothness term
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "fovea/nn/st_separable_conv.h"

namespace fovea::nn {

// What every retina conv type is built from (the arguments of openretina's get_conv_class classes).
struct RetinaConvOptions {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int64_t temporal_kernel_size = 1;
  int64_t spatial_kernel_size = 1;
  std::array<int64_t, 3> stride{1, 1, 1};
  Padding3d padding;
  bool bias = false;  // SimpleCoreWrapper builds its convs without bias
};

// A learned per-channel offset added after the batch norm.
class Bias3DLayerImpl : public torch::nn::Cloneable<Bias3DLayerImpl> {
 public:
  explicit Bias3DLayerImpl(int64_t channels, double initial = 0.0);
  void reset() override;
  at::Tensor forward(const at::Tensor& x) { return x + bias; }
  at::Tensor bias;

 private:
  int64_t channels_;
  double initial_;
};
TORCH_MODULE(Bias3DLayer);

class TorchFullConv3DImpl : public torch::nn::Cloneable<TorchFullConv3DImpl> {
 public:
  explicit TorchFullConv3DImpl(RetinaConvOptions options);
  void reset() override;
  // The reference ignores the log speed here (its TODO), and so does this.
  at::Tensor forward(const at::Tensor& x) { return conv->forward(x); }
  torch::nn::Conv3d conv{nullptr};
  at::Tensor _log_speed_default;

 private:
  RetinaConvOptions options_;
};
TORCH_MODULE(TorchFullConv3D);

class TorchSTSeparableConv3DImpl : public torch::nn::Cloneable<TorchSTSeparableConv3DImpl> {
 public:
  explicit TorchSTSeparableConv3DImpl(RetinaConvOptions options);
  void reset() override;
  // exp(log_speed) * time_conv(space_conv(x)). Stride and padding apply to
  // both convs, as in the reference.
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv3d space_conv{nullptr}, time_conv{nullptr};
  at::Tensor _log_speed_default;

 private:
  RetinaConvOptions options_;
};
TORCH_MODULE(TorchSTSeparableConv3D);

class TimeIndependentConv3DImpl : public torch::nn::Cloneable<TimeIndependentConv3DImpl> {
 public:
  explicit TimeIndependentConv3DImpl(RetinaConvOptions options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x) { return conv->forward(x); }
  torch::nn::Conv3d conv{nullptr};

 private:
  RetinaConvOptions options_;
};
TORCH_MODULE(TimeIndependentConv3D);

// openretina's Laplace (3x3) with a persistent `filter` buffer, so the key
// `core._input_weights_regularizer_spatial.laplace.filter` exists as in its state dicts.
class LaplaceImpl : public torch::nn::Cloneable<LaplaceImpl> {
 public:
  explicit LaplaceImpl(int64_t padding = 0) : padding_(padding) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& x);  // (N, 1, h, w) -> (N, 1, h', w')
  at::Tensor filter;

 private:
  int64_t padding_;
};
TORCH_MODULE(Laplace);

// sum(Laplace(w_s)^2) / (sum(w_s^2) + 1e-6) over every (o, i) spatial kernel
// of a (O, I, 1, kh, kw) weight; `avg` uses means instead of sums.
class FlatLaplaceL23dnormImpl : public torch::nn::Cloneable<FlatLaplaceL23dnormImpl> {
 public:
  explicit FlatLaplaceL23dnormImpl(int64_t padding = 0) : padding_(padding) { reset(); }
  void reset() override { laplace = register_module("laplace", Laplace(padding_)); }
  at::Tensor forward(const at::Tensor& weight, bool avg = false);
  Laplace laplace{nullptr};

 private:
  int64_t padding_;
};
TORCH_MODULE(FlatLaplaceL23dnorm);

// sum(([-1, 2, -1] * w_t)^2) / (sum(w_t^2) + 1e-6) over every (o, i) temporal
// kernel of a (O, I, T, 1, 1) weight (openretina's TimeLaplaceL23dnorm, valid padding).
at::Tensor time_laplace_l2_3d_norm(const at::Tensor& weight, bool avg = false);

// openretina's temporal_smoothing: (sum((s * sin)^2) + sum((s * cos)^2)) / O
// with s = linspace(0.1, 0.9, K); large weights on high frequencies cost more.
at::Tensor temporal_smoothing(const at::Tensor& sin_weights, const at::Tensor& cos_weights);

// sum_o sum_i ||w[o, i]||_2 / sqrt(1e-8 + ||w[o]||^2) for a (O, I, 1, kh, kw)
// weight: a group lasso over the input channels of each output channel.
at::Tensor group_sparsity_of(const at::Tensor& weight_spatial);

}  // namespace fovea::nn
