// A ground-truth V1 dataset in minimodel's layout: natural-like images, a
// population of Gabor simple and complex cells, calcium-like trial noise whose
// level is set per neuron so that the FEV of the population spreads over
// about 0.2-0.8, training images shown once and test images repeated.
#include "fovea/data/simulate_v1.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/gabor_cells.h"
#include "data/natural_images.h"
#include "data/seeded_streams.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

// Target FEV per neuron: uniform over this range at noise_scale 1.
constexpr double kTargetFevLow = 0.2, kTargetFevHigh = 0.8;
// Cortical position = receptive-field centre times this (a linear retinotopic map).
constexpr double kMicronsPerPixel = 10.0;

void check_options(const SimulateV1Options& o) {
  const std::string where = "simulate v1";
  check(o.n_neurons >= 1, where, "the number of neurons must be at least 1, got " + std::to_string(o.n_neurons));
  check(o.n_train_images >= 1, where,
        "the number of training images must be at least 1, got " + std::to_string(o.n_train_images));
  check(o.n_test_images >= 2, where,
        "the number of test images must be at least 2, got " + std::to_string(o.n_test_images));
  check(o.n_repeats >= 2, where,
        "the number of repeats must be at least 2 (FEV needs them), got " + std::to_string(o.n_repeats));
  check(o.height >= 16 && o.width >= 16, where,
        "images must be at least 16x16 pixels, got " + std::to_string(o.height) + "x" + std::to_string(o.width));
  check(o.complex_fraction >= 0.0 && o.complex_fraction <= 1.0, where,
        "the complex fraction must lie in [0, 1], got " + std::to_string(o.complex_fraction));
  check(std::isfinite(o.noise_scale) && o.noise_scale >= 0.0, where,
        "the noise scale must be a non-negative number, got " + std::to_string(o.noise_scale));
}

// Trial noise like deconvolved calcium activity: a Poisson number of events
// at `scale * rate`, each with an exponentially distributed amplitude of mean
// 1 / scale (transients differ in size). So
//   trial = Gamma(events, 1) / scale,  events ~ Poisson(scale * rate),
// exactly 0 when there is no event, E[trial] = rate, var[trial] = 2 rate / scale.
// Each neuron's scale is chosen from its rates over all images so that, in
// expectation, FEV = var(rate) / (var(rate) + 2 mean(rate) / scale) equals its
// target FEV; noise_scale then multiplies the noise std (scale / noise_scale^2).
std::vector<double> event_scales(const at::Tensor& rates, const std::vector<double>& target_fev,
                                   double noise_scale) {
  const int64_t n_images = rates.size(0), n = rates.size(1);
  const at::Tensor c = rates.contiguous();
  const double* r = c.data_ptr<double>();
  std::vector<double> scales(n);
  for (int64_t k = 0; k < n; ++k) {
    // Sequential sums: the same scale whatever the thread count.
    double m = 0.0, v = 0.0;
    for (int64_t i = 0; i < n_images; ++i) m += r[i * n + k];
    m /= static_cast<double>(n_images);
    for (int64_t i = 0; i < n_images; ++i) v += (r[i * n + k] - m) * (r[i * n + k] - m);
    v /= static_cast<double>(n_images);
    const double f = target_fev[k];
    const double s = (v > 1e-12 && m > 0.0) ? 2.0 * m * f / (v * (1.0 - f)) : 1.0;
    scales[k] = noise_scale > 0.0 ? s / (noise_scale * noise_scale) : INFINITY;
  }
  return scales;
}

double noisy_trial(std::mt19937_64& rng, double rate, double scale) {
  if (!std::isfinite(scale)) return rate;  // noise_scale 0: the noise-free rate
  const int64_t events = std::poisson_distribution<int64_t>(scale * rate)(rng);
  if (events == 0) return 0.0;
  return std::gamma_distribution<double>(static_cast<double>(events), 1.0)(rng) / scale;
}

at::Tensor column(const std::vector<GaborCell>& cells, double GaborCell::*field) {
  at::Tensor t = at::empty({static_cast<int64_t>(cells.size())}, at::kDouble);
  for (size_t k = 0; k < cells.size(); ++k) t[static_cast<int64_t>(k)] = cells[k].*field;
  return t;
}

