#pragma once
// Matrix products in oneDNN's sgemm. LibTorch's at::mm runs OpenBLAS here,
// and OpenBLAS 0.3.21 uses its AVX2 kernels on AVX-512 CPUs: at the V1
// models' shapes it reached 60–65 GFLOP/s where oneDNN's dnnl_sgemm (the
// libdnnl that LibTorch already links for its convolutions) reached 280–320,
// 81–92 % of the FMA peak (bench_gemm, bench/README.md).
#include <ATen/core/Tensor.h>

namespace fovea::nn {

// a (m, k) · b (k, n) -> (m, n), differentiable in both. With the fast
// kernels and float32 CPU tensors the product and both gradients run in
// dnnl_sgemm; anything else is at::mm.
at::Tensor matmul_2d(const at::Tensor& a, const at::Tensor& b);

// A 1×1 convolution without bias, stride 1, no padding: x (B, I, H, W),
// weight (O, I, 1, 1) -> (B, O, H, W), i.e. one (O × I) · (I × H·W) product
// per image. With the fast kernels and float32 CPU tensors those products and
// both gradients run in dnnl_sgemm; anything else is at::conv2d.
at::Tensor pointwise_conv2d(const at::Tensor& x, const at::Tensor& weight);
// The same with `groups` groups (at::conv2d(x, weight, {}, 1, 0, 1, groups)):
// weight (O, I / groups, 1, 1), output channels [g·O/groups, (g+1)·O/groups)
// from input channels [g·I/groups, (g+1)·I/groups). With the fast kernels
// one sgemm per (image, group), the pairs in parallel.
at::Tensor pointwise_conv2d(const at::Tensor& x, const at::Tensor& weight, int64_t groups);

}  // namespace fovea::nn
