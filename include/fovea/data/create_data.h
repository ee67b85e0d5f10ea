#pragma once
// openretina's `create-data`: a synthetic dataset in the generic HDF5 layout,
// for trying the pipeline end to end (no ground truth; `simulate retina` has one).
//   <dir>/stimuli/random_noise_<i>.npy   (C, (70 + i) * clip_length, 16, 8) standard normal
//   <dir>/session_<s>.h5                 responses_random_noise_<i> (N, T_i), N in [10, 29],
//                                        session_info/celltypes (N,)
// Each neuron sums the stimulus over a random spatial patch, box-filtered in
// time, times U(0.5, 1.5) plus U(0, 1).
#include <cstdint>
#include <string>

namespace fovea::data {

struct CreateDataOptions {
  int64_t num_colors = 3;
  int64_t num_stimuli = 4;
  int64_t num_sessions = 2;
  int64_t clip_length = 75;
  int64_t height = 16, width = 8;
  uint64_t seed = 0;
};

void create_data(const std::string& dir, const CreateDataOptions& options);

}  // namespace fovea::data
