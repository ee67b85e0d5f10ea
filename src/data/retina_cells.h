#pragma once
// Model retinal ganglion cells for `simulate retina`: linear-nonlinear cells
// with a difference-of-Gaussians spatial receptive field, one signed weight
// per colour channel, a biphasic causal temporal filter and a softplus output,
// placed in one jittered mosaic per type that tiles the field.
//
// A cell's expected spike count in frame t is
//   drive(t) = sum_l temporal[l] * <spatial, movie[:, t - l]>   (l = 0 .. L-1; frames < 0 are grey, 0)
//   z(t)     = (drive(t) - drive_mean) / drive_std
//   count(t) = gain * softplus(sharpness * (z(t) - threshold)) / sharpness
// and its noise-free response, on the dataset's scale, is count(t) * response_scale.
// temporal[0] belongs to the current frame, so the response at t depends on
// frames <= t only.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fovea::data {

struct RetinaCellType {
  std::string name;             // "on_sustained", ...
  std::string description;      // one line for README and JSON
  double polarity = 1.0;        // +1: centre excited by light increments (ON), -1: OFF
  bool transient = false;       // band-pass temporal filter, larger field, higher threshold
  bool colour_opponent = false; // channel 1 ON, channel 0 OFF
};

// ON/OFF x sustained/transient, plus a colour-opponent type when colors >= 2.
// A cell's type number in the files is its index here plus 1.
std::vector<RetinaCellType> retina_cell_types(int64_t colors);

struct RetinaCell {
  int64_t id = 0;               // index in the mosaic
  int64_t type = 0;             // index into retina_cell_types
  double x = 0, y = 0;          // receptive-field centre (column, row), pixels
  // Spatial: DoG = N(sigma_centre) - surround_weight * N(sigma_surround), each
  // Gaussian of unit integral, cut to 0 beyond kSupportSigmas * sigma_surround.
  double sigma_centre = 1, sigma_surround = 2.5, surround_weight = 0.5;
  std::vector<double> colour;   // signed weight per channel; the absolute values sum to 1
  // Temporal: gamma lobes h(t; tau) = t^4 exp(-t / tau) / (4! tau^5) of unit
  // area; filter = h(tau_fast) - biphasic_index * h(tau_slow), scaled to a
  // peak |value| of 1. biphasic_index near 1: transient; near 0: sustained.
  double tau_fast = 1, tau_slow = 2, biphasic_index = 0.2;  // frames
  // Output nonlinearity (z in units of the drive's spread on the training movie).
  double threshold = 0, sharpness = 2;
  double mean_count = 1;        // target mean spike count per frame on the training movie
  // Set by calibrate_population from the training movie.
  double drive_mean = 0, drive_std = 1, gain = 1, response_scale = 1;
};

constexpr double kSupportSigmas = 3.0;

// One mosaic per type over a height x width field: a grid at a spacing of
// about two centre sigmas, shifted at random per type, each position jittered.
// The grids are made denser, if needed, until there are at least `min_cells`
// cells in all. Sizes scale with min(height, width) / 16 (18x16 is the
// reference, like the 50 um pixels of Hoefling et al. 2024). Ids are 0..n-1.
std::vector<RetinaCell> sample_retina_mosaics(int64_t colors, int64_t height, int64_t width, int64_t min_cells,
                                              uint64_t seed);

struct RetinaPopulation {
  std::vector<RetinaCellType> types;
  std::vector<RetinaCell> cells;
  int64_t colors = 0, height = 0, width = 0;
  at::Tensor spatial;   // (cells, colors, height, width) float64: polarity * colour[c] * DoG
  at::Tensor temporal;  // (cells, filter_frames) float64: [k][l] weights the frame l steps back
};

// The filters of `cells` (a subset of a mosaic, in any order).
RetinaPopulation make_population(std::vector<RetinaCell> cells, int64_t colors, int64_t height, int64_t width,
                                 int64_t filter_frames);

// Linear drive (cells, T) float64 of a movie (colors, T, height, width)
// float32. Each value is summed in a fixed order: the result does not depend
// on the thread count.
at::Tensor linear_drive(const RetinaPopulation& population, const at::Tensor& movie);

// Sets drive_mean, drive_std (ddof 0) from the training movie, the gain that
// gives each cell its mean_count there, and the response_scale that gives the
// noisy training responses unit variance in expectation:
//   response_scale = 1 / sqrt(var_t(count) + noise_scale^2 * mean_t(count)).
void calibrate_population(RetinaPopulation& population, const at::Tensor& train_movie, double noise_scale);

// Expected spike counts (cells, T) float64 from a linear drive.
at::Tensor expected_counts(const RetinaPopulation& population, const at::Tensor& drive);

// The noise-free responses (cells, T) float64 on the dataset's scale:
// expected_counts(linear_drive(movie)) * response_scale. Causal.
at::Tensor noise_free_responses(const RetinaPopulation& population, const at::Tensor& movie);

}  // namespace fovea::data
