#pragma once
// A tiny retina core-readout model (one 4-channel separable layer, a Gaussian
// mask readout per session) on 1×40×8×8 clips, for the retina task tests.
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fovea/nn/model.h"

namespace fovea::test {

inline std::shared_ptr<nn::Model> small_retina_model(const std::map<std::string, int64_t>& neurons) {
  nlohmann::json spec = {{"family", "retina"},
                         {"core",
                          {{"type", "simple_core_wrapper"},
                           {"channels", {1, 4}},
                           {"temporal_kernel_sizes", {9}},
                           {"spatial_kernel_sizes", {5}},
                           {"input_padding", 0},
                           {"gamma_temporal", 1.0},
                           {"cut_first_n_frames", 0}}},
                         {"readout", {{"type", "gaussian_mask"}, {"n_neurons_dict", neurons}, {"scale", true}}},
                         {"input_shape", {1, 40, 8, 8}}};
  return nn::build_model(spec);
}

}  // namespace fovea::test
