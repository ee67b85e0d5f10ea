#pragma once
// `fovea predict --model M --input X.npy -o Y.npy`: a model's responses to stimuli.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "fovea/nn/model.h"

namespace fovea::api {

struct PredictOptions {
  std::string model;        // --model (names a loaded model in messages)
  std::string input;        // --input: stimuli (.npy) (names in-memory stimuli in messages)
  std::string output;       // -o: responses (.npy); "" : not written
  std::string session;      // --session: "" = all sessions
  int64_t batch_size = 100;
  std::string device = "cpu";
};

struct PredictResult {
  at::Tensor responses;     // (n, neurons), or (n, frames, neurons) for movies; CPU float32
  bool movie = false;       // retina model: the first `lag` input frames have no prediction
  int64_t lag = 0;          // input frames - output frames
  std::string output;       // the file written ("" : none)
};

// Images (n, [channels,] height, width) or movies (n, channels, frames, height, width);
// the shape, values and session are checked before the model runs.
PredictResult predict(const PredictOptions& options);
PredictResult predict(nn::Model& model, at::Tensor stimuli, const PredictOptions& options);

}  // namespace fovea::api
