#include "fovea/nn/predict.h"

#include <torch/torch.h>

#include "fovea/error.h"

namespace fovea::nn {

at::Tensor predict(Model& model, const at::Tensor& input, int64_t batch_size, const std::string& data_key,
                   torch::Device device) {
  if (input.dim() == 0 || input.size(0) == 0) fail("predict", "there are no stimuli to run the model on");
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
