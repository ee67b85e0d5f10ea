#include "data/gabor_cells.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "data/seeded_streams.h"

namespace fovea::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kReferenceHeight = 66.0;

// A centre coordinate at least `margin` from both edges of [0, size - 1];
// the middle when the image is too small for that.
double position_inside(std::mt19937_64& rng, int64_t size, double margin) {
  const double lo = margin, hi = static_cast<double>(size - 1) - margin;
  return lo < hi ? uniform(rng, lo, hi) : 0.5 * static_cast<double>(size - 1);
}

// Removes the mean and scales to unit L2 norm.
void normalise_filter(float* f, int64_t n) {
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += f[i];
  mean /= static_cast<double>(n);
  double norm = 0.0;
  for (int64_t i = 0; i < n; ++i) norm += (f[i] - mean) * (f[i] - mean);
  norm = std::sqrt(norm);
  for (int64_t i = 0; i < n; ++i) f[i] = static_cast<float>(norm > 0 ? (f[i] - mean) / norm : 0.0);
}

}  // namespace

std::vector<GaborCell> sample_gabor_cells(int64_t n, int64_t height, int64_t width, double complex_fraction,
                                          uint64_t seed) {
  std::mt19937_64 rng = make_stream(seed, Stream::neurons);
  const double scale = static_cast<double>(std::min(height, width)) / kReferenceHeight;
  // Which cells are complex: the first round(f * n) of a random permutation.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  const int64_t n_complex = std::llround(complex_fraction * static_cast<double>(n));

  std::vector<GaborCell> cells(n);
  for (int64_t k = 0; k < n_complex; ++k) cells[order[k]].complex = true;
  for (GaborCell& c : cells) {
    c.sigma = uniform(rng, 3.0, 8.0) * scale;
    c.aspect = uniform(rng, 0.5, 1.0);
    c.theta = uniform(rng, 0.0, kPi);
    // sigma * freq in [0.2, 0.45]: one to two visible cycles, as V1 bandwidths
    // of 1-2 octaves; capped well below Nyquist.
    c.freq = std::min(0.25, uniform(rng, 0.2, 0.45) / c.sigma);
    c.phase = uniform(rng, 0.0, 2.0 * kPi);
    // Two envelope widths (along the bars: sigma / aspect) from every edge.
    const double margin = 2.0 * c.sigma / c.aspect;
    c.x = position_inside(rng, width, margin);
    c.y = position_inside(rng, height, margin);
    c.gain = std::exp(uniform(rng, -0.7, 0.7));
    c.offset = c.gain * uniform(rng, 0.0, 0.05);  // a small spontaneous rate
    c.threshold = uniform(rng, -0.25, 0.75);
    c.exponent = uniform(rng, 1.0, 2.0);
  }
  return cells;
}

void gabor_filters(const std::vector<GaborCell>& cells, int64_t height, int64_t width, at::Tensor& even,
                   at::Tensor& odd) {
  const int64_t n = static_cast<int64_t>(cells.size()), pixels = height * width;
  even = at::empty({n, height, width}, at::kFloat);
  odd = at::empty({n, height, width}, at::kFloat);
  for (int64_t k = 0; k < n; ++k) {
    const GaborCell& c = cells[k];
    float* e = even.data_ptr<float>() + k * pixels;
    float* o = odd.data_ptr<float>() + k * pixels;
    const double ct = std::cos(c.theta), st = std::sin(c.theta);
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        const double dx = static_cast<double>(x) - c.x, dy = static_cast<double>(y) - c.y;
        const double across = dx * ct + dy * st;    // along the wave vector
        const double along = -dx * st + dy * ct;    // along the bars
        const double envelope =
            std::exp(-(across * across + c.aspect * c.aspect * along * along) / (2.0 * c.sigma * c.sigma));
        const double arg = 2.0 * kPi * c.freq * across + c.phase;
        e[y * width + x] = static_cast<float>(envelope * std::cos(arg));
        o[y * width + x] = static_cast<float>(envelope * std::sin(arg));
      }
    }
    normalise_filter(e, pixels);
    normalise_filter(o, pixels);
  }
}

at::Tensor population_rates(const at::Tensor& images, const at::Tensor& even, const at::Tensor& odd,
                            std::vector<GaborCell>& cells) {
  const int64_t n = static_cast<int64_t>(cells.size());
  const int64_t pixels = images.size(1) * images.size(2);
  // One matmul over flattened images for both filter banks: (N, pixels) x (pixels, 2n).
  at::Tensor bank = at::cat({even.reshape({n, pixels}), odd.reshape({n, pixels})}, 0).t();
  at::Tensor projections = images.reshape({-1, pixels}).matmul(bank).to(at::kDouble);
  at::Tensor e = projections.slice(1, 0, n), o = projections.slice(1, n, 2 * n);
  at::Tensor energy = (e * e + o * o).sqrt();

  at::Tensor is_complex = at::empty({n}, at::kBool);
  for (int64_t k = 0; k < n; ++k) is_complex[k] = cells[k].complex;
  // Simple cells: the linear filter (rectified by the nonlinearity below);
  // complex cells: the phase-invariant energy of the quadrature pair.
  at::Tensor drive = at::where(is_complex.unsqueeze(0), energy, e).contiguous();

  at::Tensor rates = at::empty_like(drive);
  const int64_t n_images = drive.size(0);
  const double* d = drive.data_ptr<double>();
  double* r = rates.data_ptr<double>();
  for (int64_t k = 0; k < n; ++k) {
    GaborCell& c = cells[k];
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n_images; ++i) mean += d[i * n + k];
    mean /= static_cast<double>(n_images);
    for (int64_t i = 0; i < n_images; ++i) var += (d[i * n + k] - mean) * (d[i * n + k] - mean);
    c.drive_mean = mean;
    c.drive_std = std::max(std::sqrt(var / static_cast<double>(n_images)), 1e-12);
    for (int64_t i = 0; i < n_images; ++i) {
      const double z = (d[i * n + k] - c.drive_mean) / c.drive_std - c.threshold;
      r[i * n + k] = c.offset + c.gain * (z > 0.0 ? std::pow(z, c.exponent) : 0.0);
    }
  }
  return rates;
}

}  // namespace fovea::data
