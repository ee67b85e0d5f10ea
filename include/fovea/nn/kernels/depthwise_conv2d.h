#pragma once
// Depthwise 2-D convolution (one k_h × k_w filter per channel, stride 1, no
// bias): the spatial convolution of minimodel's depthwise-separable layers.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace fovea::nn {

// The same function as at::conv2d(input, weight, {}, 1, padding, 1, C) for
// input (B, C, H, W) and weight (C, 1, k_h, k_w). With the fast kernels
// selected and float32 CPU tensors it runs fovea's kernel, whose forward and
// first-order backward are written by hand (a double backward, i.e. a
// backward with create_graph, throws fovea::Error); otherwise at::conv2d.
// The fast kernel returns a contiguous (NCHW) tensor for any input layout.
at::Tensor depthwise_conv2d(const at::Tensor& input, const at::Tensor& weight, std::array<int64_t, 2> padding);

}  // namespace fovea::nn
