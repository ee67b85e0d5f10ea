#pragma once
// Running a model on many stimuli: eval mode, no gradients, in batches.
#include <torch/types.h>

#include "fovea/nn/model.h"

namespace fovea::nn {

// The fewest frames a movie model (input (channels, time, height, width))
// can predict from: its temporal reach (the frames every prediction looks
// back over) + 1. Found by running one zero movie of the spec's length
// through the model (on the device of its weights); a model that gives one
// output frame per input frame after a fixed lag is assumed (every retina
// model in fovea). 1 for image models.
int64_t min_input_frames(Model& model);

// The checks predict() makes before running the model, for callers that want
// errors naming their own files (`model_origin`, `input_origin`): an unknown
// `data_key` (the message lists the model's sessions), and a movie (B, C, T,
// H, W) with fewer than min_input_frames(model) frames.
void check_session(const Model& model, const std::string& data_key, const std::string& model_origin);
void check_movie_length(Model& model, const at::Tensor& input, const std::string& input_origin);

// `input` may live on the CPU; each batch is moved to `device` and the result
// comes back to the CPU as float32. Movies with fewer frames than
// min_input_frames(model) and unknown sessions are fovea::Errors.
at::Tensor predict(Model& model, const at::Tensor& input, int64_t batch_size = 100, const std::string& data_key = "",
                   torch::Device device = torch::kCPU);

}  // namespace fovea::nn
