#pragma once
// Floating-point operations of the benchmarked work, counted from the layer
// shapes (2 per multiply-add; BN, activations and pooling are not counted).
// A backward pass costs one forward's operations per gradient it computes:
// the input's gradient and the weight's.
#include <cstdint>

namespace fovea::bench {

// minimodel's V1 model (layer0 conv k0, 2×2 pool, separable layer k1 with an
// optional 1×1 out conv, rank-1 readout of `neurons`) on one H×W image.
struct V1Flop {
  double first_conv = 0;  // layer0's convolution
  double rest = 0;        // separable layer + readout
};
inline V1Flop v1_forward_flop(int64_t n_conv, int64_t n_mid, int64_t k0, int64_t k1, bool out_1x1, int64_t neurons,
                              int64_t H = 66, int64_t W = 130) {
  const double hw = static_cast<double>(H / 2) * (W / 2);
  V1Flop f;
  f.first_conv = 2.0 * n_conv * k0 * k0 * H * W;
  f.rest = 2.0 * hw * (n_conv * n_mid + n_mid * k1 * k1 + (out_1x1 ? n_mid * n_mid : 0));
  f.rest += 2.0 * neurons * n_mid * hw;  // the readout's GEMM over (c, y, x)
  return f;
}

// One training step's operations per image: forward, the weight gradients of
// every layer and the input gradients of all but the first; `first_conv`
// scales layer0's share (2: trained, 1: frozen and recomputed, 0: frozen and
// cached).
inline double v1_training_flop(const V1Flop& f, double first_conv_factor) {
  return first_conv_factor * f.first_conv + 3.0 * f.rest;
}

}  // namespace fovea::bench