std::string readme_text(const SimulateV1Options& o, int64_t n_complex) {
  std::ostringstream s;
  s << "Simulated V1 dataset (fovea simulate v1), minimodel's layout.\n\n"
    << "Options: neurons " << o.n_neurons << " (" << n_complex << " complex), training images "
    << o.n_train_images << ", test images " << o.n_test_images << " x " << o.n_repeats << " repeats, images "
    << o.height << "x" << o.width << ", complex fraction " << o.complex_fraction << ", noise scale "
    << o.noise_scale << ", seed " << o.seed << ".\n"
    << "The same options give byte-identical files.\n\n"
    << "images.npy        (" << o.n_test_images + o.n_train_images << ", " << o.height << ", " << o.width
    << ") float32, z-scored over the whole set.\n"
    << "                  Images 0.." << o.n_test_images - 1 << " are the test set, the others the training set.\n"
    << "                  Each image: a dead-leaves model (occluding ellipses, radii ~ r^-3) mixed with\n"
    << "                  1/f noise, times a random contrast.\n"
    << "responses.npz     minimodel's keys:\n"
    << "  sp              (neurons, trials) float32: one trial per training image\n"
    << "  istim_sp        (trials,) int64: the image of each trial (training images in random order)\n"
    << "  ss_all          (test images, repeats, neurons) float32: the repeated test trials\n"
    << "  istim_ss        (test images,) int64: 0..n_test-1\n"
    << "  xpos, ypos      (neurons,) float32: receptive-field centre x, y in pixels times "
    << kMicronsPerPixel << " (\"um\")\n"
    << "  iplane          (neurons,) int64: zeros\n"
    << "ground_truth.npz  the model that made the responses:\n"
    << "  test_rates      (test images, neurons) float32: noise-free rates; each repeat in ss_all has\n"
    << "                  this expected value (no rescaling)\n"
    << "  image_rates     (images, neurons) float32: noise-free rates of every image\n"
    << "  type            (neurons,) int64: 0 simple cell, 1 complex cell\n"
    << "  x, y, sigma, aspect, theta, freq, phase: Gabor receptive field (pixels, radians, cycles/pixel);\n"
    << "                  envelope exp(-(u^2 + aspect^2 v^2) / (2 sigma^2)), u across and v along the bars,\n"
    << "                  cut to 0 where (u^2 + aspect^2 v^2) / sigma^2 > 3.5^2,\n"
    << "                  carrier cos(2 pi freq u + phase)\n"
    << "  rf_even, rf_odd (neurons, height, width) float32: the filters: the Gabors minus the envelope\n"
    << "                  times the constant that makes them sum to 0, at unit L2 norm\n"
    << "  drive           simple: <rf_even, image>; complex: sqrt(<rf_even, image>^2 + <rf_odd, image>^2)\n"
    << "  rate            offset + gain * relu((drive - drive_mean) / drive_std - threshold)^exponent\n"
    << "  gain, offset, threshold, exponent, drive_mean, drive_std: (neurons,) float64\n"
    << "  target_fev      (neurons,) float64: the FEV the noise level aims at (at noise scale 1)\n"
    << "  event_scale     (neurons,) float64: the trial noise. trial = Gamma(events, 1) / event_scale with\n"
    << "                  events ~ Poisson(event_scale * rate): calcium-like events of exponentially\n"
    << "                  distributed size; E[trial] = rate, var[trial] = 2 rate / event_scale\n"
    << "                  (inf: noise scale 0, trial = rate)\n";
  return s.str();
}

}  // namespace

