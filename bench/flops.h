#pragma once
// Floating-point operations of the benchmarked work, counted from the layer
// shapes (2 per multiply-add; BN, activations, pooling and regularisers are
// not counted). Each side is credited with the operations of its own
// algorithm: fovea's separable retina convolution does far fewer than the
// baseline's dense conv3d, and a cached frozen layer costs nothing per epoch.
// A backward pass costs one forward's operations per gradient it computes:
// the weights' and, for every layer whose input needs it, the input's.
#include <algorithm>
#include <cstdint>
#include <vector>

namespace fovea::bench {

// A model's forward operations on one input, split into its first layer (no
// input gradient in training; frozen and cacheable in a minimodel) and the rest.
struct ForwardFlop {
  double first_layer = 0;
  double rest = 0;
  double total() const { return first_layer + rest; }
};

// One training step's operations per input: forward, the weight gradients of
// every layer and the input gradients of all but the first; `first_layer`
// scales the first layer's share (2: trained, 1: frozen and recomputed, 0:
// frozen and cached).
inline double training_flop(const ForwardFlop& f, double first_layer) { return first_layer * f.first_layer + 3.0 * f.rest; }

// One MEI step: forward and the stimulus's gradient through every layer, and
// the weights' gradients unless they are frozen (openretina does not freeze
// them, nor does the baseline; `fovea mei` does).
inline double mei_step_flop(const ForwardFlop& f, bool weight_gradients) {
  return (weight_gradients ? 3.0 : 2.0) * f.total();
}

// minimodel's V1 model (layer0 conv k0, 2×2 pool, separable layer k1 with an
// optional 1×1 out conv, rank-1 readout of `neurons`) on one H×W image.
inline ForwardFlop v1_forward_flop(int64_t n_conv, int64_t n_mid, int64_t k0, int64_t k1, bool out_1x1, int64_t neurons,
                                   int64_t H = 66, int64_t W = 130) {
  const double hw = static_cast<double>(H / 2) * (W / 2);
  ForwardFlop f;
  f.first_layer = 2.0 * n_conv * k0 * k0 * H * W;
  f.rest = 2.0 * hw * (n_conv * n_mid + n_mid * k1 * k1 + (out_1x1 ? n_mid * n_mid : 0));
  f.rest += 2.0 * neurons * n_mid * hw;  // the readout's GEMM over (c, y, x)
  return f;
}

// One layer of openretina's space-time separable core: per pair of channels a
// kt×1×1 temporal kernel times a 1×ks×ks spatial one, zero padding (pt, ps, ps).
struct STLayerShape {
  int64_t in, out, kt, ks, pt, ps;
};

// The retina model (core layers, then a Gaussian mask readout of `neurons`
// cells: one dot product over (c, y, x) per cell and output frame) on one clip
// of T×H×W. `separable`: fovea's two-step convolution, spatial then temporal
// or the other way round, whichever needs fewer operations (as its kernel
// picks, st_separable.cpp); otherwise the dense conv3d of the kernel
// w_t ⊗ w_s that openretina builds.
inline ForwardFlop retina_forward_flop(const std::vector<STLayerShape>& layers, int64_t neurons, int64_t T, int64_t H,
                                       int64_t W, bool separable) {
  ForwardFlop f;
  int64_t c = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& s = layers[l];
    const int64_t to = T + 2 * s.pt - s.kt + 1, ho = H + 2 * s.ps - s.ks + 1, wo = W + 2 * s.ps - s.ks + 1;
    const double out_positions = static_cast<double>(to) * ho * wo, taps_s = static_cast<double>(s.ks) * s.ks;
    double per_pair = s.kt * taps_s * out_positions;  // dense
    if (separable) {
      // The intermediate field spans the input's extent along the axes its kernel does not cover.
      const double spatial_first = taps_s * T * ho * wo + s.kt * out_positions;
      const double temporal_first = static_cast<double>(s.kt) * to * H * W + taps_s * out_positions;
      per_pair = std::min(spatial_first, temporal_first);
    }
    (l == 0 ? f.first_layer : f.rest) += 2.0 * s.in * s.out * per_pair;
    T = to, H = ho, W = wo, c = s.out;
  }
  f.rest += 2.0 * neurons * c * T * H * W;
  return f;
}

}  // namespace fovea::bench
