#include "data/retina_cells.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "data/seeded_streams.h"
#include "fovea/error.h"

namespace fovea::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Sizes are given for an 18x16 field and scale with min(height, width).
constexpr double kReferenceSize = 16.0;
// Mosaic spacing in centre sigmas: neighbouring centres overlap a little, as
// the dendritic fields of one ganglion-cell type tile the retina.
constexpr double kSpacingSigmas = 2.0;
// Position jitter, as a fraction of the spacing.
constexpr double kJitter = 0.3;
// Order of the gamma lobes of the temporal filter.
constexpr int kLobeOrder = 4;

// Ranges of the sampled parameters, per kind of type.
struct TypeRanges {
  double sigma_lo, sigma_hi;        // centre sigma at the reference size, pixels
  double surround_lo, surround_hi;  // surround weight
  double biphasic_lo, biphasic_hi;
  double threshold_lo, threshold_hi;
};
constexpr TypeRanges kSustained{0.8, 1.1, 0.3, 0.6, 0.10, 0.35, -0.5, 0.5};
constexpr TypeRanges kTransient{1.1, 1.5, 0.5, 0.8, 0.85, 1.0, 0.25, 1.0};
constexpr TypeRanges kOpponent{0.9, 1.2, 0.3, 0.6, 0.10, 0.35, -0.25, 0.5};

const TypeRanges& ranges_of(const RetinaCellType& t) {
  return t.colour_opponent ? kOpponent : (t.transient ? kTransient : kSustained);
}

double gaussian_2d(double d2, double sigma) {
  return std::exp(-d2 / (2.0 * sigma * sigma)) / (2.0 * kPi * sigma * sigma);
}

// Unit-area gamma lobe t^n exp(-t / tau) / (n! tau^(n+1)).
double gamma_lobe(double t, double tau) {
  double factorial = 1.0;
  for (int i = 2; i <= kLobeOrder; ++i) factorial *= i;
  return std::pow(t / tau, kLobeOrder) * std::exp(-t / tau) / (factorial * tau);
}

double softplus(double x) { return x > 30.0 ? x : std::log1p(std::exp(x)); }

// Rows (or columns) of one grid over `size` pixels at `spacing`.
int64_t grid_count(int64_t size, double spacing) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(size) / spacing));
}

// A coordinate on a grid of `count` cells over [-0.5, size - 0.5), shifted by
// `shift` (a fraction of a cell) and wrapped into the field.
double grid_position(int64_t index, int64_t count, int64_t size, double shift, double jitter) {
  const double step = static_cast<double>(size) / static_cast<double>(count);
  double p = (static_cast<double>(index) + 0.5 + shift + jitter) * step;
  p = std::fmod(p, static_cast<double>(size));
  if (p < 0) p += static_cast<double>(size);
  return p - 0.5;
}

}  // namespace

std::vector<RetinaCellType> retina_cell_types(int64_t colors) {
  std::vector<RetinaCellType> types = {
      {"on_sustained", "ON sustained: excited by light increments, low-pass", 1.0, false, false},
      {"off_sustained", "OFF sustained: excited by light decrements, low-pass", -1.0, false, false},
      {"on_transient", "ON transient: excited by increments, band-pass, larger field, sparser", 1.0, true, false},
      {"off_transient", "OFF transient: excited by decrements, band-pass, larger field, sparser", -1.0, true, false},
  };
  if (colors >= 2)
    types.push_back({"colour_opponent", "colour-opponent: excited by increments in channel 1 and decrements in channel 0",
                     1.0, false, true});
  return types;
}

