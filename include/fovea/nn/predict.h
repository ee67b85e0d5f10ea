#pragma once
// Running a model on many stimuli: eval mode, no gradients, in batches.
#include <torch/types.h>

#include "fovea/nn/model.h"

namespace fovea::nn {

// `input` may live on the CPU; each batch is moved to `device` and the result
// comes back to the CPU as float32.
at::Tensor predict(Model& model, const at::Tensor& input, int64_t batch_size = 100, const std::string& data_key = "",
                   torch::Device device = torch::kCPU);

}  // namespace fovea::nn
