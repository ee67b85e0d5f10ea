// Reading the Höfling 2024 responses HDF5 as openretina's filter_responses and
// make_final_responses do (data_io/hoefling_2024/responses.py).
#include "data/hoefling_responses.h"

#include <H5Cpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "data/tensor_checks.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "io/hdf5_file.h"

namespace fovea::data {
namespace {

// 4.9666667 s: openretina's measured interval between two clip triggers.
constexpr double kTriggerInterval = 4.9666667;

// Attributes of a field group, read with the HDF5 C++ API (fovea::io reads datasets only).
struct FieldAttributes {
  std::string eye;
  int64_t scan_sequence_idx = -1;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

FieldAttributes read_attributes(const std::string& file, const std::string& group) {
  FieldAttributes a;
  const std::string where = file + ": /" + group;
  try {
    H5::Exception::dontPrint();
    H5::H5File f = io::detail::open_h5_for_reading(file);  // fovea's checked driver (src/io/hdf5.cpp)
    H5::Group g = f.openGroup(group);
    if (!g.attrExists("eye")) fail(where, "attribute 'eye' is missing (expected 'left' or 'right')");
    H5::Attribute eye = g.openAttribute("eye");
    if (eye.getTypeClass() != H5T_STRING) fail(where, "attribute 'eye' is not a string (expected 'left' or 'right')");
    std::string value;
    eye.read(eye.getStrType(), value);
    a.eye = trim(value);
    if (!g.attrExists("scan_sequence_idx")) fail(where, "attribute 'scan_sequence_idx' is missing (expected 0..19)");
    H5::Attribute seq = g.openAttribute("scan_sequence_idx");
    if (seq.getTypeClass() != H5T_INTEGER || seq.getSpace().getSimpleExtentNpoints() != 1)
      fail(where, "attribute 'scan_sequence_idx' is not one integer");
    seq.read(H5::PredType::NATIVE_INT64, &a.scan_sequence_idx);
  } catch (const H5::Exception& e) {
    fail(where, "cannot read the attributes: " + e.getDetailMsg());
  }
  if (a.eye != "left" && a.eye != "right") fail(where, "attribute 'eye' is '" + a.eye + "', expected 'left' or 'right'");
  return a;
}

// One field's dataset, checked for rank and (optionally) its first axis.
at::Tensor read_field(const std::string& file, const std::string& group, const std::string& name, int64_t dims,
                      int64_t rows, const std::string& expected) {
  const std::string path = group + "/" + name;
  const std::string what = "/" + path;
  if (!io::h5_has(file, path)) fail(file, what + " is missing (expected " + expected + ")");
  at::Tensor t = io::read_h5_dataset(file, path);
  check_dims(t, dims, file, what, expected);
  if (rows >= 0)
    check(t.size(0) == rows, file,
          what + " has " + std::to_string(t.size(0)) + " rows, /" + group + "/group_assignment has " +
              std::to_string(rows) + " ROIs");
  return t;
}

at::Tensor read_integers(const std::string& file, const std::string& group, const std::string& name, int64_t rows) {
  at::Tensor t = read_field(file, group, name, 1, rows, "(ROIs,) integers");
  check(t.scalar_type() == torch::kInt64, file, "/" + group + "/" + name + " must hold integers");
  return t;
}

// The ROIs that pass quality_checks (filter_responses), as a bool mask.
at::Tensor quality_mask(const std::string& file, const std::string& group, const at::Tensor& groups,
                        const HoeflingQualityChecks& q) {
  const int64_t n = groups.size(0);
  at::Tensor keep = torch::ones({n}, torch::kBool);
  if (q.filter_cell_types) {
    at::Tensor in_list = torch::zeros({n}, torch::kBool);
    for (const int64_t type : q.cell_types_list) in_list |= groups == type;
    keep &= in_list;
  }
  // A NaN quality index compares false, so it fails, as in numpy.
  const at::Tensor d_qi = read_field(file, group, "d_qi", 1, n, "(ROIs,)").to(torch::kFloat64);
  const at::Tensor chirp_qi = read_field(file, group, "chirp_qi", 1, n, "(ROIs,)").to(torch::kFloat64);
  const at::Tensor d_ok = d_qi >= q.d_qi, chirp_ok = chirp_qi >= q.chirp_qi;
  keep &= q.qi_logic == "and" ? (d_ok & chirp_ok) : (d_ok | chirp_ok);
  if (q.classifier_confidence > 0) {
    const at::Tensor conf = read_field(file, group, "group_confidences", 2, n, "(ROIs, 46)").to(torch::kFloat64);
    check(conf.size(1) >= 1, file, "/" + group + "/group_confidences has no columns");
    // numpy's max propagates NaN, and NaN ≥ threshold is false.
    keep &= std::get<0>(conf.max(1)) >= q.classifier_confidence;
  }
  return keep;
}

// The traces of the chosen trace type, (ROIs, T_scan) float64.
at::Tensor read_traces(const std::string& file, const std::string& group, int64_t n, const std::string& trace_type) {
  const std::string expected = "(ROIs, scan samples)";
  if (trace_type == "spikes") {
    const std::string name = io::h5_has(file, group + "/natural_inferred_spikes") ? "natural_inferred_spikes"
                             : io::h5_has(file, group + "/natural_spikes")        ? "natural_spikes"
                                                                                  : "";
    if (name.empty()) fail(file, "/" + group + "/natural_inferred_spikes is missing (nor is there natural_spikes)");
    return read_field(file, group, name, 2, n, expected).to(torch::kFloat64);
  }
  if (trace_type == "raw") return read_field(file, group, "natural_raw_traces", 2, n, expected).to(torch::kFloat64);
  if (trace_type == "preprocessed")
    return read_field(file, group, "natural_preprocessed_traces", 2, n, expected).to(torch::kFloat64);
  if (trace_type == "detrended") {
    const at::Tensor raw = read_field(file, group, "natural_raw_traces", 2, n, expected).to(torch::kFloat64);
    const at::Tensor smooth = read_field(file, group, "natural_smoothed_traces", 2, n, expected).to(torch::kFloat64);
    check(raw.sizes() == smooth.sizes(), file,
          "/" + group + "/natural_smoothed_traces has shape " + shape_string(smooth) + ", natural_raw_traces has " +
              shape_string(raw));
    return raw - smooth;
  }
  fail("data.trace_type", "unknown trace type '" + trace_type + "' (known: spikes, raw, preprocessed, detrended)");
}

// Sample times (ROIs, T_scan) float64: natural_traces_times, or t0 + j·dt.
at::Tensor read_times(const std::string& file, const std::string& group, int64_t n, int64_t samples) {
  at::Tensor times;
  if (io::h5_has(file, group + "/natural_traces_times")) {
    times = read_field(file, group, "natural_traces_times", 2, n, "(ROIs, scan samples)").to(torch::kFloat64);
  } else if (io::h5_has(file, group + "/natural_traces_t0") && io::h5_has(file, group + "/natural_traces_dt")) {
    const at::Tensor t0 = read_field(file, group, "natural_traces_t0", 1, n, "(ROIs,)").to(torch::kFloat64);
    const at::Tensor dt = read_field(file, group, "natural_traces_dt", 1, n, "(ROIs,)").to(torch::kFloat64);
    times = torch::arange(samples, torch::kFloat64).unsqueeze(0) * dt.unsqueeze(1) + t0.unsqueeze(1);
  } else {
    fail(file, "/" + group + "/natural_traces_times is missing (nor are there natural_traces_t0 and natural_traces_dt)");
  }
  check(times.size(1) == samples, file,
        "/" + group + "/natural_traces_times has " + std::to_string(times.size(1)) + " samples per ROI, the traces have " +
            std::to_string(samples));
  check_finite(times, file, "/" + group + "/natural_traces_times");
  return times;
}

// The 30 Hz movie clock: 150 sample times per trigger, numpy.linspace(t, t +
// 4.9666667, 150) in float64, concatenated.
std::vector<double> movie_clock(const at::Tensor& triggers) {
  std::vector<double> x;
  x.reserve(static_cast<size_t>(triggers.numel() * kHoeflingClipLength));
  const int64_t div = kHoeflingClipLength - 1;
  for (int64_t k = 0; k < triggers.numel(); ++k) {
    const double start = triggers[k].item<double>();
    const double stop = start + kTriggerInterval;
    const double step = (stop - start) / static_cast<double>(div);
    for (int64_t i = 0; i < div; ++i) x.push_back(static_cast<double>(i) * step + start);
    x.push_back(stop);  // numpy sets the endpoint exactly
  }
  return x;
}

// Resamples, normalises and splits one field's kept ROIs.
void make_final_responses(const std::string& file, HoeflingSession& s, const at::Tensor& traces,
                          const at::Tensor& times, const at::Tensor& triggers, double scale) {
  const int64_t n = traces.size(0), samples = traces.size(1);
  check(samples >= 2, file, "/" + s.key + ": the traces have " + std::to_string(samples) + " samples, too few to resample");
  const std::vector<double> clock = movie_clock(triggers);
  const int64_t frames = static_cast<int64_t>(clock.size());  // 123 · 150 = 18450
  at::Tensor up = torch::empty({n, frames}, torch::kFloat64);
  const at::Tensor tr = traces.contiguous(), tm = times.contiguous();
  for (int64_t i = 0; i < n; ++i) {
    const double* xp = tm.data_ptr<double>() + i * samples;
    for (int64_t j = 1; j < samples; ++j)
      check(xp[j] > xp[j - 1], file,
            "/" + s.key + "/natural_traces_times of ROI row " + std::to_string(i) + " is not increasing at sample " +
                std::to_string(j));
    // numpy.interp holds the end values outside the recording; more than one
    // scan interval outside it means the recording does not cover the stimulus.
    const double gap_start = xp[1] - xp[0], gap_end = xp[samples - 1] - xp[samples - 2];
    check(clock.front() >= xp[0] - gap_start && clock.back() <= xp[samples - 1] + gap_end, file,
          "/" + s.key + ": the responses of ROI row " + std::to_string(i) + " span " + std::to_string(xp[0]) + "–" +
              std::to_string(xp[samples - 1]) + " s, shorter than the stimulus (" + std::to_string(clock.front()) +
              "–" + std::to_string(clock.back()) + " s from natural_trigger_times)");
    numpy_interp(clock.data(), frames, xp, tr.data_ptr<double>() + i * samples, samples,
                 up.data_ptr<double>() + i * frames);
  }
  // norm_by_std: each ROI over all resampled frames, ddof 0.
  up = up / up.std(1, /*unbiased=*/false, /*keepdim=*/true) * scale;
  const int64_t nonfinite = (~up.isfinite()).any(1).sum().item<int64_t>();
  check(nonfinite == 0, file,
        "/" + s.key + ": " + std::to_string(nonfinite) + " of " + std::to_string(n) +
            " ROIs have NaN or infinite responses after resampling to the movie frames (NaN traces near the "
            "triggers, or a constant trace); openretina would train nothing on this field");
  // The fixed presentation layout of 123 clips (test, train, test, train, test).
  const int64_t L = kHoeflingClipLength, test_frames = 5 * L, half = 54 * L;
  const at::Tensor r1 = up.narrow(1, 0, test_frames), r2 = up.narrow(1, test_frames + half, test_frames),
                   r3 = up.narrow(1, 2 * test_frames + 2 * half, test_frames);
  const at::Tensor trials = torch::stack({r1, r2, r3}, 0);  // (3, N, 750)
  s.test_by_trial = trials.to(torch::kFloat32).contiguous();
  s.test = trials.mean(0).to(torch::kFloat32).contiguous();
  s.train = torch::cat({up.narrow(1, test_frames, half), up.narrow(1, 2 * test_frames + half, half)}, 1)
                .to(torch::kFloat32)
                .contiguous();
}

}  // namespace

void numpy_interp(const double* x, int64_t nx, const double* xp, const double* fp, int64_t np, double* out) {
  const double left = fp[0], right = fp[np - 1];
  for (int64_t i = 0; i < nx; ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      out[i] = v;
    } else if (v < xp[0]) {
      out[i] = left;
    } else if (v >= xp[np - 1]) {
      out[i] = v > xp[np - 1] ? right : fp[np - 1];
    } else {
      // j with xp[j] <= v < xp[j + 1]
      const int64_t j = (std::upper_bound(xp, xp + np, v) - xp) - 1;
      if (v == xp[j]) {
        out[i] = fp[j];  // numpy returns the sample itself at an exact hit
        continue;
      }
      const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
      double r = slope * (v - xp[j]) + fp[j];
      if (std::isnan(r)) {
        r = slope * (v - xp[j + 1]) + fp[j + 1];
        if (std::isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
      }
      out[i] = r;
    }
  }
}

std::vector<HoeflingSession> read_hoefling_responses(const HoeflingOptions& o) {
  const std::string& file = o.responses_path;
  const auto& q = o.quality;
  check(q.qi_logic == "or" || q.qi_logic == "and", "data.quality_checks.qi_logic",
        "must be 'or' or 'and', got '" + q.qi_logic + "'");
  std::vector<HoeflingSession> out;
  for (const std::string& group : io::h5_members(file, "/")) {
    const at::Tensor groups = read_integers(file, group, "group_assignment", -1);
    const int64_t n = groups.size(0);
    const at::Tensor keep = quality_mask(file, group, groups, q);
    const at::Tensor rows = keep.nonzero().reshape({-1});
    const int64_t kept = rows.size(0);
    if (kept == 0) continue;  // openretina drops a field left without ROIs
    if (q.filter_counts && kept <= q.count_threshold) continue;

    HoeflingSession s;
    s.key = group;
    const FieldAttributes attrs = read_attributes(file, group);
    // Mislabelled as a left eye in the published files; openretina forces it.
    s.left_eye = attrs.eye == "left" && group != "session_2_ventral2_20200626";
    s.scan_sequence_idx = attrs.scan_sequence_idx;
    s.group_assignment = groups.index_select(0, rows);
    if (io::h5_has(file, group + "/roi_ids")) s.roi_ids = read_integers(file, group, "roi_ids", n).index_select(0, rows);

    const at::Tensor traces = read_traces(file, group, n, o.trace_type).index_select(0, rows);
    const at::Tensor times = read_times(file, group, n, traces.size(1)).index_select(0, rows);
    const at::Tensor trigger_rows =
        read_field(file, group, "natural_trigger_times", 2, n, "(ROIs, 123) seconds").to(torch::kFloat64);
    check(trigger_rows.size(1) == kHoeflingNumTriggers, file,
          "/" + group + "/natural_trigger_times has " + std::to_string(trigger_rows.size(1)) +
              " triggers per ROI, expected 123 (one per presented clip); the responses do not cover the stimulus");
    // openretina takes row 0 after filtering: the first kept ROI's triggers.
    const at::Tensor triggers = trigger_rows[rows[0].item<int64_t>()].contiguous();
    check_finite(triggers, file, "/" + group + "/natural_trigger_times");
    make_final_responses(file, s, traces, times, triggers, o.scale_traces);
    out.push_back(std::move(s));
  }
  if (out.empty()) fail(file, "no recording field has ROIs that pass the quality checks");
  return out;
}

}  // namespace fovea::data
