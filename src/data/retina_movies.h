#pragma once
// Movies for `simulate retina`, at 30 Hz, (colors, frames, height, width)
// float32, not yet normalised. `part` selects an independent movie from the
// same seed (0: training, 1: test).
#include <ATen/ATen.h>

#include <cstdint>

namespace fovea::data {

// Gaussian noise, independent per pixel, low-pass in time (an AR(1) process
// with a time constant of kNoiseTimeConstant frames, stationary from frame 0)
// and correlated across channels (coefficient kNoiseChannelCorrelation
// between channel 0 and each other channel).
at::Tensor correlated_noise_movie(int64_t colors, int64_t frames, int64_t height, int64_t width, uint64_t seed,
                                  uint64_t part);

// Natural-like movies: scenes of kSceneFrames frames, each a window drifting
// smoothly (a velocity that is an AR(1) process, reflected at the edges,
// bilinear sampling) over a larger natural-like image (dead leaves + 1/f
// noise, see natural_images.h). Channel 0 is that image; channel c > 0 is
// rho * image + sqrt(1 - rho^2) * another image with rho = kNaturalChannelCorrelation,
// as green and UV of natural scenes are strongly correlated.
at::Tensor moving_natural_movie(int64_t colors, int64_t frames, int64_t height, int64_t width, uint64_t seed,
                                uint64_t part);

constexpr double kNoiseTimeConstant = 2.0;           // frames
constexpr double kNoiseChannelCorrelation = 0.3;
constexpr int64_t kSceneFrames = 150;                // 5 s at 30 Hz, the clip length of Hoefling et al. 2024
constexpr double kNaturalChannelCorrelation = 0.8;

}  // namespace fovea::data
