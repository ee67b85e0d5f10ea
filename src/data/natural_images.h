#pragma once
// Natural-like grey images for simulations: a dead-leaves model (occluding
// ellipses with sizes drawn from a power law, which gives edges, corners and
// the scale invariance of natural scenes) mixed with 1/f noise (the amplitude
// spectrum of natural images), then z-scored over the whole set.
#include <ATen/ATen.h>

#include <cstdint>

namespace fovea::data {

// (n, height, width) float32 with mean 0 and std 1 over all pixels. Before
// that last z-score, image i depends only on (seed, i): not on n, not on the
// thread count.
at::Tensor natural_like_images(int64_t n, int64_t height, int64_t width, uint64_t seed);

}  // namespace fovea::data
