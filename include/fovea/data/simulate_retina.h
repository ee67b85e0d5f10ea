#pragma once
// A ground-truth retina dataset in openretina's generic HDF5 layout: movies at
// 30 Hz (coloured noise or drifting natural-like scenes), mosaics of model
// ganglion cells of several types (ON/OFF x sustained/transient, colour-
// opponent; difference-of-Gaussians receptive fields, biphasic causal temporal
// filters, softplus outputs), several sessions that each record a subset of
// the cells, Poisson training responses, a test movie repeated with
// independent noise, and the noise-free test responses of every session.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fovea::data {

struct SimulateRetinaOptions {
  int64_t n_sessions = 2;
  // Neurons recorded in each session: one value for all sessions, or one per session.
  std::vector<int64_t> neurons_per_session = {30};
  std::string stimulus = "noise";  // "noise" or "natural"
  int64_t height = 18, width = 16, colors = 2;
  int64_t train_frames = 6000;     // 200 s at 30 Hz
  int64_t test_frames = 300;       // 10 s, shown n_repeats times
  int64_t n_repeats = 3;
  int64_t filter_frames = 30;      // length of the temporal filters (1 s)
  double noise_scale = 1.0;        // trial = noise^2 * Poisson(rate / noise^2); 0: noise-free trials
  uint64_t seed = 0;
};

// What simulate_retina wrote, for a summary line and for tests.
struct SimulateRetinaSummary {
  std::vector<std::string> files;          // every file written (full paths)
  std::vector<std::string> sessions;       // session names = data_keys, sorted
  std::vector<int64_t> n_neurons;          // per session
  int64_t n_cells = 0;                     // distinct cells recorded over all sessions
  std::vector<double> mean_fev;            // per session: mean FEV of the test repeats (over defined values)
};

// Writes into `dir` (created if needed):
//  stimuli/train.npy, stimuli/test.npy   (colors, T, height, width) float32; both
//                            normalised with the training movie's mean and std (ddof 0)
//  session_<s>.h5            responses_train (N, T_train), responses_test (N, T_test):
//                            the mean of the repeats, test_by_trial/test (repeats, N, T_test),
//                            all float32; session_info/cell_ids (N,) int64 (ids in
//                            ground_truth/cells.json), session_info/cell_types (N,) int64
//                            (1-based type numbers), session_info/rf_x, rf_y (N,) float64
//                            (receptive-field centres, pixels)
//  ground_truth/<session>.npy  (N, T_test) float32: the noise-free test responses; each
//                            test trial has this expected value
//  ground_truth/cells.json   options, cell types, every recorded cell's parameters
//                            and the ids each session recorded
//  ground_truth/spatial_filters.npy  (cells, colors, height, width) float32, in cells.json order
//  ground_truth/temporal_filters.npy (cells, filter_frames) float32; [k][l]: l frames back
//  README.txt                what the files are and how they were made
// The test stimulus is named "test": load with test_names = {"test"}.
// Responses are on openretina's scale: non-negative, unit variance over the
// training movie in expectation. The same options give the same numbers
// (npy and JSON byte-identical). Bad options throw fovea::Error naming the option.
SimulateRetinaSummary simulate_retina(const std::string& dir, const SimulateRetinaOptions& options);

}  // namespace fovea::data
