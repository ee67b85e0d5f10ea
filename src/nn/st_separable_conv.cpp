// openretina's STSeparableBatchConv3d: the temporal basis and the kernels,
// computed as the reference computes them so that its checkpoints give the
// same outputs, then the convolution: the reference's dense kernel and
// conv3d, or (fast kernels, float32 on the CPU, stride 1) the same function
// as a spatial and a temporal convolution (kernels/st_separable.cpp).
#include "fovea/nn/st_separable_conv.h"

#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/kernels/st_separable.h"

namespace fovea::nn {

Padding3d Padding3d::from_json(const nlohmann::json& value, const std::string& field_name) {
  const std::string where = "model spec field '" + field_name + "'";
  Padding3d p;
  if (value.is_null()) return p;
  if (value.is_boolean()) {  // openretina: True -> "same", False -> 0
    p.same = value.get<bool>();
    return p;
  }
  if (value.is_string()) {
    const auto s = value.get<std::string>();
    if (s == "same") p.same = true;
    else if (s != "valid") fail(where, "padding must be \"same\", \"valid\", a bool, an int or three ints, got \"" + s + "\"");
    return p;
  }
  if (value.is_number_integer()) {
    const auto n = value.get<int64_t>();
    if (n < 0) fail(where, "padding must not be negative");
    p.size = {n, n, n};
    return p;
  }
  if (value.is_array() && value.size() == 3) {
    for (size_t i = 0; i < 3; ++i) {
      if (!value[i].is_number_integer() || value[i].get<int64_t>() < 0)
        fail(where, "padding entries must be non-negative ints, got " + value.dump());
      p.size[i] = value[i].get<int64_t>();
    }
    return p;
  }
  fail(where, "padding must be \"same\", a bool, an int or three ints, got " + value.dump());
}

nlohmann::json Padding3d::to_json() const {
  if (same) return "same";
  return nlohmann::json::array({size[0], size[1], size[2]});
}

STSeparableBatchConv3dImpl::STSeparableBatchConv3dImpl(STSeparableBatchConv3dOptions options)
    : options_(std::move(options)) {
  const auto& o = options_;
  check(o.in_channels > 0 && o.out_channels > 0, "STSeparableBatchConv3d", "channel counts must be positive");
  check(o.temporal_kernel_size > 0 && o.spatial_kernel_size > 0 && o.spatial_kernel_size2.value_or(1) > 0,
        "STSeparableBatchConv3d", "kernel sizes must be positive");
  reset();
}

void STSeparableBatchConv3dImpl::reset() {
  const auto& o = options_;
  const int64_t K = o.temporal_kernel_size / 3;
  const int64_t kw = o.spatial_kernel_size2.value_or(o.spatial_kernel_size);
  // Initialisation as openretina: 0.01 N(0, 1) for all three weight tensors.
  sin_weights = register_parameter("sin_weights", torch::randn({o.out_channels, o.in_channels, K}) * 0.01);
  cos_weights = register_parameter("cos_weights", torch::randn({o.out_channels, o.in_channels, K}) * 0.01);
  weight_spatial = register_parameter(
      "weight_spatial", torch::randn({o.out_channels, o.in_channels, 1, o.spatial_kernel_size, kw}) * 0.01);
  if (o.bias) bias = register_parameter("bias", torch::zeros({o.out_channels}));
  // The "batch adaptation" log speed used when no session is given.
  _log_speed_default = register_buffer("_log_speed_default", torch::zeros({1}));
}

std::pair<at::Tensor, at::Tensor> STSeparableBatchConv3dImpl::temporal_basis(const at::Tensor& stretches, int64_t T) {
  const int64_t K = T / 3;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(stretches.device());
  // tau_j = j - T: the kernel is applied as a cross-correlation, so j = T - 1
  // (tau = -1) meets the newest frame, where the mask is close to 1.
  const at::Tensor time = torch::arange(T, f32) - static_cast<double>(T);
  const at::Tensor stretched = stretches * time;
  // Same operation order as the reference (stretched * 2 * pi / T) to stay bit-close.
  const at::Tensor freq = stretched * 2 * M_PI / static_cast<double>(T);
  // mask_tf: 1 / (1 + exp(-time - int(T * 0.95) / stretch)); int() truncates.
  const double offset = static_cast<double>(static_cast<int64_t>(static_cast<double>(T) * 0.95));
  const at::Tensor mask = 1 / (1 + torch::exp(-time - offset / stretches));
  if (K == 0) return {torch::zeros({0, T}, f32), torch::zeros({0, T}, f32)};
  // All K harmonics at once, as the reference (freq * arange(K).view(-1, 1)):
  // a handful of ops per forward instead of four per harmonic, which an MEI
  // step (batch 1) otherwise spends much of its time dispatching.
  const at::Tensor phase = freq.unsqueeze(0) * torch::arange(K, f32).unsqueeze(1);  // (K, T)
  return {mask * torch::sin(phase), mask * torch::cos(phase)};
}

at::Tensor STSeparableBatchConv3dImpl::temporal_kernels(const at::Tensor& log_speed) const {
  const at::Tensor speed = log_speed.defined() ? log_speed : _log_speed_default;
  auto [sines, cosines] = temporal_basis(torch::exp(speed), options_.temporal_kernel_size);
  // w_t[o, i, t] = sum_k sin_w[o, i, k] sin_k(t) + cos_w[o, i, k] cos_k(t), summed as the reference sums.
  return (sin_weights.unsqueeze(-1) * sines.unsqueeze(0).unsqueeze(0)).sum(2) +
         (cos_weights.unsqueeze(-1) * cosines.unsqueeze(0).unsqueeze(0)).sum(2);
}

at::Tensor STSeparableBatchConv3dImpl::spatial_kernels() const { return weight_spatial.select(2, 0); }

at::Tensor STSeparableBatchConv3dImpl::dense_kernel(const at::Tensor& log_speed) const {
  // einsum("oitxx,oixhw->oithw"): an outer product per (o, i).
  return temporal_kernels(log_speed).unsqueeze(-1).unsqueeze(-1) * weight_spatial;
}

at::Tensor STSeparableBatchConv3dImpl::forward_with_log_speed(const at::Tensor& x, const at::Tensor& log_speed) {
  TORCH_CHECK(x.dim() == 5 && x.size(1) == options_.in_channels, "STSeparableBatchConv3d expects (batch, ",
              options_.in_channels, ", time, height, width), got ", x.sizes());
  const auto& s = options_.stride;
  const std::array<int64_t, 3> k{options_.temporal_kernel_size, weight_spatial.size(3), weight_spatial.size(4)};
  std::array<int64_t, 3> before = options_.padding.size, after = options_.padding.size;
  if (options_.padding.same)  // as PyTorch: k - 1 in all, the smaller half before
    for (int d = 0; d < 3; ++d) before[d] = (k[d] - 1) / 2, after[d] = k[d] - 1 - before[d];
  bool fast = use_fast_cpu_kernel(x) && use_fast_cpu_kernel(weight_spatial) && s == std::array<int64_t, 3>{1, 1, 1} &&
              x.numel() > 0;
  for (int d = 0; d < 3; ++d) fast = fast && x.size(2 + d) + before[d] + after[d] >= k[d];
  // Anything else (other devices, dtypes and strides, and invalid shapes, for LibTorch's own error) is the reference.
  if (fast) {
    nn::Float32Kernel f32;  // in a bf16 autocast region: float32 in and out (kernel_set.h)
    return st_separable_conv3d(nn::Float32Kernel::input(x), temporal_kernels(log_speed), spatial_kernels(), bias,
                               before, after);
  }
  const at::Tensor weight = dense_kernel(log_speed);
  if (options_.padding.same)
    return at::conv3d(x, weight, bias, {s[0], s[1], s[2]}, "same");
  const auto& p = options_.padding.size;
  return at::conv3d(x, weight, bias, {s[0], s[1], s[2]}, {p[0], p[1], p[2]});
}

at::Tensor STSeparableBatchConv3dImpl::forward(const at::Tensor& x) {
  return forward_with_log_speed(x, _log_speed_default);
}

}  // namespace fovea::nn
