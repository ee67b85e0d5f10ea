#pragma once
// A small model of the Höfling 2024 ensemble's architecture (the legacy
// parametric_factorized_batch_conv3d core and the spatial_x_feature_3d
// readout), two sessions, for the nn and viz tests.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

namespace fovea::test {

inline nlohmann::json legacy_model_spec(const std::vector<int64_t>& hidden_channels = {4, 4}) {
  return {{"family", "retina"},
          {"core",
           {{"type", "parametric_factorized_batch_conv3d"},
            {"input_channels", 2},
            {"layers", 2},
            {"hidden_channels", hidden_channels},
            {"temporal_kernel_size", {7, 5}},
            {"spatial_kernel_size", {5, 3}},
            {"hidden_padding", true},
            {"core_bias", true},
            {"sessions", {"b_session", "a_session"}}}},
          {"readout",
           {{"type", "spatial_x_feature_3d"},
            {"n_neurons_dict", {{"a_session", 3}, {"b_session", 2}}},
            {"gaussian_mean_scale", 6.0},
            {"gaussian_var_scale", 4.0},
            {"positive", true},
            {"scale", true}}},
          {"input_shape", {2, 20, 12, 10}}};
}

}  // namespace fovea::test
