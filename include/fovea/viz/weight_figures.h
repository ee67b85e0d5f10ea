#pragma once
// Figures of what a model learned: conv kernels and readout weights, one
// figure per (layer, in, out) channel or per neuron, drawn as openretina's
// plot_weight_visualization / plot_weight_for_neuron and the minimodel
// tutorial's filter, W_yx and Wc plots.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fovea/nn/st_separable_conv.h"
#include "fovea/viz/figure.h"

namespace fovea::viz {

// A 2-D tensor as a Grid2D (row 0 at the top) and a 1-D tensor as numbers.
Grid2D to_grid(const at::Tensor& matrix);
std::vector<double> to_vector(const at::Tensor& vector);

// ---- One (in, out) channel of a retina conv layer, as openretina's
// STSeparableBatchConv3d.plot_weights(in, out) draws it ----

// openretina's centre-positive rule for a spatial kernel (kh, kw): with
// cx = kh/2 and cy = kw/2 (rounded down), true when the mean of
// spatial[max(cx−3, 0) : cx+2, max(cy−3, 0) : cy+2] is negative (rows and
// columns 2..6 of an 11×11 kernel, 0..3 of a 5×5 one; an empty window, which
// no kernel of 1×1 or larger has, flips nothing).
bool spatial_center_negative(const at::Tensor& spatial);

// The numbers one channel figure shows. Every tensor is a float64 CPU copy:
// drawing never writes into the model (openretina, on the CPU, writes its
// sign flip back into the parameters; fovea does not).
struct SeparableChannelPanels {
  int64_t in_channel = 0, out_channel = 0;
  at::Tensor spatial;                   // (kh, kw), negated when `flipped`
  at::Tensor temporal;                  // (T), negated when `flipped`; undefined: no temporal filter
  at::Tensor sin_weights, cos_weights;  // (K), negated when `flipped`; undefined for layers without them
  bool flipped = false;                 // spatial_center_negative(the stored spatial kernel)
  double spatial_limit = 0;   // colour limits ±spatial_limit: max |spatial weight| over the whole layer
  double temporal_limit = 0;  // y-limits ±temporal_limit: max |temporal kernel| over the whole layer
  double sin_cos_limit = 0;   // y-limits ±sin_cos_limit: 1.1 · max(|sin|, |cos|) over the whole layer
};

// From a layer's tensors: weight_spatial (O, I, kh, kw) or (O, I, 1, kh, kw);
// temporal (O, I, T) or undefined; sin and cos (O, I, K), both or neither.
// fovea::Error for a channel out of range or mismatched shapes.
SeparableChannelPanels separable_channel_panels(const at::Tensor& weight_spatial, const at::Tensor& temporal,
                                                const at::Tensor& sin_weights, const at::Tensor& cos_weights,
                                                int64_t in_channel, int64_t out_channel);
// Of an STSeparableBatchConv3d, with its temporal kernels at the default log
// speed (the layer's _log_speed_default, not a session's), as openretina plots.
SeparableChannelPanels separable_channel_panels(const nn::STSeparableBatchConv3dImpl& conv, int64_t in_channel,
                                                int64_t out_channel);
// TimeIndependentConv3D's weight (O, I, 1, kh, kw): the spatial kernel with
// a colour scale of its own (±max |kernel|), no temporal filter.
SeparableChannelPanels time_independent_channel_panels(const at::Tensor& weight, int64_t in_channel,
                                                       int64_t out_channel);
// fovea's figure of a full 3-D conv kernel (openretina has none): each
// kernel (T, kh, kw) of the layer (O, I, T, kh, kw) as its rank-1 SVD,
// temporal · spatial with max |spatial| = 1, limits over the whole layer.
SeparableChannelPanels full_conv_channel_panels(const at::Tensor& weight, int64_t in_channel, int64_t out_channel);

// figsize (18, 6): "Spatial Weight" (RdBu_r in ±spatial_limit, imshow axes,
// a vertical colour bar), "Temporal Weight" (the trace against its index,
// y in ±temporal_limit) and, with sin/cos weights, "Sin/Cos Weights" (lines
// "sin" and "cos" with a legend, y in ±sin_cos_limit). Without a temporal
// filter the second panel is empty, titled "No temporal filter", and there
// is no third. Suptitle "Weights for in_channel=<in> out_channel=<out>".
Figure separable_channel_figure(const SeparableChannelPanels& panels);

// ---- Readout neurons ----

// A session's readout drawn as openretina's GaussianMaskReadout.plot_weight_for_neuron:
// every neuron's spatial mask and channel weights, and the limits shared by
// the session's figures.
struct MaskReadoutPanels {
  at::Tensor masks;     // (N, H', W'), float64 copy
  at::Tensor features;  // (N, C), float64 copy
  double mask_limit = 0;                    // colour limits ±max |mask| over all neurons
  double feature_min = 0, feature_max = 0;  // bar y-limits: min and max over all neurons' features
};
// masks (N, H', W'), features (N, C).
MaskReadoutPanels mask_readout_panels(const at::Tensor& masks, const at::Tensor& features);

// figsize (12, 6): left "Readout Mask" (mask of `neuron`, RdBu_r in
// ±mask_limit, imshow axes, no colour bar), right `feature_title` (one bar
// per core channel, y-limits (feature_min, feature_max)). No suptitle, as
// the reference. The legacy SpatialXFeature3d readout titles the bars
// "Readout feature weights". fovea::Error for a neuron out of range.
Figure mask_readout_neuron_figure(const MaskReadoutPanels& panels, int64_t neuron,
                                  const std::string& feature_title = "Readout Feature Weights");

// An ensemble's neuron: one row of the two panels per member (each member's
// own session limits), titled "member <m>: ...".
Figure mask_readout_ensemble_figure(const std::vector<MaskReadoutPanels>& members, int64_t neuron,
                                    const std::string& feature_title = "Readout Feature Weights");

// PointGaussianReadout's read-out positions as masks: in eval mode each
// neuron reads its features at mu (clamped to [−1, 1]) by bilinear
// interpolation (grid_sample, align_corners=True; mu[..., 0] runs along the
// width), i.e. a mask of at most four non-zero weights summing to 1.
// mu (1, N, 1, 2) or (N, 2) -> (N, h, w).
at::Tensor point_gaussian_masks(const at::Tensor& mu, int64_t h, int64_t w);

// ---- fovea's figures for kernels without a reference figure ----

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

// A readout of one neuron on its own: its spatial mask (H', W') and its
// feature weight per core channel (C), the limits from this neuron alone
// (mask_readout_neuron_figure with a one-neuron session) and `title` on top.
Figure mask_readout_figure(const at::Tensor& mask, const at::Tensor& features, const std::string& title);

// Rows of kernels (LNP filters): row r shows spatial[r] (C, H, W) as one
// H × (C·W) RdBu_r map with a black outline per channel (limits ±max |spatial|
// over all rows) and, when `temporal` (R, C', T) is defined, the traces
// temporal[r] in the channel colours (black when C' ≠ C).
Figure kernel_rows_figure(const at::Tensor& spatial, const at::Tensor& temporal, const std::string& title);

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
