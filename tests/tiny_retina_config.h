#pragma once
// The tiny retina model the training and evaluation tests train on a
// simulated hdf5 dataset: one layer of `hidden_channels` (openretina's
// simple_core_wrapper with custom_separable convolutions, 11-frame temporal
// and 7x7 spatial kernels, BatchNorm) and a Gaussian mask readout; clips of
// 60 frames, 4 of them for validation. The caller adds the rest of
// "training" and "seed".
#include <nlohmann/json.hpp>
#include <string>

namespace fovea::test {

inline nlohmann::json tiny_retina_config(const std::string& dir, int64_t hidden_channels, int64_t split_seed) {
  nlohmann::json c = nlohmann::json::parse(R"({
    "family": "retina",
    "data": {"layout": "hdf5", "test_names": ["test"], "clip_length": 60, "num_val_clips": 4},
    "model": {"core": {"type": "simple_core_wrapper", "temporal_kernel_sizes": [11], "spatial_kernel_sizes": [7],
                       "convolution_type": "custom_separable", "input_padding": 0, "hidden_padding": 0,
                       "gamma_temporal": 0.0, "cut_first_n_frames": 0},
              "readout": {"type": "gaussian_mask", "scale": true, "bias": true, "gaussian_mean_scale": 6.0,
                          "gaussian_var_scale": 4.0, "positive": true, "mask_l1_reg": 0.1,
                          "feature_weights_l1_reg": 0.1}},
    "training": {"batch_size": 16, "chunk_size": 30}})");
  c["data"]["dir"] = dir;
  c["data"]["split_seed"] = split_seed;
  c["model"]["hidden_channels"] = {hidden_channels};
  return c;
}

}  // namespace fovea::test
