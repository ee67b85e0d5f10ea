// A ground-truth retina dataset in openretina's generic HDF5 layout: model
// ganglion-cell mosaics (retina_cells.h) watching coloured noise or drifting
// natural-like scenes (retina_movies.h), recorded in several sessions with
// Poisson noise, with the noise-free test responses written next to the data.
#include "fovea/data/simulate_retina.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "data/retina_cells.h"
#include "data/retina_movies.h"
#include "data/seeded_streams.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

constexpr double kFrameRate = 30.0;
// The mosaics hold at least this many times the largest session, so that
// sessions record different subsets.
constexpr double kMosaicOversampling = 1.2;

void check_options(const SimulateRetinaOptions& o) {
  const std::string where = "simulate retina";
  check(o.n_sessions >= 1, where, "the number of sessions must be at least 1, got " + std::to_string(o.n_sessions));
  check(o.neurons_per_session.size() == 1 || static_cast<int64_t>(o.neurons_per_session.size()) == o.n_sessions,
        where, "give one neuron count for all sessions or one per session (" + std::to_string(o.n_sessions) +
                   "), got " + std::to_string(o.neurons_per_session.size()));
  for (int64_t n : o.neurons_per_session)
    check(n >= 1, where, "every session needs at least 1 neuron, got " + std::to_string(n));
  check(o.stimulus == "noise" || o.stimulus == "natural", where,
        "the stimulus must be 'noise' or 'natural', got '" + o.stimulus + "'");
  check(o.height >= 4 && o.width >= 4, where,
        "the field must be at least 4x4 pixels, got " + std::to_string(o.height) + "x" + std::to_string(o.width));
  check(o.colors >= 1 && o.colors <= 8, where, "colours must be 1 to 8, got " + std::to_string(o.colors));
  check(o.filter_frames >= 8, where,
        "temporal filters need at least 8 frames (their peak is 4-5 frames back), got " +
            std::to_string(o.filter_frames));
  check(o.train_frames >= o.filter_frames, where,
        "the training movie (" + std::to_string(o.train_frames) + " frames) must be at least as long as the filters (" +
            std::to_string(o.filter_frames) + ")");
  check(o.test_frames >= 2, where, "the test movie needs at least 2 frames, got " + std::to_string(o.test_frames));
  check(o.n_repeats >= 2, where,
        "the number of test repeats must be at least 2 (FEV needs them), got " + std::to_string(o.n_repeats));
  check(std::isfinite(o.noise_scale) && o.noise_scale >= 0.0, where,
        "the noise scale must be a non-negative number, got " + std::to_string(o.noise_scale));
}

std::vector<int64_t> neuron_counts(const SimulateRetinaOptions& o) {
  if (o.neurons_per_session.size() == 1) return std::vector<int64_t>(o.n_sessions, o.neurons_per_session[0]);
  return o.neurons_per_session;
}

// session_0 .. session_<n-1>, zero-padded so that name order is session order.
std::vector<std::string> session_names(int64_t n) {
  const size_t digits = std::to_string(std::max<int64_t>(n - 1, 0)).size();
  std::vector<std::string> names;
  for (int64_t s = 0; s < n; ++s) {
    std::string number = std::to_string(s);
    names.push_back("session_" + std::string(digits - number.size(), '0') + number);
  }
  return names;
}

// Both movies normalised with the training movie's mean and std (ddof 0),
// summed sequentially in float64.
void normalise_with_train_statistics(at::Tensor& train, at::Tensor& test) {
  const float* x = train.data_ptr<float>();
  const int64_t n = train.numel();
  double mean = 0.0, var = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double sd = std::sqrt(var / static_cast<double>(n));
  for (at::Tensor* movie : {&train, &test}) {
    float* y = movie->data_ptr<float>();
    for (int64_t i = 0; i < movie->numel(); ++i) y[i] = static_cast<float>(sd > 0.0 ? (y[i] - mean) / sd : y[i] - mean);
  }
}

