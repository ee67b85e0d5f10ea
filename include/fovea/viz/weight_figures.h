#pragma once
// Figures of what a model learned: conv kernels and readout weights, one
// figure per (layer, in, out) channel or per neuron, drawn as openretina's
// plot_weight_visualization / plot_weight_for_neuron and the minimodel
// tutorial's filter, W_yx and Wc plots.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fovea/viz/figure.h"

namespace fovea::viz {

// A 2-D tensor as a Grid2D (row 0 at the top) and a 1-D tensor as numbers.
Grid2D to_grid(const at::Tensor& matrix);
std::vector<double> to_vector(const at::Tensor& vector);

// A space-time separable kernel: the spatial kernel (kh, kw), the temporal
// kernel it is multiplied with (T) and, when the layer has them, the sine and
// cosine weights (K) the temporal kernel is built from (openretina's
// STSeparableBatchConv3d). Pass undefined sin/cos tensors for other layers.
Figure separable_kernel_figure(const at::Tensor& spatial, const at::Tensor& temporal, const at::Tensor& sin_weights,
                               const at::Tensor& cos_weights, const std::string& title);

// A dense space-time kernel (T, kh, kw), e.g. of a full 3-D conv or an LNP
// filter, shown through its rank-1 SVD: the spatial map and the temporal trace.
Figure spacetime_kernel_figure(const at::Tensor& kernel, const std::string& title);

// 2-D filters (O, I, kh, kw) of a V1 conv layer as a grid (input channel 0 of
// each filter unless I == 1), in `order` (default: 0..O−1), RdBu_r in ±vmax
// (default: the largest |w|).
Figure conv2d_filters_figure(const at::Tensor& weights, const std::string& title, std::vector<int64_t> order = {},
                             double vmax = 0);

// A readout of one neuron: its spatial mask (H', W') and its feature weight
// per core channel (C), as openretina's Gaussian readouts draw it.
Figure mask_readout_figure(const at::Tensor& mask, const at::Tensor& features, const std::string& title);

// minimodel's rank-1 readout of one neuron: W_yx = Wy ⊗ Wx and the Wc bars
// (red positive, blue negative), with the channels |Wc| > threshold counted.
Figure rank1_readout_figure(const at::Tensor& Wy, const at::Tensor& Wx, const at::Tensor& Wc, const std::string& title,
                            double used_threshold = 0.01);

// The neuron × channel matrix Wc (the tutorial's plot_Wc). With `sort`,
// neurons are ordered by their strongest channel and channels by their
// leading-component loading, so blocks of similar neurons show (a simple,
// deterministic stand-in for the tutorial's Rastermap sorting).
Figure wc_matrix_figure(const at::Tensor& Wc, bool sort, const std::string& title, double vmax = 0.5);

}  // namespace fovea::viz
