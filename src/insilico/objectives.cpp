// Objectives on a model's responses: increase, decrease, contrastive.
#include "fovea/insilico/objectives.h"

#include <torch/torch.h>

#include <cmath>

#include "fovea/error.h"

namespace fovea::insilico {

namespace {
at::Tensor index_tensor(const std::vector<int64_t>& indices, const at::Device& device) {
  return torch::tensor(indices, torch::TensorOptions().dtype(torch::kLong)).to(device);
}
}  // namespace

ModelObjective::ModelObjective(std::shared_ptr<nn::Model> model, std::string data_key)
    : model_(std::move(model)), data_key_(std::move(data_key)) {
  check(model_ != nullptr, "objective", "no model given");
  // An unknown session is a fovea::Error from the readout naming the known ones.
  n_neurons_ = model_->readout()->n_neurons(data_key_);
}

void ModelObjective::check_neurons(const std::vector<int64_t>& indices, const std::string& what) const {
  check(!indices.empty(), "objective", what + " is empty");
  for (int64_t i : indices)
    check(i >= 0 && i < n_neurons_, "objective",
          what + " has neuron index " + std::to_string(i) + ", but session '" + data_key_ + "' has " +
              std::to_string(n_neurons_) + " neurons (valid: 0.." + std::to_string(n_neurons_ - 1) + ")");
}

at::Tensor ModelObjective::model_forward(const at::Tensor& stimulus) {
  check(stimulus.dim() >= 1 && stimulus.size(0) == 1, "objective",
        "the stimulus must have batch size 1, its shape starts with " +
            (stimulus.dim() ? std::to_string(stimulus.size(0)) : std::string("nothing")));
  at::Tensor responses = model_->forward(stimulus, data_key_).squeeze(0);
  // Image models answer (N,) per stimulus: one time step.
  if (responses.dim() == 1) responses = responses.unsqueeze(0);
  return responses;
}

IncreaseObjective::IncreaseObjective(std::shared_ptr<nn::Model> model, std::vector<int64_t> neuron_indices,
                                     std::string data_key, std::shared_ptr<ResponseReducer> reducer)
    : ModelObjective(std::move(model), std::move(data_key)),
      neuron_indices_(std::move(neuron_indices)),
      reducer_(std::move(reducer)) {
  check_neurons(neuron_indices_, "neuron_indices");
  check(reducer_ != nullptr, "IncreaseObjective", "no response reducer given");
}

at::Tensor IncreaseObjective::forward(const at::Tensor& stimulus) {
  const at::Tensor responses = model_forward(stimulus);  // (T', N)
  const at::Tensor selected = responses.index_select(1, index_tensor(neuron_indices_, responses.device()));
  return reducer_->forward(selected.mean(-1));
}

at::Tensor DecreaseObjective::forward(const at::Tensor& stimulus) { return -objective_->forward(stimulus); }

ContrastiveNeuronObjective::ContrastiveNeuronObjective(std::shared_ptr<nn::Model> model,
                                                       std::vector<int64_t> on_indices,
                                                       std::vector<std::vector<int64_t>> off_indices_list,
                                                       std::string data_key, std::shared_ptr<ResponseReducer> reducer,
                                                       double temperature)
    : ModelObjective(std::move(model), std::move(data_key)),
      on_indices_(std::move(on_indices)),
      off_indices_list_(std::move(off_indices_list)),
      reducer_(std::move(reducer)),
      temperature_(temperature) {
  check_neurons(on_indices_, "on_indices");
  for (size_t k = 0; k < off_indices_list_.size(); ++k)
    check_neurons(off_indices_list_[k], "off group " + std::to_string(k));
  check(reducer_ != nullptr, "ContrastiveNeuronObjective", "no response reducer given");
  check(temperature > 0.0, "ContrastiveNeuronObjective", "the temperature must be > 0");
}

at::Tensor ContrastiveNeuronObjective::contrastive_objective(const at::Tensor& on_score, const at::Tensor& all_scores,
                                                             double temperature) {
  const double t = temperature;
  return on_score / t - torch::logsumexp(all_scores / t, 0) + std::log(static_cast<double>(all_scores.size(0)));
}

at::Tensor ContrastiveNeuronObjective::forward(const at::Tensor& stimulus) {
  const at::Tensor scores = reducer_->forward(model_forward(stimulus));  // (N,)
  const at::Tensor on = scores.index_select(0, index_tensor(on_indices_, scores.device())).mean();
  std::vector<at::Tensor> all{on};
  for (const auto& off : off_indices_list_)
    all.push_back(scores.index_select(0, index_tensor(off, scores.device())).mean());
  return contrastive_objective(on, torch::stack(all), temperature_);
}

}  // namespace fovea::insilico
