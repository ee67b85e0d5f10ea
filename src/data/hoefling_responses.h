#pragma once
// The Höfling 2024 responses HDF5 (see fovea/data/hoefling_dataset.h):
// quality filters, resampling to the movie's frames, the fixed test/train
// layout (openretina's filter_responses + make_final_responses).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fovea/data/hoefling_dataset.h"

namespace fovea::data {

struct HoeflingSession {
  std::string key;              // the field's group name
  at::Tensor train;             // (N, 16200) float32, presentation order
  at::Tensor test;              // (N, 750) float32, mean of the repeats
  at::Tensor test_by_trial;     // (3, N, 750) float32
  at::Tensor group_assignment;  // (N,) int64 of the kept ROIs
  at::Tensor roi_ids;           // (N,) int64, or undefined when the file has none
  int64_t scan_sequence_idx = 0;
  bool left_eye = false;        // the `eye` attribute (session_2_ventral2_20200626 forced right)
};

// The fields that pass the quality checks, in sorted group-name order.
std::vector<HoeflingSession> read_hoefling_responses(const HoeflingOptions& options);

// numpy.interp(x, xp, fp) for increasing xp, in float64, with numpy's
// handling of NaN neighbours (compiled numpy's arr_interp).
void numpy_interp(const double* x, int64_t nx, const double* xp, const double* fp, int64_t np, double* out);

}  // namespace fovea::data