// n distinct mosaic ids out of `total`, in increasing order.
std::vector<int64_t> record_cells(int64_t n, int64_t total, std::mt19937_64 rng) {
  std::vector<int64_t> ids(total);
  std::iota(ids.begin(), ids.end(), 0);
  for (int64_t i = 0; i < n; ++i) std::swap(ids[i], ids[i + static_cast<int64_t>(rng() % (total - i))]);
  ids.resize(n);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// One noisy trial of response `mean` (on the dataset's scale) for a cell with
// `scale` = response_scale: noise^2 * Poisson(count / noise^2) * scale.
double noisy_trial(std::mt19937_64& rng, double mean, double scale, double noise) {
  if (noise == 0.0) return mean;
  const double count = mean / scale / (noise * noise);
  if (!(count > 0.0)) return 0.0;
  const int64_t spikes = std::poisson_distribution<int64_t>(count)(rng);
  return static_cast<double>(spikes) * noise * noise * scale;
}

nlohmann::ordered_json cell_json(const RetinaCell& c, const std::vector<RetinaCellType>& types) {
  nlohmann::ordered_json j;
  j["id"] = c.id;
  j["type"] = c.type + 1;
  j["type_name"] = types[c.type].name;
  j["x"] = c.x;
  j["y"] = c.y;
  j["sigma_centre"] = c.sigma_centre;
  j["sigma_surround"] = c.sigma_surround;
  j["surround_weight"] = c.surround_weight;
  j["colour"] = c.colour;
  j["polarity"] = types[c.type].polarity;
  j["tau_fast"] = c.tau_fast;
  j["tau_slow"] = c.tau_slow;
  j["biphasic_index"] = c.biphasic_index;
  j["threshold"] = c.threshold;
  j["sharpness"] = c.sharpness;
  j["mean_count"] = c.mean_count;
  j["drive_mean"] = c.drive_mean;
  j["drive_std"] = c.drive_std;
  j["gain"] = c.gain;
  j["response_scale"] = c.response_scale;
  return j;
}

std::string model_json(const SimulateRetinaOptions& o, const RetinaPopulation& population,
                       const std::vector<std::string>& names, const std::vector<std::vector<int64_t>>& recorded) {
  nlohmann::ordered_json j;
  j["generator"] = "fovea simulate retina";
  j["options"] = {{"sessions", o.n_sessions},
                  {"neurons_per_session", o.neurons_per_session},
                  {"stimulus", o.stimulus},
                  {"height", o.height},
                  {"width", o.width},
                  {"colors", o.colors},
                  {"train_frames", o.train_frames},
                  {"test_frames", o.test_frames},
                  {"repeats", o.n_repeats},
                  {"filter_frames", o.filter_frames},
                  {"noise", o.noise_scale},
                  {"seed", o.seed}};
  j["frame_rate_hz"] = kFrameRate;
  j["model"] = {
      {"spatial", "polarity * colour[c] * (N(sigma_centre) - surround_weight * N(sigma_surround)), unit-integral "
                  "Gaussians centred at (x, y) (column, row; pixels), 0 beyond " +
                      std::to_string(static_cast<int>(kSupportSigmas)) + " sigma_surround"},
      {"temporal", "h(l; tau_fast) - biphasic_index * h(l; tau_slow) at l = 0..filter_frames-1 frames back, "
                   "h(t; tau) = t^4 exp(-t/tau) / (4! tau^5), scaled to a peak |value| of 1"},
      {"drive", "sum over l of temporal[l] * <spatial, frame t - l>; frames before the movie are 0"},
      {"count", "gain * softplus(sharpness * ((drive - drive_mean) / drive_std - threshold)) / sharpness: "
                "expected spikes per frame"},
      {"response", "count * response_scale (noise-free); trials: noise^2 * Poisson(count / noise^2) * response_scale"}};
  nlohmann::ordered_json types = nlohmann::ordered_json::array();
  for (size_t i = 0; i < population.types.size(); ++i)
    types.push_back(nlohmann::ordered_json{{"type", i + 1},
                                           {"name", population.types[i].name},
                                           {"description", population.types[i].description}});
  j["types"] = types;
  nlohmann::ordered_json cells = nlohmann::ordered_json::array();
  for (const RetinaCell& c : population.cells) cells.push_back(cell_json(c, population.types));
  j["cells"] = cells;
  nlohmann::ordered_json sessions;
  for (size_t s = 0; s < names.size(); ++s) sessions[names[s]] = recorded[s];
  j["sessions"] = sessions;
  return j.dump(1) + "\n";
}

std::string readme_text(const SimulateRetinaOptions& o, const std::vector<RetinaCellType>& types,
                        const std::vector<std::string>& names) {
  std::ostringstream s;
  s << "Simulated retina dataset (fovea simulate retina), openretina's generic HDF5 layout.\n\n"
    << "Options: " << o.n_sessions << " sessions, stimulus " << o.stimulus << ", " << o.colors << " colour channel(s), "
    << o.height << "x" << o.width << " pixels, " << o.train_frames << " training frames, " << o.test_frames
    << " test frames x " << o.n_repeats << " repeats, temporal filters of " << o.filter_frames
    << " frames, noise " << o.noise_scale << ", seed " << o.seed << ". Frames at " << kFrameRate << " Hz.\n"
    << "The same options give the same numbers.\n\n"
    << "stimuli/train.npy, stimuli/test.npy  (colours, frames, height, width) float32, normalised with the\n"
    << "                  training movie's mean and std. ";
  if (o.stimulus == "noise")
    s << "Gaussian noise per pixel, low-pass in time\n                  (AR(1), time constant " << kNoiseTimeConstant
      << " frames), channels correlated (" << kNoiseChannelCorrelation << ").\n";
  else
    s << "Natural-like scenes (dead leaves + 1/f noise)\n                  drifting smoothly, a new scene every "
      << kSceneFrames << " frames; channel correlation " << kNaturalChannelCorrelation << ".\n";
  s << "<session>.h5      sessions " << names.front() << (names.size() > 1 ? " .. " + names.back() : "") << ":\n"
    << "  responses_train (neurons, frames) float32: one noisy trial\n"
    << "  responses_test  (neurons, frames) float32: the mean of the test repeats\n"
    << "  test_by_trial/test (repeats, neurons, frames) float32: each repeat, independent noise\n"
    << "  session_info/cell_ids (neurons,) int64: the cells' ids in ground_truth/cells.json\n"
    << "  session_info/cell_types (neurons,) int64: type numbers (below)\n"
    << "  session_info/rf_x, rf_y (neurons,) float64: receptive-field centres (column, row) in pixels\n"
    << "  Responses are non-negative with unit variance over the training movie in expectation.\n"
    << "  Load with test names {\"test\"}.\n"
    << "ground_truth/<session>.npy  (neurons, test frames) float32: the noise-free test responses; every\n"
    << "                  test trial has this expected value.\n"
    << "ground_truth/cells.json  the model: formulas, options, types, each recorded cell's parameters,\n"
    << "                  and the cell ids of each session.\n"
    << "ground_truth/spatial_filters.npy  (cells, colours, height, width) float32, cells in cells.json order\n"
    << "ground_truth/temporal_filters.npy (cells, filter frames) float32; column l weights the frame l back.\n"
    << "The response at frame t depends on stimulus frames <= t only.\n\n"
    << "Cell types:\n";
  for (size_t i = 0; i < types.size(); ++i) s << "  " << i + 1 << " " << types[i].name << ": " << types[i].description << "\n";
  return s.str();
}

}  // namespace

