#pragma once
// A ground-truth V1 dataset in minimodel's layout: natural-like grey images,
// a population of model simple and complex cells with known receptive fields,
// noisy single-trial training responses, a test set repeated several times,
// and the true noise-free test responses, so that the ceiling is known.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fovea::data {

struct SimulateV1Options {
  int64_t n_neurons = 60;
  int64_t n_train_images = 4000;   // shown once each
  int64_t n_test_images = 100;     // shown `n_repeats` times each
  int64_t n_repeats = 10;
  int64_t height = 66;
  int64_t width = 130;
  double complex_fraction = 0.5;   // share of complex (Gabor-energy) cells
  double noise_scale = 1.0;        // multiplies the trial-to-trial noise
  uint64_t seed = 0;
};

// What simulate_v1 wrote, for a summary line.
struct SimulateV1Summary {
  std::vector<std::string> files;  // images.npy, responses.npz, ground_truth.npz, README.txt (full paths)
  int64_t n_neurons = 0;
  int64_t n_images = 0;
  at::Tensor fev;                  // (neurons,) float64: FEV of the written test repeats
  double mean_fev = 0.0;           // mean of fev over neurons where it is defined
};

// Writes into `dir` (created if needed):
//  images.npy          (N_images, height, width) float32; test images are 0..n_test-1,
//                      training images n_test..N-1
//  responses.npz       sp (neurons, trials), istim_sp, ss_all (test, repeats, neurons),
//                      istim_ss, xpos, ypos, iplane (minimodel keys and shapes)
//  ground_truth.npz    test_rates (test images, neurons): the noise-free rates, equal
//                      to the expected value of each ss_all repeat (no rescaling),
//                      image_rates (N_images, neurons), each neuron's parameters
//                      (type 0 simple / 1 complex, x, y, sigma, theta, freq, phase,
//                      aspect, gain, offset, threshold, exponent, drive_mean,
//                      drive_std, target_fev, event_scale) and its filters
//                      rf_even, rf_odd (neurons, height, width)
//  README.txt          what the files are and how they were made
// The same options (seed included) give byte-identical files. Bad options
// throw fovea::Error naming the option.
SimulateV1Summary simulate_v1(const std::string& dir, const SimulateV1Options& options);

}  // namespace fovea::data

namespace fovea::data {

// The noise-free test responses (`test_rates` of ground_truth.npz), checked
// against the dataset's test set: (test images, neurons).
at::Tensor read_test_rates(const std::string& ground_truth_path, int64_t n_test_images, int64_t n_neurons);

}  // namespace fovea::data
