#pragma once
// A small Höfling 2024 dataset in the published layout, written to a
// temporary folder: the movie pickle (2 channels, 108 clips of 150 frames,
// 3 presentation sequences) and the responses HDF5 with four fields — one
// right eye (sequence 2, natural_traces_times), the field openretina forces
// to the right eye (labelled left; sequence 0, t0/dt sample times,
// natural_spikes), a left eye (sequence 1), and one whose ROIs all fail the
// quality checks. Each ROI's type, quality indices and classifier confidence
// are listed in `rois`, so tests can tell which must pass.
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "data/hoefling_files.h"
#include "data/temp_dir.h"
#include "fovea/data/hoefling_dataset.h"

namespace fovea::test::hoefling {

using fovea::test::HoeflingField;
using fovea::test::NumpyPickle;
namespace data = fovea::data;

constexpr int64_t kH = 4, kW = 3, kSequences = 3, kClips = 108, kL = 150, kTriggers = 123;
constexpr double kScanDt = 0.128;  // 7.8125 Hz
constexpr int64_t kScanSamples = 4860;
inline const std::vector<int64_t> kValClips = {0, 4, 10, 11, 18, 30, 45, 62, 67, 77, 79, 80, 81, 83, 95};

inline const char* kA = "session_1_ventral1_20200101";  // right eye, sequence 2, natural_traces_times
inline const char* kB = "session_2_ventral2_20200626";  // labelled left, read as right; sequence 0; t0/dt
inline const char* kC = "session_3_ventral1_20200202";  // left eye, sequence 1
inline const char* kD = "session_4_ventral2_20200303";  // no ROI passes: dropped

struct Roi {
  int32_t group;
  double d_qi, chirp_qi, max_confidence;
};

inline const double kNaN = std::nan("");

inline HoeflingField make_field(const std::vector<Roi>& rois, const std::string& eye, int64_t sequence, bool t0_dt,
                         const at::Tensor& base_triggers) {
  const int64_t n = static_cast<int64_t>(rois.size());
  HoeflingField f;
  f.eye = eye;
  f.scan_sequence_idx = sequence;
  f.group_assignment = torch::empty({n}, torch::kInt32);
  f.d_qi = torch::empty({n}, torch::kFloat64);
  f.chirp_qi = torch::empty({n}, torch::kFloat64);
  f.group_confidences = torch::rand({n, 46}) * 0.1f;
  for (int64_t i = 0; i < n; ++i) {
    f.group_assignment[i] = rois[i].group;
    f.d_qi[i] = rois[i].d_qi;
    f.chirp_qi[i] = rois[i].chirp_qi;
    f.group_confidences[i][(i * 7) % 46] = static_cast<float>(rois[i].max_confidence);
  }
  // Each ROI: its own scale (visible after the std normalisation) and start time.
  f.spikes = (torch::rand({n, kScanSamples}) * (torch::arange(n).unsqueeze(1) + 1)).to(torch::kFloat32);
  const at::Tensor t0 = 0.5 + 0.003 * torch::arange(n, torch::kFloat64);
  if (t0_dt) {
    f.t0 = t0;
    f.dt = torch::full({n}, kScanDt, torch::kFloat64);
    f.spikes_key = "natural_spikes";
  } else {
    f.times = t0.unsqueeze(1) + kScanDt * torch::arange(kScanSamples, torch::kFloat64).unsqueeze(0);
  }
  // One row per ROI, shifted by 10 ms each: which row is used is visible.
  f.triggers = (base_triggers.unsqueeze(0) + 0.01 * torch::arange(n, torch::kFloat64).unsqueeze(1)).to(torch::kFloat32);
  f.roi_ids = torch::arange(1, n + 1, torch::kInt32);
  f.roi_mask = torch::zeros({64, 64}, torch::kInt32);
  return f;
}

// The document's quality checks with the default thresholds.
inline bool passes(const Roi& r) {
  const bool type = r.group >= 1 && r.group <= 32;
  const bool qi = r.d_qi >= 0.6 || r.chirp_qi >= 0.35;  // NaN compares false
  return type && qi && r.max_confidence >= 0.25;
}

struct Fixture {
  fovea::testing::TempDir dir{"hoefling"};
  at::Tensor train_movie, test_movie, sequences;  // canonical clips, (108, 3) int64
  std::map<std::string, HoeflingField> fields;
  std::map<std::string, std::vector<Roi>> rois;
  std::string movies_path = dir.file("rgc_natstim_18x16_joint_normalized_2024-01-11.pkl");
  std::string responses_path = dir.file("rgc_natstim_2024-08-14.h5");

  Fixture() {
    torch::manual_seed(3);
    train_movie = torch::randn({2, kClips * kL, kH, kW});
    test_movie = torch::randn({2, 5 * kL, kH, kW});
    sequences = torch::empty({kClips, kSequences}, torch::kInt64);
    for (int64_t s = 0; s < kSequences; ++s) sequences.select(1, s).copy_(torch::randperm(kClips));
    const at::Tensor base = 2.0 + 4.9666667 * torch::arange(kTriggers, torch::kFloat64) +
                            0.02 * torch::rand({kTriggers}, torch::kFloat64);
    rois[kA] = {{5, 0.7, 0.1, 0.9},  {33, 0.9, 0.9, 0.9},   {12, 0.2, 0.35, 0.5}, {20, 0.59, 0.34, 0.9},
                {30, kNaN, 0.5, 0.5}, {1, 0.9, kNaN, 0.2},  {32, 0.6, 0.0, 0.25}, {46, 0.9, 0.9, 0.9}};
    rois[kB] = {{40, 0.9, 0.9, 0.9}, {9, 0.1, 0.8, 0.6}, {14, 0.8, 0.0, 0.7}};
    rois[kC] = {{2, 0.9, 0.0, 0.8}, {28, 0.7, 0.9, 0.8}};
    rois[kD] = {{33, 0.9, 0.9, 0.9}, {3, 0.1, 0.1, 0.9}};
    fields[kA] = make_field(rois[kA], "right", 2, false, base);
    fields[kB] = make_field(rois[kB], "left", 0, true, base);
    fields[kC] = make_field(rois[kC], "left", 1, false, base);
    fields[kD] = make_field(rois[kD], "right", 0, false, base);
    write();
  }

  void write(NumpyPickle pickle = NumpyPickle(), bool defaults = true) {
    if (defaults) {
      pickle.add_string("eye", "right");
      pickle.add_array("random_sequences", sequences.to(torch::kUInt8), "u1");
      pickle.add_array("test", test_movie, "f4");
      pickle.add_array("train", train_movie, "f4");
    }
    std::ofstream(movies_path, std::ios::binary) << pickle.bytes();
    fovea::test::write_hoefling_responses(responses_path, fields);
  }

  std::vector<int64_t> kept(const std::string& field) const {
    std::vector<int64_t> k;
    for (size_t i = 0; i < rois.at(field).size(); ++i)
      if (passes(rois.at(field)[i])) k.push_back(static_cast<int64_t>(i));
    return k;
  }

  // The 108 clips in the order of sequence s, (2, 16200, H, W).
  at::Tensor presented(int64_t s) const {
    std::vector<at::Tensor> clips;
    for (int64_t i = 0; i < kClips; ++i) clips.push_back(train_movie.narrow(1, sequences[i][s].item<int64_t>() * kL, kL));
    return torch::cat(clips, 1);
  }

  data::HoeflingOptions options() const {
    data::HoeflingOptions o;
    o.movies_path = movies_path;
    o.responses_path = responses_path;
    return o;
  }
};

}  // namespace fovea::test::hoefling
