#pragma once
// The model specs the benchmarks time, shared so that every benchmark of a
// model times the same architecture, and the shapes flops.h counts.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flops.h"
#include "fovea/nn/model.h"
#include "fovea/nn/retina_core.h"

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

// The retina core's layers as flops.h counts them ('same' padding: half the kernel).
inline std::vector<STLayerShape> retina_core_layers(const nn::Model& model) {
  const auto& o = std::dynamic_pointer_cast<nn::SimpleCoreWrapper>(model.core())->options();
  std::vector<STLayerShape> layers;
  for (int64_t l = 0; l < o.n_layers(); ++l) {
    const auto& pad = l == 0 ? o.input_padding : o.hidden_padding;
    const int64_t kt = o.temporal_kernel_sizes[l], ks = o.spatial_kernel_sizes[l];
    layers.push_back({o.channels[l], o.channels[l + 1], kt, ks, pad.same ? kt / 2 : pad.size[0],
                      pad.same ? ks / 2 : pad.size[1]});
  }
  return layers;
}

}  // namespace fovea::bench
