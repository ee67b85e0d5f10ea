#include "fovea/nn/predict.h"

#include <torch/torch.h>

#include <algorithm>

#include "fovea/error.h"

namespace fovea::nn {

int64_t min_input_frames(Model& model) {
  const auto shape = model.input_shape();
  if (shape.size() != 4) return 1;
  torch::Device device = torch::kCPU;
  for (const auto& [name, t] : model.state_dict()) {
    device = t.device();
    break;
  }
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const at::Tensor probe = torch::zeros({1, shape[0], shape[1], shape[2], shape[3]}, torch::TensorOptions(device));
  const int64_t out_frames = model.forward(probe, "").size(1);
  model.train(was_training);
  return shape[1] - out_frames + 1;
}

void check_session(const Model& model, const std::string& data_key, const std::string& model_origin) {
  const auto sessions = model.readout_keys();
  if (data_key.empty() || std::find(sessions.begin(), sessions.end(), "") != sessions.end() ||
      std::find(sessions.begin(), sessions.end(), data_key) != sessions.end())
    return;
  std::string known;
  for (const auto& s : sessions) known += (known.empty() ? "" : ", ") + s;
  fail(model_origin, "has no session '" + data_key + "'; its sessions are: " + known);
}

void check_movie_length(Model& model, const at::Tensor& input, const std::string& input_origin) {
  // A movie as long as the spec's input is always long enough: probe only shorter ones.
  const auto shape = model.input_shape();
  if (shape.size() != 4 || input.dim() != 5 || input.size(2) >= shape[1]) return;
  const int64_t need = min_input_frames(model);
  if (input.size(2) < need)
    fail(input_origin, "movies have " + std::to_string(input.size(2)) + " frames; the model needs at least " +
                           std::to_string(need) + " (its temporal filters reach " + std::to_string(need - 1) +
                           " frames back)");
}

at::Tensor predict(Model& model, const at::Tensor& input, int64_t batch_size, const std::string& data_key,
                   torch::Device device) {
  if (input.dim() == 0 || input.size(0) == 0) fail("predict", "there are no stimuli to run the model on");
  check_session(model, data_key, "predict: the model");
  check_movie_length(model, input, "predict: the input");
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < input.size(0); start += batch_size) {
    const int64_t n = std::min(batch_size, input.size(0) - start);
    parts.push_back(model.forward(input.narrow(0, start, n).to(device, torch::kFloat32), data_key).to(torch::kCPU));
  }
  model.train(was_training);
  return torch::cat(parts, 0);
}

}  // namespace fovea::nn
