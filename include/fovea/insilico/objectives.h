#pragma once
// Objectives of stimulus optimisation (openretina insilico objective.py).
// An objective maps a stimulus (batch 1) to a scalar that optimize_stimulus
// maximises.
//
// model_forward runs model->forward(stimulus, data_key) and drops the batch
// axis, as openretina's squeeze(0): retina models give (T', N). Image (V1)
// models give (B, N) -> (N,); fovea then treats that as a single time step,
// (1, N), so the same objectives and reducers apply: MeanReducer(0) returns
// the response itself and SliceMeanReducer(0, s, l) falls back to that one
// step. Objectives need a stimulus with batch size 1 (fovea::Error otherwise).
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "fovea/insilico/reducers.h"
#include "fovea/nn/model.h"

namespace fovea::insilico {

class Objective {
 public:
  virtual ~Objective() = default;
  virtual at::Tensor forward(const at::Tensor& stimulus) = 0;
};

// Holds the model and session; checks the session exists (fovea::Error listing the known ones).
class ModelObjective : public Objective {
 public:
  ModelObjective(std::shared_ptr<nn::Model> model, std::string data_key);
  // (T', N) for retina models, (1, N) for image models.
  at::Tensor model_forward(const at::Tensor& stimulus);
  int64_t n_neurons() const { return n_neurons_; }

 protected:
  std::shared_ptr<nn::Model> model_;
  std::string data_key_;
  int64_t n_neurons_;
  // fovea::Error unless every index is in [0, n_neurons).
  void check_neurons(const std::vector<int64_t>& indices, const std::string& what) const;
};

// reducer(mean over the selected neurons of the (T', N) responses).
class IncreaseObjective : public ModelObjective {
 public:
  IncreaseObjective(std::shared_ptr<nn::Model> model, std::vector<int64_t> neuron_indices, std::string data_key,
                    std::shared_ptr<ResponseReducer> reducer);
  at::Tensor forward(const at::Tensor& stimulus) override;

 private:
  std::vector<int64_t> neuron_indices_;
  std::shared_ptr<ResponseReducer> reducer_;
};

// The negative of another objective: optimising it lowers that objective.
class DecreaseObjective : public Objective {
 public:
  explicit DecreaseObjective(std::shared_ptr<Objective> objective) : objective_(std::move(objective)) {}
  at::Tensor forward(const at::Tensor& stimulus) override;

 private:
  std::shared_ptr<Objective> objective_;
};

// Most discriminative stimuli (Burg et al.): with s_k = reducer(responses)
// averaged over a group of neurons, on = s_on and k off groups,
//   obj = on/τ − logsumexp([on, off_1, …, off_k]/τ) + log(k+1).
class ContrastiveNeuronObjective : public ModelObjective {
 public:
  ContrastiveNeuronObjective(std::shared_ptr<nn::Model> model, std::vector<int64_t> on_indices,
                             std::vector<std::vector<int64_t>> off_indices_list, std::string data_key,
                             std::shared_ptr<ResponseReducer> reducer, double temperature = 1.6);
  at::Tensor forward(const at::Tensor& stimulus) override;
  // The formula above on precomputed scores: all_scores[0] must be the on score.
  static at::Tensor contrastive_objective(const at::Tensor& on_score, const at::Tensor& all_scores,
                                          double temperature);

 private:
  std::vector<int64_t> on_indices_;
  std::vector<std::vector<int64_t>> off_indices_list_;
  std::shared_ptr<ResponseReducer> reducer_;
  double temperature_;
};

// A channel of an inner core layer at the spatial centre: reducer(batch mean
// of output[:, channel, ..., H/2, W/2]); the stimulus may have any batch size.
// LibTorch has no forward hooks, so the layer's output is computed by running
// the core's layers explicitly up to that layer. Supported cores and names:
//   retina core (SimpleCoreWrapper): "features.layer{i}", before the core's
//     final cut of the first frames (the output a forward hook on
//     features.layer{i} sees in openretina);
//   V1 core (MinimodelCore): "features.layer{i}".
// openretina's hook keys ("core_features_layer0") and full names
// ("core.features.layer0") are accepted too. Unknown names are a fovea::Error
// that lists the known ones.
class InnerNeuronVisualizationObjective : public Objective {
 public:
  // `data_key` selects the session of cores with per-session parameters (the
  // legacy Höfling core's log speeds); other cores ignore it.
  InnerNeuronVisualizationObjective(std::shared_ptr<nn::Model> model, const std::string& layer, int64_t channel,
                                    std::shared_ptr<ResponseReducer> reducer, std::string data_key = "");
  at::Tensor forward(const at::Tensor& stimulus) override;
  // The layer names this model's core supports ("features.layer0", ...).
  static std::vector<std::string> layer_names(const nn::Model& model);
  // The output of core layer `index` (as in layer_names) for a stimulus batch.
  static at::Tensor layer_output(nn::Model& model, int64_t index, const at::Tensor& stimulus,
                                 const std::string& data_key = "");
  // The output channels of core layer `index`.
  static int64_t layer_channels(const nn::Model& model, int64_t index);
  // The index of the layer this objective reads (into layer_names).
  int64_t layer_index() const { return layer_index_; }

 private:
  std::shared_ptr<nn::Model> model_;
  int64_t layer_index_;
  int64_t channel_;
  std::shared_ptr<ResponseReducer> reducer_;
  std::string data_key_;
};

}  // namespace fovea::insilico
