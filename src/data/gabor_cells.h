#pragma once
// A population of model V1 cells: simple cells (rectified Gabor) and complex
// cells (Gabor energy), each followed by a threshold-power nonlinearity.
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace fovea::data {

struct GaborCell {
  bool complex = false;
  double x = 0, y = 0;      // receptive-field centre, pixels (column, row)
  double sigma = 0;         // Gaussian envelope across the bars, pixels
  double aspect = 1;        // envelope along the bars is sigma / aspect (aspect <= 1: elongated)
  double theta = 0;         // orientation of the carrier's wave vector, radians
  double freq = 0;          // carrier frequency, cycles per pixel
  double phase = 0;         // carrier phase, radians (irrelevant to a complex cell's energy)
  // rate = offset + gain * relu((drive - drive_mean) / drive_std - threshold)^exponent
  double gain = 1, offset = 0, threshold = 0, exponent = 1;
  double drive_mean = 0, drive_std = 1;  // set from the images by `population_rates`
};

// Random cells at `height` x `width`: positions that keep the envelope inside
// the image, sigma 3-8 px at 66 px height (scaled with the image), spatial
// frequencies that give 1-2 cycles under the envelope, all orientations and
// phases. round(complex_fraction * n) cells are complex, in random places.
std::vector<GaborCell> sample_gabor_cells(int64_t n, int64_t height, int64_t width, double complex_fraction,
                                          uint64_t seed);

// The even (cosine, at the cell's phase) and odd (sine) filters, with the
// Gaussian envelope cut to 0 beyond 3.5 sigma (compact support), each with
// no response to uniform light (the envelope times a constant is subtracted)
// and unit L2 norm: (cells, height, width) float32 each.
void gabor_filters(const std::vector<GaborCell>& cells, int64_t height, int64_t width, at::Tensor& even,
                   at::Tensor& odd);

// Noise-free rates (images, cells) float64 for images (N, height, width).
// The projections are summed over each filter's support in a fixed order, so
// the result does not depend on the thread count.
// Standardises each cell's drive over these images (drive_mean, drive_std
// are written into `cells`) before the nonlinearity, so that the threshold is
// in units of the drive's spread.
at::Tensor population_rates(const at::Tensor& images, const at::Tensor& even, const at::Tensor& odd,
                            std::vector<GaborCell>& cells);

}  // namespace fovea::data
