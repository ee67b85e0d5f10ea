#pragma once
// A ground-truth V1 dataset in minimodel's layout: natural-like grey images,
// a population of model simple and complex cells with known receptive fields,
// noisy single-trial training responses, a test set repeated several times,
// and the true noise-free test responses, so that the ceiling is known.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

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

// Writes into `dir` (created if needed):
//  images.npy          (N_images, height, width) float32
//  responses.npz       sp, istim_sp, ss_all, istim_ss, xpos, ypos (minimodel keys)
//  ground_truth.npz    test_rates (test images, neurons): noise-free responses,
//                      plus each neuron's parameters (type, x, y, sigma, theta, freq, phase)
//  README.txt          what the files are
void simulate_v1(const std::string& dir, const SimulateV1Options& options);

}  // namespace fovea::data
