#pragma once
// The space-time separable convolution of STSeparableBatchConv3d in two steps
// (src/nn/kernels/st_separable.cpp): with the dense kernel
// W[o,i,t,y,x] = w_t[o,i,t] w_s[o,i,y,x], a convolution with W is a
// convolution with w_s over space and one with w_t over time, so each output
// costs kh kw + kt multiply-adds per (o, i) instead of kh kw kt.
#include <ATen/core/Tensor.h>

#include <array>

namespace fovea::nn {

// y[b,o] = bias[o] + sum_i (w_t[o,i] ⊗ w_s[o,i]) ⋆ x[b,i]: conv3d's
// cross-correlation with stride 1 and zero padding `pad_before` / `pad_after`
// per axis (time, height, width), as at::conv3d with the dense kernel.
//   x (B, I, T, H, W), temporal (O, I, kt), spatial (O, I, kh, kw): float32 CPU;
//   bias (O) or undefined.
// The padded input must be at least as large as the kernel. Differentiable in
// all four tensors, first order only (a backward with create_graph throws
// fovea::Error).
at::Tensor st_separable_conv3d(const at::Tensor& x, const at::Tensor& temporal, const at::Tensor& spatial,
                               const at::Tensor& bias, std::array<int64_t, 3> pad_before,
                               std::array<int64_t, 3> pad_after);

}  // namespace fovea::nn
