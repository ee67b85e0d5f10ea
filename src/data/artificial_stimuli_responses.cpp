// The Höfling 2024 responses to the chirp and the moving bar as test stimuli
// (see add_hoefling_artificial_stimuli in fovea/data/artificial_stimuli.h).
#include <ATen/ATen.h>

#include <vector>

#include "data/hoefling_responses.h"
#include "data/tensor_checks.h"
#include "fovea/data/artificial_stimuli.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"

namespace fovea::data {
namespace {

struct Protocol {
  const char* prefix;      // dataset name prefix in the field group
  const char* test_name;   // the test stimulus
  ArtificialStimulus kind;
  int64_t trigger_step;    // use every n-th trigger
  int64_t triggers_per_repetition;
  int64_t samples;         // per used trigger
  double duration;         // seconds spanned by those samples
};

// openretina's make_final_responses for response_type chirp / mb.
constexpr Protocol kChirp{"chirp", "chirp", ArtificialStimulus::chirp, 2, 2, kChirpFrames, 32.98999999};
constexpr Protocol kMovingBar{"mb", "moving_bar", ArtificialStimulus::moving_bar, 1, kMovingBarDirections,
                              kMovingBarDirectionFrames, 4.054001};

at::Tensor field(const std::string& file, const std::string& name) {
  if (!io::h5_has(file, name)) fail(file, "/" + name + " is missing");
  return io::read_h5_dataset(file, name).to(at::kDouble);
}

// The traces of the chosen type, (N_all, T_scan).
at::Tensor traces_of(const std::string& file, const std::string& g, const std::string& p, const std::string& type) {
  if (type == "spikes")
    return field(file, io::h5_has(file, g + "/" + p + "_inferred_spikes") ? g + "/" + p + "_inferred_spikes"
                                                                           : g + "/" + p + "_spikes");
  if (type == "raw") return field(file, g + "/" + p + "_raw_traces");
  if (type == "preprocessed") return field(file, g + "/" + p + "_preprocessed_traces");
  if (type == "detrended") return field(file, g + "/" + p + "_raw_traces") - field(file, g + "/" + p + "_smoothed_traces");
  fail("data.trace_type", "unknown trace type '" + type + "' (known: spikes, raw, preprocessed, detrended)");
}

// Sample times (N_all, T_scan): <p>_traces_times, or t0 + j·dt per ROI.
at::Tensor times_of(const std::string& file, const std::string& g, const std::string& p, int64_t n, int64_t samples) {
  if (io::h5_has(file, g + "/" + p + "_traces_times")) return field(file, g + "/" + p + "_traces_times");
  const at::Tensor t0 = field(file, g + "/" + p + "_traces_t0").reshape({-1, 1});
  const at::Tensor dt = field(file, g + "/" + p + "_traces_dt").reshape({-1, 1});
  check(t0.size(0) == n && dt.size(0) == n, file, "/" + g + "/" + p + "_traces_t0 and _dt must hold one value per ROI");
  return t0 + dt * at::arange(samples, at::kDouble).unsqueeze(0);
}

void add_one(RetinaDataset& d, const HoeflingArtificialOptions& o, const Protocol& p, const std::string& stimulus_path) {
  const at::Tensor stimulus = load_artificial_stimulus(stimulus_path, p.kind);
  const std::string& file = o.responses_path;
  for (auto& [key, r] : d.responses) {
    const std::string g = key, pre = std::string(p.prefix);
    MovieSplit& m = d.movies.at(key);
    const at::Tensor& natural = m.test.begin()->second;
    check(stimulus.size(2) == natural.size(2) && stimulus.size(3) == natural.size(3), stimulus_path,
          "frames are " + std::to_string(stimulus.size(2)) + "x" + std::to_string(stimulus.size(3)) +
              ", the natural movies " + std::to_string(natural.size(2)) + "x" + std::to_string(natural.size(3)));
    // The kept ROIs, by id.
    const auto kept_it = r.info.find("roi_ids");
    if (kept_it == r.info.end())
      fail(file, "/" + g + "/roi_ids is missing: the " + pre + " responses cannot be matched to the kept ROIs");
    const at::Tensor all_ids = field(file, g + "/roi_ids").to(at::kLong).reshape({-1});
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < kept_it->second.numel(); ++i) {
      const int64_t id = kept_it->second.reshape({-1})[i].item<int64_t>();
      const at::Tensor hit = (all_ids == id).nonzero();
      check(hit.size(0) == 1, file, "/" + g + "/roi_ids holds ROI id " + std::to_string(id) + " " +
                                        std::to_string(hit.size(0)) + " times, expected once");
      rows.push_back(hit[0][0].item<int64_t>());
    }
    const at::Tensor index = at::tensor(rows, at::kLong);
    const at::Tensor all_traces = traces_of(file, g, pre, o.trace_type);
    check_dims(all_traces, 2, file, "/" + g + "/" + pre + " traces", "(ROIs, samples)");
    const int64_t n_all = all_traces.size(0), samples = all_traces.size(1);
    check(n_all == all_ids.numel(), file, "/" + g + "/" + pre + " traces have " + std::to_string(n_all) +
                                              " ROIs, roi_ids has " + std::to_string(all_ids.numel()));
    const at::Tensor traces = all_traces.index_select(0, index).contiguous();
    const at::Tensor times = times_of(file, g, pre, n_all, samples).index_select(0, index).contiguous();
    check(times.sizes() == traces.sizes(), file, "/" + g + "/" + pre + "_traces_times has shape " +
                                                     shape_string(times) + ", the traces " + shape_string(traces));
    // Triggers: the first kept ROI's row, as openretina takes row 0 after filtering.
    const at::Tensor trigger_rows = field(file, g + "/" + pre + "_trigger_times");
    check_dims(trigger_rows, 2, file, "/" + g + "/" + pre + "_trigger_times", "(ROIs, triggers)");
    const at::Tensor triggers = trigger_rows[rows.front()];
    const int64_t repetitions = triggers.size(0) / p.triggers_per_repetition;
    check(repetitions >= 1, file, "/" + g + "/" + pre + "_trigger_times has " + std::to_string(triggers.size(0)) +
                                      " triggers, fewer than one repetition (" +
                                      std::to_string(p.triggers_per_repetition) + ")");
    // The stimulus clock: per used trigger, numpy.linspace(t, t + duration, samples).
    std::vector<double> clock;
    const int64_t used = repetitions * p.triggers_per_repetition / p.trigger_step;
    for (int64_t k = 0; k < used; ++k) {
      const double start = triggers[k * p.trigger_step].item<double>(), stop = start + p.duration;
      for (int64_t i = 0; i + 1 < p.samples; ++i) clock.push_back(start + i * ((stop - start) / (p.samples - 1)));
      clock.push_back(stop);
    }
    const int64_t frames = static_cast<int64_t>(clock.size()), n = traces.size(0);
    at::Tensor up = at::empty({n, frames}, at::kDouble);
    for (int64_t i = 0; i < n; ++i)
      numpy_interp(clock.data(), frames, times.data_ptr<double>() + i * samples, traces.data_ptr<double>() + i * samples,
                   samples, up.data_ptr<double>() + i * frames);
    up = up / up.std(1, /*unbiased=*/false, /*keepdim=*/true) * o.scale_traces;
    check_finite(up, file, "/" + g + "/" + pre + " responses resampled at the stimulus clock");
    const int64_t per_repetition = frames / repetitions;
    check(per_repetition == stimulus.size(1), stimulus_path,
          "one repetition has " + std::to_string(stimulus.size(1)) + " frames, the responses " +
              std::to_string(per_repetition));
    const at::Tensor trials = up.reshape({n, repetitions, per_repetition}).permute({1, 0, 2}).to(at::kFloat).contiguous();
    r.test_by_trial[p.test_name] = trials;
    r.test[p.test_name] = trials.mean(0);
    const auto eye = r.info.find("eye_is_left");
    const bool left = eye != r.info.end() && eye->second.reshape({-1})[0].item<int64_t>() != 0;
    m.test[p.test_name] = left ? stimulus.flip(3).contiguous() : stimulus;
  }
}

}  // namespace

void add_hoefling_artificial_stimuli(RetinaDataset& d, const HoeflingArtificialOptions& o) {
  if (!o.chirp_path.empty()) add_one(d, o, kChirp, o.chirp_path);
  if (!o.moving_bar_path.empty()) add_one(d, o, kMovingBar, o.moving_bar_path);
}

}  // namespace fovea::data