SimulateRetinaSummary simulate_retina(const std::string& dir, const SimulateRetinaOptions& o) {
  check_options(o);
  const std::vector<int64_t> counts = neuron_counts(o);
  const std::vector<std::string> names = session_names(o.n_sessions);

  at::Tensor train_movie, test_movie;
  if (o.stimulus == "noise") {
    train_movie = correlated_noise_movie(o.colors, o.train_frames, o.height, o.width, o.seed, 0);
    test_movie = correlated_noise_movie(o.colors, o.test_frames, o.height, o.width, o.seed, 1);
  } else {
    train_movie = moving_natural_movie(o.colors, o.train_frames, o.height, o.width, o.seed, 0);
    test_movie = moving_natural_movie(o.colors, o.test_frames, o.height, o.width, o.seed, 1);
  }
  normalise_with_train_statistics(train_movie, test_movie);

  // The mosaics, the cells each session records, and the union of those.
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  const std::vector<RetinaCell> mosaic = sample_retina_mosaics(
      o.colors, o.height, o.width, static_cast<int64_t>(std::ceil(kMosaicOversampling * most)), o.seed);
  std::vector<std::vector<int64_t>> recorded;
  std::vector<int64_t> union_ids;
  for (int64_t s = 0; s < o.n_sessions; ++s) {
    recorded.push_back(record_cells(counts[s], static_cast<int64_t>(mosaic.size()),
                                    make_stream(o.seed, Stream::order, static_cast<uint64_t>(s))));
    union_ids.insert(union_ids.end(), recorded.back().begin(), recorded.back().end());
  }
  std::sort(union_ids.begin(), union_ids.end());
  union_ids.erase(std::unique(union_ids.begin(), union_ids.end()), union_ids.end());
  std::vector<RetinaCell> cells;
  for (int64_t id : union_ids) cells.push_back(mosaic[id]);
  RetinaPopulation population = make_population(std::move(cells), o.colors, o.height, o.width, o.filter_frames);
  calibrate_population(population, train_movie, o.noise_scale);
  const at::Tensor train_truth = noise_free_responses(population, train_movie);  // (cells, T) float64
  const at::Tensor test_truth = noise_free_responses(population, test_movie);

  io::make_directories((fs::path(dir) / "stimuli").string());
  io::make_directories((fs::path(dir) / "ground_truth").string());
  SimulateRetinaSummary summary;
  auto path_of = [&](const std::string& relative) {
    summary.files.push_back((fs::path(dir) / relative).string());
    return summary.files.back();
  };
  io::write_npy(path_of("stimuli/train.npy"), train_movie);
  io::write_npy(path_of("stimuli/test.npy"), test_movie);

  for (int64_t s = 0; s < o.n_sessions; ++s) {
    const int64_t n = counts[s];
    std::vector<int64_t> rows;  // positions of this session's cells in the population
    for (int64_t id : recorded[s])
      rows.push_back(std::lower_bound(union_ids.begin(), union_ids.end(), id) - union_ids.begin());
    const at::Tensor index = at::tensor(rows, at::kLong);
    const at::Tensor train_mean = train_truth.index_select(0, index).contiguous();
    const at::Tensor test_mean = test_truth.index_select(0, index).contiguous();
    at::Tensor train = at::empty({n, o.train_frames}, at::kFloat);
    at::Tensor trials = at::empty({o.n_repeats, n, o.test_frames}, at::kFloat);
    auto train_a = train.accessor<float, 2>();
    auto trials_a = trials.accessor<float, 3>();
    auto train_m = train_mean.accessor<double, 2>();
    auto test_m = test_mean.accessor<double, 2>();
    at::Tensor cell_types = at::empty({n}, at::kLong), rf_x = at::empty({n}, at::kDouble),
               rf_y = at::empty({n}, at::kDouble);
    // Independent noise streams per session and per part (training, each repeat).
    std::mt19937_64 train_rng = make_stream(o.seed, Stream::noise, static_cast<uint64_t>(s) << 20);
    for (int64_t k = 0; k < n; ++k) {
      const RetinaCell& c = population.cells[rows[k]];
      cell_types[k] = c.type + 1;
      rf_x[k] = c.x;
      rf_y[k] = c.y;
      for (int64_t t = 0; t < o.train_frames; ++t)
        train_a[k][t] = static_cast<float>(noisy_trial(train_rng, train_m[k][t], c.response_scale, o.noise_scale));
    }
    for (int64_t r = 0; r < o.n_repeats; ++r) {
      std::mt19937_64 rng = make_stream(o.seed, Stream::noise, (static_cast<uint64_t>(s) << 20) | (r + 1));
      for (int64_t k = 0; k < n; ++k) {
        const double scale = population.cells[rows[k]].response_scale;
        for (int64_t t = 0; t < o.test_frames; ++t)
          trials_a[r][k][t] = static_cast<float>(noisy_trial(rng, test_m[k][t], scale, o.noise_scale));
      }
    }
    const at::Tensor average = trials.to(at::kDouble).mean(0).to(at::kFloat);
    io::write_h5(path_of(names[s] + ".h5"), {{"responses_train", train},
                                             {"responses_test", average},
                                             {"test_by_trial/test", trials},
                                             {"session_info/cell_ids", at::tensor(recorded[s], at::kLong)},
                                             {"session_info/cell_types", cell_types},
                                             {"session_info/rf_x", rf_x},
                                             {"session_info/rf_y", rf_y}});
    io::write_npy(path_of("ground_truth/" + names[s] + ".npy"), test_mean.to(at::kFloat));

    at::Tensor fev = eval::fev(trials.permute({2, 0, 1}));  // (frames, repeats, neurons)
    at::Tensor defined = fev.masked_select(fev.isfinite());
    summary.mean_fev.push_back(defined.numel() > 0 ? defined.mean().item<double>() : NAN);
  }

  io::write_file_atomic(path_of("ground_truth/cells.json"), model_json(o, population, names, recorded));
  io::write_npy(path_of("ground_truth/spatial_filters.npy"), population.spatial.to(at::kFloat));
  io::write_npy(path_of("ground_truth/temporal_filters.npy"), population.temporal.to(at::kFloat));
  io::write_file_atomic(path_of("README.txt"), readme_text(o, population.types, names));

  summary.sessions = names;
  summary.n_neurons = counts;
  summary.n_cells = static_cast<int64_t>(population.cells.size());
  return summary;
}

}  // namespace fovea::data
