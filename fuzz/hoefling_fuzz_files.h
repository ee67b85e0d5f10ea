#pragma once
// The smallest valid Höfling 2024 files (see fovea/data/hoefling_dataset.h),
// written with the test suite's writers (tests/data/hoefling_files.h): the
// fixed partners of fuzz_hoefling's inputs and its seeds. Movie: 1 channel of
// 1 x 1 pixels (108 clips of 150 frames, 2 presentation sequences); responses:
// two fields of 2 ROIs that pass the quality checks, one right eye with
// natural_traces_times, one left eye with t0/dt, 64 scan samples 10 s apart.
#include <ATen/ATen.h>

#include <fstream>
#include <map>
#include <string>

#include "data/hoefling_files.h"
#include "data/numpy_pickle_writer.h"

namespace fovea::fuzz {

inline std::string hoefling_movies_bytes(int64_t width = 1) {
  at::manual_seed(7);
  fovea::test::NumpyPickle p;
  p.add_string("eye", "right");
  at::Tensor seq = at::stack({at::arange(108, at::kLong), at::randperm(108, at::kLong)}, 1).to(at::kByte);
  p.add_array("random_sequences", seq, "u1");
  p.add_array("test", at::randn({1, 750, 1, width}), "f4");
  p.add_array("train", at::randn({1, 16200, 1, width}), "f4");
  return p.bytes();
}

inline void write_hoefling_movies(const std::string& path) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << hoefling_movies_bytes();
}

inline fovea::test::HoeflingField hoefling_field(const std::string& eye, int64_t sequence, bool t0_dt) {
  constexpr int64_t n = 2, samples = 64;
  fovea::test::HoeflingField f;
  f.eye = eye;
  f.scan_sequence_idx = sequence;
  f.group_assignment = at::tensor({3, 20}, at::kInt);
  f.d_qi = at::tensor({0.7, 0.2}, at::kDouble);
  f.chirp_qi = at::tensor({0.1, 0.5}, at::kDouble);
  f.group_confidences = at::full({n, 46}, 0.01f);
  f.group_confidences.select(1, 5).fill_(0.9f);
  f.spikes = at::rand({n, samples});
  const at::Tensor t0 = at::tensor({0.5, 0.7}, at::kDouble);
  if (t0_dt) {
    f.t0 = t0;
    f.dt = at::full({n}, 10.0, at::kDouble);
    f.spikes_key = "natural_spikes";
  } else {
    f.times = t0.unsqueeze(1) + 10.0 * at::arange(samples, at::kDouble).unsqueeze(0);
  }
  const at::Tensor base = 2.0 + 4.9666667 * at::arange(123, at::kDouble);
  f.triggers = (base.unsqueeze(0) + 0.01 * at::arange(n, at::kDouble).unsqueeze(1)).to(at::kFloat);
  f.roi_ids = at::arange(1, n + 1, at::kInt);
  return f;
}

inline void write_hoefling_responses(const std::string& path) {
  at::manual_seed(8);
  fovea::test::write_hoefling_responses(
      path, {{"session_1_ventral1_20200101", hoefling_field("right", 0, false)},
             {"session_3_ventral1_20200202", hoefling_field("left", 1, true)}});
}

}  // namespace fovea::fuzz
