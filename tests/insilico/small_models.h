#pragma once
// Small models with random weights for in-silico and figure tests.
#include <torch/torch.h>

#include <memory>

#include "fovea/nn/model.h"

namespace fovea::testing {

using fovea::nn::Json;

// A small retina model (2 sessions) with random weights; no frame cut so the
// last inner layer equals the core's output.
inline std::shared_ptr<fovea::nn::Model> retina_model() {
  Json spec = {{"core",
                {{"type", "simple_core_wrapper"},
                 {"channels", {2, 4, 4}},
                 {"temporal_kernel_sizes", {5, 3}},
                 {"spatial_kernel_sizes", {5, 3}},
                 {"input_padding", 0},
                 {"hidden_padding", {0, 1, 1}},
                 {"cut_first_n_frames", 0}}},
               {"readout",
                {{"type", "gaussian_mask"},
                 {"n_neurons_dict", {{"s1", 5}, {"s2", 3}}},
                 {"scale", true},
                 {"gaussian_mean_scale", 6.0},
                 {"gaussian_var_scale", 4.0},
                 {"positive", true}}},
               {"input_shape", {2, 20, 12, 10}}};
  auto model = fovea::nn::build_model(spec);
  // Random convolution weights; the norms and the readout keep their initial values.
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters())
    if (p.key().find(".conv.") != std::string::npos) p.value().normal_(0.0, 0.3);
  model->eval();
  return model;
}

inline std::shared_ptr<fovea::nn::Model> v1_model() {
  Json spec = {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", 6}, {"kernel_size", {7, 3}}}},
               {"readout", {{"type", "rank1"}, {"n_neurons", 3}}},
               {"input_shape", {1, 20, 24}}};
  auto model = fovea::nn::build_model(spec);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())
    if (p.dim() > 1) p.normal_(0.0, 0.3);
  model->eval();
  return model;
}

}  // namespace fovea::testing
