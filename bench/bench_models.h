#pragma once
// The model specs the benchmarks time, shared so that every benchmark of a
// model times the same architecture.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace fovea::bench {

// openretina's default retina model (configs/retina_hoefling_2024_low_res.yaml).
inline nlohmann::json retina_spec(const std::map<std::string, int64_t>& neurons, int64_t time_steps = 150) {
  return {{"family", "retina"},
          {"core",
           {{"type", "simple_core_wrapper"},
            {"channels", {2, 16, 16}},
            {"temporal_kernel_sizes", {21, 11}},
            {"spatial_kernel_sizes", {11, 5}},
            {"input_padding", 0},
            {"hidden_padding", {0, 2, 2}},
            {"gamma_temporal", 40.0},
            {"cut_first_n_frames", 0}}},
          {"readout",
           {{"type", "gaussian_mask"},
            {"n_neurons_dict", neurons},
            {"scale", true},
            {"bias", true},
            {"gaussian_mean_scale", 6.0},
            {"gaussian_var_scale", 4.0},
            {"positive", true}}},
          {"input_shape", {2, time_steps, 18, 16}}};
}

// minimodel's 16-320 full model, or (minimodel = true) a 16-64 minimodel, on 66×130 images.
inline nlohmann::json v1_spec(int64_t neurons, bool minimodel = false) {
  nlohmann::json core = {{"type", "minimodel_core"}, {"n_conv", 16}, {"n_conv_mid", minimodel ? 64 : 320},
                         {"kernel_size", {25, 9}}, {"activation", minimodel ? "relu" : "elu"}, {"out_1x1", !minimodel}};
  return {{"core", core},
          {"readout", {{"type", "rank1"}, {"n_neurons", neurons}, {"Wc_coef", minimodel ? 0.2 : 0.01}}},
          {"input_shape", {1, 66, 130}}};
}

}  // namespace fovea::bench
