#pragma once
// openretina's space-time separable convolution (STSeparableBatchConv3d,
// modules/layers/convolutions.py), parameter for parameter:
//   sin_weights, cos_weights   (O, I, K) with K = floor(T_k / 3)
//   weight_spatial             (O, I, 1, kh, kw)
//   bias                       (O), optional
//   _log_speed_default         buffer [1] = 0
// The temporal kernel is a masked sine/cosine series whose time axis is
// stretched by exp(log_speed). With the reference kernels (and for other
// devices, dtypes or strides) the dense kernel W = w_t ⊗ w_s is rebuilt and one
// conv3d runs, as in the reference; the fast kernels (float32 on the CPU,
// stride 1) compute the same function as a spatial and a temporal convolution,
// kh kw + kt multiply-adds per (o, i) and output instead of kh kw kt
// (kernels/st_separable.h).
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fovea::nn {

// Padding of a 3-D convolution as openretina accepts it: "same", or one size
// per axis (an int n means (n, n, n)). From JSON: true -> "same", false -> 0,
// an int, a list of three ints, or the strings "same" / "valid".
struct Padding3d {
  bool same = false;
  std::array<int64_t, 3> size{0, 0, 0};  // (time, height, width) when !same

  static Padding3d from_json(const nlohmann::json& value, const std::string& field_name);
  nlohmann::json to_json() const;
};

struct STSeparableBatchConv3dOptions {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int64_t temporal_kernel_size = 1;
  int64_t spatial_kernel_size = 1;
  std::optional<int64_t> spatial_kernel_size2;  // width of the kernel; defaults to spatial_kernel_size
  std::array<int64_t, 3> stride{1, 1, 1};
  Padding3d padding;
  bool bias = true;
};

class STSeparableBatchConv3dImpl : public torch::nn::Cloneable<STSeparableBatchConv3dImpl> {
 public:
  explicit STSeparableBatchConv3dImpl(STSeparableBatchConv3dOptions options);
  void reset() override;

  // x: (B, I, T, H, W) -> (B, O, T', H', W'), with the default log speed.
  at::Tensor forward(const at::Tensor& x);
  // The same with an explicit log speed (shape [1]), e.g. a per-session one.
  at::Tensor forward_with_log_speed(const at::Tensor& x, const at::Tensor& log_speed);

  // The temporal kernels (O, I, T_k) at the given log speed (default: the buffer).
  at::Tensor temporal_kernels(const at::Tensor& log_speed = {}) const;
  // The spatial kernels (O, I, kh, kw).
  at::Tensor spatial_kernels() const;
  // The dense kernel (O, I, T_k, kh, kw) that forward convolves with.
  at::Tensor dense_kernel(const at::Tensor& log_speed = {}) const;

  // The masked sine and cosine bases, each (K, T): for stretch s = exp(log_speed)
  // and tau_j = j - T, mask_j = sigmoid(tau_j + floor(0.95 T) / s),
  // phi_j = 2 pi s tau_j / T, sin_k = mask sin(k phi), cos_k = mask cos(k phi).
  static std::pair<at::Tensor, at::Tensor> temporal_basis(const at::Tensor& stretches, int64_t T);

  const STSeparableBatchConv3dOptions& options() const { return options_; }

  at::Tensor sin_weights, cos_weights, weight_spatial, bias, _log_speed_default;

 private:
  STSeparableBatchConv3dOptions options_;
};
TORCH_MODULE(STSeparableBatchConv3d);

}  // namespace fovea::nn
