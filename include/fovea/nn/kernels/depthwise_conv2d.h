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

// The same function as at::conv2d(input, weight, {}, 1, padding) for input
// (B, 1, H, W) and weight (C, 1, k_h, k_w): the V1 models' first conv (one
// image channel, 16 filters of 25×25). With the fast kernels and float32 CPU
// tensors the forward pass and the input's gradient are LibTorch's (oneDNN
// runs them well) and the weights' gradient is fovea's: the tap correlations
// of the depthwise kernel, each image plane shared by four filters at a time
// (oneDNN's weight gradient for one input channel runs at a fifth of its
// forward's speed). Otherwise at::conv2d.
at::Tensor single_channel_conv2d(const at::Tensor& input, const at::Tensor& weight, std::array<int64_t, 2> padding);

}  // namespace fovea::nn