std::vector<RetinaCell> sample_retina_mosaics(int64_t colors, int64_t height, int64_t width, int64_t min_cells,
                                              uint64_t seed) {
  const std::vector<RetinaCellType> types = retina_cell_types(colors);
  const double scale = static_cast<double>(std::min(height, width)) / kReferenceSize;
  // Spacing per type from its mean centre size, then a common density factor
  // that makes the mosaics dense enough for min_cells.
  std::vector<double> spacing(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    const TypeRanges& r = ranges_of(types[i]);
    spacing[i] = kSpacingSigmas * 0.5 * (r.sigma_lo + r.sigma_hi) * scale;
  }
  auto total_for = [&](double density) {
    int64_t total = 0;
    for (double s : spacing) total += grid_count(height, s / density) * grid_count(width, s / density);
    return total;
  };
  double density = 1.0;
  while (total_for(density) < min_cells) density *= 1.1;

  std::mt19937_64 rng = make_stream(seed, Stream::neurons);
  std::vector<RetinaCell> cells;
  for (size_t ti = 0; ti < types.size(); ++ti) {
    const RetinaCellType& type = types[ti];
    const TypeRanges& r = ranges_of(type);
    const int64_t rows = grid_count(height, spacing[ti] / density), cols = grid_count(width, spacing[ti] / density);
    const double shift_y = uniform(rng, -0.5, 0.5), shift_x = uniform(rng, -0.5, 0.5);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t col = 0; col < cols; ++col) {
        RetinaCell c;
        c.id = static_cast<int64_t>(cells.size());
        c.type = static_cast<int64_t>(ti);
        c.y = grid_position(row, rows, height, shift_y, uniform(rng, -kJitter, kJitter));
        c.x = grid_position(col, cols, width, shift_x, uniform(rng, -kJitter, kJitter));
        c.sigma_centre = uniform(rng, r.sigma_lo, r.sigma_hi) * scale;
        c.sigma_surround = c.sigma_centre * uniform(rng, 2.0, 3.0);
        c.surround_weight = uniform(rng, r.surround_lo, r.surround_hi);
        c.colour.assign(static_cast<size_t>(colors), 0.0);
        if (type.colour_opponent) {
          c.colour[0] = -uniform(rng, 0.6, 1.0);
          c.colour[1] = 1.0;
        } else {
          for (double& w : c.colour) w = uniform(rng, 0.5, 1.0);
        }
        double l1 = 0.0;
        for (double w : c.colour) l1 += std::abs(w);
        for (double& w : c.colour) w /= l1;
        c.tau_fast = uniform(rng, 0.9, 1.3);
        c.tau_slow = c.tau_fast * uniform(rng, 1.5, 2.0);
        c.biphasic_index = uniform(rng, r.biphasic_lo, r.biphasic_hi);
        c.threshold = uniform(rng, r.threshold_lo, r.threshold_hi);
        c.sharpness = uniform(rng, 1.5, 3.0);
        c.mean_count = uniform(rng, 0.5, 2.5);
        cells.push_back(c);
      }
  }
  return cells;
}

RetinaPopulation make_population(std::vector<RetinaCell> cells, int64_t colors, int64_t height, int64_t width,
                                 int64_t filter_frames) {
  RetinaPopulation p;
  p.types = retina_cell_types(colors);
  p.colors = colors;
  p.height = height;
  p.width = width;
  const int64_t n = static_cast<int64_t>(cells.size());
  p.spatial = at::zeros({n, colors, height, width}, at::kDouble);
  p.temporal = at::zeros({n, filter_frames}, at::kDouble);
  auto s = p.spatial.accessor<double, 4>();
  auto f = p.temporal.accessor<double, 2>();
  for (int64_t k = 0; k < n; ++k) {
    const RetinaCell& c = cells[k];
    check(c.type >= 0 && c.type < static_cast<int64_t>(p.types.size()) &&
              static_cast<int64_t>(c.colour.size()) == colors,
          "retina population", "cell " + std::to_string(c.id) + " does not fit " + std::to_string(colors) + " colours");
    const double polarity = p.types[c.type].polarity;
    const double reach2 = std::pow(kSupportSigmas * c.sigma_surround, 2);
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        const double d2 = std::pow(static_cast<double>(y) - c.y, 2) + std::pow(static_cast<double>(x) - c.x, 2);
        if (d2 > reach2) continue;
        const double dog = gaussian_2d(d2, c.sigma_centre) - c.surround_weight * gaussian_2d(d2, c.sigma_surround);
        for (int64_t ch = 0; ch < colors; ++ch) s[k][ch][y][x] = polarity * c.colour[ch] * dog;
      }
    double peak = 0.0;
    for (int64_t l = 0; l < filter_frames; ++l) {
      const double t = static_cast<double>(l);
      f[k][l] = gamma_lobe(t, c.tau_fast) - c.biphasic_index * gamma_lobe(t, c.tau_slow);
      peak = std::max(peak, std::abs(f[k][l]));
    }
    for (int64_t l = 0; l < filter_frames && peak > 0.0; ++l) f[k][l] /= peak;
  }
  p.cells = std::move(cells);
  return p;
}