SimulateV1Summary simulate_v1(const std::string& dir, const SimulateV1Options& o) {
  check_options(o);
  const int64_t n_images = o.n_test_images + o.n_train_images, n = o.n_neurons;

  // Test images first (indices 0..n_test-1), as minimodel's test set is 0-499.
  at::Tensor images = natural_like_images(n_images, o.height, o.width, o.seed);
  std::vector<GaborCell> cells = sample_gabor_cells(n, o.height, o.width, o.complex_fraction, o.seed);
  at::Tensor rf_even, rf_odd;
  gabor_filters(cells, o.height, o.width, rf_even, rf_odd);
  at::Tensor rates = population_rates(images, rf_even, rf_odd, cells);  // (images, neurons) float64

  std::mt19937_64 fev_rng = make_stream(o.seed, Stream::noise, 0);
  std::vector<double> target_fev(n);
  for (double& f : target_fev) f = uniform(fev_rng, kTargetFevLow, kTargetFevHigh);
  const std::vector<double> scales = event_scales(rates, target_fev, o.noise_scale);

  // Training trials: every training image once, in a random order.
  std::vector<int64_t> order(o.n_train_images);
  std::iota(order.begin(), order.end(), o.n_test_images);
  std::mt19937_64 order_rng = make_stream(o.seed, Stream::order);
  for (int64_t i = o.n_train_images - 1; i > 0; --i)
    std::swap(order[i], order[order_rng() % static_cast<uint64_t>(i + 1)]);

  std::mt19937_64 noise_rng = make_stream(o.seed, Stream::noise, 1);
  const at::Tensor rates_c = rates.contiguous();
  const double* r = rates_c.data_ptr<double>();
  at::Tensor sp = at::empty({n, o.n_train_images}, at::kFloat);
  at::Tensor istim_sp = at::tensor(order, at::kLong);
  auto sp_a = sp.accessor<float, 2>();
  for (int64_t t = 0; t < o.n_train_images; ++t)
    for (int64_t k = 0; k < n; ++k)
      sp_a[k][t] = static_cast<float>(noisy_trial(noise_rng, r[order[t] * n + k], scales[k]));
  at::Tensor ss_all = at::empty({o.n_test_images, o.n_repeats, n}, at::kFloat);
  auto ss_a = ss_all.accessor<float, 3>();
  for (int64_t i = 0; i < o.n_test_images; ++i)
    for (int64_t rep = 0; rep < o.n_repeats; ++rep)
      for (int64_t k = 0; k < n; ++k)
        ss_a[i][rep][k] = static_cast<float>(noisy_trial(noise_rng, r[i * n + k], scales[k]));

  at::Tensor type = at::empty({n}, at::kLong);
  for (int64_t k = 0; k < n; ++k) type[k] = cells[k].complex ? 1 : 0;
  at::Tensor x = column(cells, &GaborCell::x), y = column(cells, &GaborCell::y);

  io::make_directories(dir);
  const std::filesystem::path root(dir);
  const std::string images_path = (root / "images.npy").string();
  const std::string responses_path = (root / "responses.npz").string();
  const std::string truth_path = (root / "ground_truth.npz").string();
  const std::string readme_path = (root / "README.txt").string();

  io::write_npy(images_path, images);
  io::write_npz(responses_path, {{"sp", sp},
                                 {"istim_sp", istim_sp},
                                 {"ss_all", ss_all},
                                 {"istim_ss", at::arange(o.n_test_images, at::kLong)},
                                 {"xpos", (x * kMicronsPerPixel).to(at::kFloat)},
                                 {"ypos", (y * kMicronsPerPixel).to(at::kFloat)},
                                 {"iplane", at::zeros({n}, at::kLong)}});
  io::write_npz(truth_path, {{"test_rates", rates.slice(0, 0, o.n_test_images).to(at::kFloat).contiguous()},
                             {"image_rates", rates.to(at::kFloat)},
                             {"type", type},
                             {"x", x},
                             {"y", y},
                             {"sigma", column(cells, &GaborCell::sigma)},
                             {"aspect", column(cells, &GaborCell::aspect)},
                             {"theta", column(cells, &GaborCell::theta)},
                             {"freq", column(cells, &GaborCell::freq)},
                             {"phase", column(cells, &GaborCell::phase)},
                             {"gain", column(cells, &GaborCell::gain)},
                             {"offset", column(cells, &GaborCell::offset)},
                             {"threshold", column(cells, &GaborCell::threshold)},
                             {"exponent", column(cells, &GaborCell::exponent)},
                             {"drive_mean", column(cells, &GaborCell::drive_mean)},
                             {"drive_std", column(cells, &GaborCell::drive_std)},
                             {"target_fev", at::tensor(target_fev, at::kDouble)},
                             {"event_scale", at::tensor(scales, at::kDouble)},
                             {"rf_even", rf_even},
                             {"rf_odd", rf_odd}});
  io::write_file_atomic(readme_path, readme_text(o, type.sum().item<int64_t>()));

  SimulateV1Summary summary;
  summary.files = {images_path, responses_path, truth_path, readme_path};
  summary.n_neurons = n;
  summary.n_images = n_images;
  summary.fev = eval::fev(ss_all);
  at::Tensor defined = summary.fev.masked_select(summary.fev.isfinite());
  summary.mean_fev = defined.numel() > 0 ? defined.mean().item<double>() : NAN;
  return summary;
}

}  // namespace fovea::data
