#include "data/gabor_cells.h"

#include <ATen/Parallel.h>
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
// The envelope is cut at this many sigmas (along each axis of the ellipse).
constexpr double kSupport = 3.5;

// A centre coordinate at least `margin` from both edges of [0, size - 1];
// the middle when the image is too small for that.
double position_inside(std::mt19937_64& rng, int64_t size, double margin) {
  const double lo = margin, hi = static_cast<double>(size - 1) - margin;
  return lo < hi ? uniform(rng, lo, hi) : 0.5 * static_cast<double>(size - 1);
}

// Removes the filter's response to uniform light by subtracting the envelope
// times a constant (not a constant over the whole image, which would make the
// cell see every pixel), then scales to unit L2 norm.
void balance_and_normalise(float* f, const std::vector<double>& envelope) {
  const int64_t n = static_cast<int64_t>(envelope.size());
  double dc = 0.0, mass = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    dc += f[i];
    mass += envelope[i];
  }
  const double k = mass > 0.0 ? dc / mass : 0.0;
  double norm = 0.0;
  for (int64_t i = 0; i < n; ++i) norm += (f[i] - k * envelope[i]) * (f[i] - k * envelope[i]);
  norm = std::sqrt(norm);
  for (int64_t i = 0; i < n; ++i) f[i] = static_cast<float>(norm > 0.0 ? (f[i] - k * envelope[i]) / norm : 0.0);
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
    std::vector<double> envelope(pixels);
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        const double dx = static_cast<double>(x) - c.x, dy = static_cast<double>(y) - c.y;
        const double across = dx * ct + dy * st;    // along the wave vector
        const double along = -dx * st + dy * ct;    // along the bars
        const double radius2 = (across * across + c.aspect * c.aspect * along * along) / (c.sigma * c.sigma);
        // Cut at 3.5 envelope widths (exp(-6.1) = 0.2% of the peak): a
        // compact support that keeps the projections cheap.
        const double g = radius2 <= kSupport * kSupport ? std::exp(-0.5 * radius2) : 0.0;
        const double arg = 2.0 * kPi * c.freq * across + c.phase;
        envelope[y * width + x] = g;
        e[y * width + x] = static_cast<float>(g * std::cos(arg));
        o[y * width + x] = static_cast<float>(g * std::sin(arg));
      }
    }
    balance_and_normalise(e, envelope);
    balance_and_normalise(o, envelope);
  }
}

namespace {

// The rows and columns [y0, y1) x [x0, x1) that hold a filter's non-zero weights.
struct Support {
  int64_t y0, y1, x0, x1;
};

Support support_of(const float* f, int64_t height, int64_t width) {
  Support s{height, 0, width, 0};
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      if (f[y * width + x] != 0.0f) {
        s.y0 = std::min(s.y0, y), s.y1 = std::max(s.y1, y + 1);
        s.x0 = std::min(s.x0, x), s.x1 = std::max(s.x1, x + 1);
      }
  if (s.y0 >= s.y1) s = Support{0, 0, 0, 0};
  return s;
}

// <filter, image> over the filter's support, in float64 with four partial sums
// in a fixed order: the same bits whatever the thread count (a BLAS gemm
// partitions its work by thread count and changes the last bits, and with
// them the files), and fast because a receptive field covers a small part of
// the image.
double project(const float* image, const float* filter, const Support& s, int64_t width) {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  for (int64_t y = s.y0; y < s.y1; ++y) {
    const float* im = image + y * width;
    const float* f = filter + y * width;
    int64_t x = s.x0;
    for (; x + 4 <= s.x1; x += 4)
      for (int j = 0; j < 4; ++j) acc[j] += static_cast<double>(im[x + j]) * f[x + j];
    for (; x < s.x1; ++x) acc[x % 4] += static_cast<double>(im[x]) * f[x];
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

at::Tensor population_rates(const at::Tensor& images, const at::Tensor& even, const at::Tensor& odd,
                            std::vector<GaborCell>& cells) {
  const int64_t n = static_cast<int64_t>(cells.size());
  const int64_t n_images = images.size(0), height = images.size(1), width = images.size(2);
  const int64_t pixels = height * width;
  const at::Tensor im = images.to(at::kFloat).contiguous();
  const at::Tensor ev = even.contiguous(), od = odd.contiguous();
  std::vector<Support> supports(n);
  for (int64_t k = 0; k < n; ++k) {
    const Support a = support_of(ev.data_ptr<float>() + k * pixels, height, width);
    const Support b = support_of(od.data_ptr<float>() + k * pixels, height, width);
    supports[k] = Support{std::min(a.y0, b.y0), std::max(a.y1, b.y1), std::min(a.x0, b.x0), std::max(a.x1, b.x1)};
  }

  // Simple cells: the linear filter (rectified by the nonlinearity below);
  // complex cells: the phase-invariant energy of the quadrature pair.
  at::Tensor drive = at::empty({n_images, n}, at::kDouble);
  double* d = drive.data_ptr<double>();
  at::parallel_for(0, n_images, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* image = im.data_ptr<float>() + i * pixels;
      for (int64_t k = 0; k < n; ++k) {
        const double e = project(image, ev.data_ptr<float>() + k * pixels, supports[k], width);
        if (!cells[k].complex) {
          d[i * n + k] = e;
        } else {
          const double o = project(image, od.data_ptr<float>() + k * pixels, supports[k], width);
          d[i * n + k] = std::sqrt(e * e + o * o);
        }
      }
    }
  });

  at::Tensor rates = at::empty_like(drive);
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