at::Tensor linear_drive(const RetinaPopulation& p, const at::Tensor& movie) {
  check(movie.dim() == 4 && movie.size(0) == p.colors && movie.size(2) == p.height && movie.size(3) == p.width,
        "retina population", "the movie must be (" + std::to_string(p.colors) + ", T, " + std::to_string(p.height) +
                                 ", " + std::to_string(p.width) + ")");
  const at::Tensor m = movie.to(at::kFloat).contiguous();
  const int64_t n = static_cast<int64_t>(p.cells.size()), frames = m.size(1);
  const int64_t C = p.colors, H = p.height, W = p.width, L = p.temporal.size(1);
  const float* mv = m.data_ptr<float>();
  const at::Tensor spatial = p.spatial.contiguous(), temporal = p.temporal.contiguous();
  const double* sp = spatial.data_ptr<double>();
  const double* tf = temporal.data_ptr<double>();
  at::Tensor drive = at::zeros({n, frames}, at::kDouble);
  double* out = drive.data_ptr<double>();
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> projection(static_cast<size_t>(frames));
    for (int64_t k = begin; k < end; ++k) {
      // The filter is zero outside this box (its support), so the box sum is exact.
      const RetinaCell& c = p.cells[k];
      const double reach = kSupportSigmas * c.sigma_surround;
      const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(c.y - reach)));
      const int64_t y1 = std::min<int64_t>(H - 1, static_cast<int64_t>(std::ceil(c.y + reach)));
      const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(c.x - reach)));
      const int64_t x1 = std::min<int64_t>(W - 1, static_cast<int64_t>(std::ceil(c.x + reach)));
      const double* sk = sp + k * C * H * W;
      for (int64_t t = 0; t < frames; ++t) {
        double sum = 0.0;
        for (int64_t ch = 0; ch < C; ++ch)
          for (int64_t y = y0; y <= y1; ++y) {
            const double* srow = sk + (ch * H + y) * W;
            const float* mrow = mv + ((ch * frames + t) * H + y) * W;
            for (int64_t x = x0; x <= x1; ++x) sum += srow[x] * static_cast<double>(mrow[x]);
          }
        projection[t] = sum;
      }
      // Causal temporal filter: frames before the movie are grey (0).
      const double* fk = tf + k * L;
      for (int64_t t = 0; t < frames; ++t) {
        double sum = 0.0;
        for (int64_t l = 0; l < L && l <= t; ++l) sum += fk[l] * projection[t - l];
        out[k * frames + t] = sum;
      }
    }
  });
  return drive;
}

at::Tensor expected_counts(const RetinaPopulation& p, const at::Tensor& drive) {
  const at::Tensor d = drive.to(at::kDouble).contiguous();
  const int64_t n = d.size(0), frames = d.size(1);
  at::Tensor counts = at::empty({n, frames}, at::kDouble);
  const double* in = d.data_ptr<double>();
  double* out = counts.data_ptr<double>();
  for (int64_t k = 0; k < n; ++k) {
    const RetinaCell& c = p.cells[k];
    for (int64_t t = 0; t < frames; ++t) {
      const double z = (in[k * frames + t] - c.drive_mean) / c.drive_std;
      out[k * frames + t] = c.gain * softplus(c.sharpness * (z - c.threshold)) / c.sharpness;
    }
  }
  return counts;
}

void calibrate_population(RetinaPopulation& p, const at::Tensor& train_movie, double noise_scale) {
  const at::Tensor drive = linear_drive(p, train_movie);
  const int64_t n = drive.size(0), frames = drive.size(1);
  const double* d = drive.data_ptr<double>();
  for (int64_t k = 0; k < n; ++k) {
    RetinaCell& c = p.cells[k];
    // Sequential sums: the same numbers whatever the thread count.
    double mean = 0.0, var = 0.0;
    for (int64_t t = 0; t < frames; ++t) mean += d[k * frames + t];
    mean /= static_cast<double>(frames);
    for (int64_t t = 0; t < frames; ++t) var += std::pow(d[k * frames + t] - mean, 2);
    var /= static_cast<double>(frames);
    c.drive_mean = mean;
    c.drive_std = var > 0.0 ? std::sqrt(var) : 1.0;  // a cell that sees nothing keeps a constant rate
    double shape_mean = 0.0;
    for (int64_t t = 0; t < frames; ++t)
      shape_mean += softplus(c.sharpness * ((d[k * frames + t] - mean) / c.drive_std - c.threshold)) / c.sharpness;
    shape_mean /= static_cast<double>(frames);
    c.gain = c.mean_count / shape_mean;  // softplus > 0, so shape_mean > 0
  }
  const at::Tensor counts = expected_counts(p, drive);
  const double* r = counts.data_ptr<double>();
  for (int64_t k = 0; k < n; ++k) {
    double mean = 0.0, var = 0.0;
    for (int64_t t = 0; t < frames; ++t) mean += r[k * frames + t];
    mean /= static_cast<double>(frames);
    for (int64_t t = 0; t < frames; ++t) var += std::pow(r[k * frames + t] - mean, 2);
    var /= static_cast<double>(frames);
    const double total = var + noise_scale * noise_scale * mean;
    p.cells[k].response_scale = total > 0.0 ? 1.0 / std::sqrt(total) : 1.0;
  }
}

at::Tensor noise_free_responses(const RetinaPopulation& p, const at::Tensor& movie) {
  at::Tensor counts = expected_counts(p, linear_drive(p, movie));
  const int64_t n = counts.size(0);
  at::Tensor scale = at::empty({n, 1}, at::kDouble);
  for (int64_t k = 0; k < n; ++k) scale[k][0] = p.cells[k].response_scale;
  return counts * scale;
}

}  // namespace fovea::data
