// MEIs of neurons and inner channels, many targets per optimisation.
#include "fovea/insilico/mei.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "fovea/error.h"
#include "fovea/insilico/frozen_for_optimisation.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/optimize.h"
#include "fovea/insilico/reducers.h"
#include "fovea/insilico/stoppers.h"

namespace fovea::insilico {

MeiRecipe hoefling_2024_recipe() {
  MeiRecipe r;
  r.norm = 30.0;
  r.ranges = {{-0.654, 6.269}, {-0.913, 6.269}};
  return r;
}

MeiRecipe visualize_recipe(int64_t channels, int64_t time_steps) {
  MeiRecipe r = channels == 2 ? hoefling_2024_recipe() : MeiRecipe{};
  r.time_steps = time_steps;
  r.postprocess_start = true;
  if (channels == 2) r.range_regularization = 0.1;
  return r;
}

namespace {

bool is_movie_model(const nn::Model& model) { return model.input_shape().size() == 4; }

std::shared_ptr<ResponseReducer> make_reducer(const nn::Model& model, const MeiRecipe& r) {
  // Image models answer one value per neuron: there are no frames to slice.
  if (!is_movie_model(model)) return std::make_shared<MeanReducer>(0);
  return std::make_shared<SliceMeanReducer>(0, r.response_start, r.response_length);
}

// Sample b's response trace for its target: (T') for movies, (1) for images.
at::Tensor as_trace(const at::Tensor& response) { return response.dim() == 0 ? response.unsqueeze(0) : response; }

// Σ_b reducer(response of target b to sample b), negated for `decrease`.
class BatchedNeuronObjective : public ModelObjective {
 public:
  BatchedNeuronObjective(std::shared_ptr<nn::Model> model, std::string session, std::vector<int64_t> neurons,
                         std::shared_ptr<ResponseReducer> reducer, bool decrease)
      : ModelObjective(std::move(model), std::move(session)), neurons_(std::move(neurons)),
        reducer_(std::move(reducer)), sign_(decrease ? -1.0 : 1.0) {
    check_neurons(neurons_, "the neuron list");
  }
  at::Tensor per_sample(const at::Tensor& stimuli) {
    check(stimuli.size(0) == static_cast<int64_t>(neurons_.size()), "mei", "one stimulus per neuron expected");
    const at::Tensor out = model_->forward(stimuli, data_key_);  // (B, T', N) or (B, N)
    std::vector<at::Tensor> scores;
    for (size_t b = 0; b < neurons_.size(); ++b)
      scores.push_back(reducer_->forward(as_trace(out[b].select(-1, neurons_[b]))));
    return at::stack(scores);
  }
  at::Tensor forward(const at::Tensor& stimuli) override { return sign_ * per_sample(stimuli).sum(); }

 private:
  std::vector<int64_t> neurons_;
  std::shared_ptr<ResponseReducer> reducer_;
  double sign_;
};

// Σ_b reducer(channel c_b of the layer's output to sample b, at the spatial centre).
class BatchedChannelObjective : public Objective {
 public:
  BatchedChannelObjective(std::shared_ptr<nn::Model> model, int64_t layer, std::vector<int64_t> channels,
                          std::shared_ptr<ResponseReducer> reducer, bool decrease, std::string data_key)
      : model_(std::move(model)), layer_(layer), channels_(std::move(channels)), reducer_(std::move(reducer)),
        sign_(decrease ? -1.0 : 1.0), data_key_(std::move(data_key)) {}
  at::Tensor per_sample(const at::Tensor& stimuli) {
    const at::Tensor out = InnerNeuronVisualizationObjective::layer_output(*model_, layer_, stimuli, data_key_);
    const int64_t h = out.size(-2) / 2, w = out.size(-1) / 2;
    std::vector<at::Tensor> scores;
    for (size_t b = 0; b < channels_.size(); ++b)
      scores.push_back(reducer_->forward(as_trace(out[b][channels_[b]].select(-1, w).select(-1, h))));
    return at::stack(scores);
  }
  at::Tensor forward(const at::Tensor& stimuli) override { return sign_ * per_sample(stimuli).sum(); }

 private:
  std::shared_ptr<nn::Model> model_;
  int64_t layer_;
  std::vector<int64_t> channels_;
  std::shared_ptr<ResponseReducer> reducer_;
  double sign_;
  std::string data_key_;
};

// A stimulus regulariser applied to each sample of a batch on its own and
// summed: the norm in RangeRegularizationLoss is a per-stimulus norm, so a
// batch of MEIs gets the gradients of separate runs.
class PerSampleRegularizer : public StimulusRegularizationLoss {
 public:
  explicit PerSampleRegularizer(std::shared_ptr<StimulusRegularizationLoss> inner) : inner_(std::move(inner)) {}
  at::Tensor forward(const at::Tensor& stimuli) override {
    at::Tensor total = inner_->forward(stimuli.narrow(0, 0, 1));
    for (int64_t b = 1; b < stimuli.size(0); ++b) total = total + inner_->forward(stimuli.narrow(0, b, 1));
    return total;
  }

 private:
  std::shared_ptr<StimulusRegularizationLoss> inner_;
};

OptimizerFactory optimizer_factory(const MeiRecipe& r) {
  check(r.lr > 0, "mei", "the learning rate must be positive");
  if (r.optimizer == "sgd")
    return [lr = r.lr](std::vector<at::Tensor> p) {
      return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(lr));
    };
  if (r.optimizer == "adam")
    return [lr = r.lr](std::vector<at::Tensor> p) {
      return std::make_unique<torch::optim::Adam>(p, torch::optim::AdamOptions(lr));
    };
  fail("mei", "unknown optimizer '" + r.optimizer + "' (expected sgd or adam)");
}

// The recipe's clip ranges, one per stimulus channel; unbounded channels when
// it names none (a norm alone).
ChannelRanges channel_ranges(const nn::Model& model, const MeiRecipe& r) {
  const int64_t channels = model.input_shape().front();
  ChannelRanges ranges = r.ranges;
  if (ranges.empty()) ranges.assign(static_cast<size_t>(channels), {std::nullopt, std::nullopt});
  check(static_cast<int64_t>(ranges.size()) == channels, "mei",
        "the clip ranges name " + std::to_string(ranges.size()) + " channels, the model's stimulus has " +
            std::to_string(channels));
  return ranges;
}

std::vector<std::shared_ptr<StimulusPostprocessor>> postprocessors(const nn::Model& model, const MeiRecipe& r) {
  std::vector<std::shared_ptr<StimulusPostprocessor>> out;
  if (r.norm || !r.ranges.empty())
    out.push_back(std::make_shared<ChangeNormJointlyClipRangeSeparately>(channel_ranges(model, r), r.norm));
  if (r.lowpass_sigma) {
    check(is_movie_model(model), "mei", "the temporal low-pass filter needs a movie model");
    out.push_back(std::make_shared<TemporalGaussianLowPassFilterProcessor>(*r.lowpass_sigma, r.lowpass_kernel_size));
  }
  return out;
}

std::vector<std::shared_ptr<StimulusRegularizationLoss>> regularizers(const nn::Model& model, const MeiRecipe& r) {
  if (!r.range_regularization) return {};
  check(r.norm || !r.ranges.empty(), "mei", "the range regularisation needs a norm or clip ranges");
  return {std::make_shared<PerSampleRegularizer>(
      std::make_shared<RangeRegularizationLoss>(channel_ranges(model, r), r.norm, *r.range_regularization))};
}

// Optimises one batch of targets with `objective` (per_sample gives each target's score).
template <typename BatchedObjective>
std::vector<MeiResult> optimize_batch(nn::Model& model, BatchedObjective& objective, const std::vector<int64_t>& targets,
                                      const MeiRecipe& recipe, const std::vector<at::Tensor>& draws) {
  std::vector<at::Tensor> starts;
  for (size_t i = 0; i < targets.size(); ++i)
    starts.push_back(draws.empty() ? mei_start(model, recipe, targets[i])
                                   : draws[i].to(at::kFloat).reshape(model.stimulus_shape(recipe.time_steps, 1)) *
                                         recipe.init_scale);
  const auto device = model.parameters().empty() ? at::Device(at::kCPU) : model.parameters().front().device();
  const auto processors = postprocessors(model, recipe);
  at::Tensor start = at::cat(starts).to(device);
  if (recipe.postprocess_start)
    for (const auto& p : processors) start = p->process(start);
  at::Tensor stimulus = start.set_requires_grad(true);
  std::vector<double> start_scores;
  {
    torch::NoGradGuard no_grad;
    const at::Tensor s = objective.per_sample(stimulus).cpu().to(at::kDouble);
    start_scores.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  }
  std::unique_ptr<OptimizationStopper> stopper =
      recipe.patience ? std::make_unique<EarlyStopper>(recipe.steps, *recipe.patience, recipe.min_delta)
                      : std::make_unique<OptimizationStopper>(recipe.steps);
  const auto trace = optimize_stimulus(stimulus, optimizer_factory(recipe), objective, *stopper,
                                       regularizers(model, recipe), processors);
  torch::NoGradGuard no_grad;
  const at::Tensor final_scores = objective.per_sample(stimulus).cpu().to(at::kDouble);
  std::vector<MeiResult> results;
  for (size_t b = 0; b < targets.size(); ++b) {
    MeiResult r;
    r.target = targets[b];
    r.stimulus = stimulus[b].detach().cpu().to(at::kFloat).clone();
    r.objective = trace;  // the batch's summed objective per step
    r.start_objective = start_scores[b];
    r.final_objective = final_scores[b].item<double>();
    results.push_back(std::move(r));
  }
  return results;
}

template <typename MakeObjective>
std::vector<MeiResult> optimize_in_batches(nn::Model& model, const std::vector<int64_t>& targets,
                                           const MeiRecipe& recipe, MakeObjective make_objective,
                                           const std::vector<at::Tensor>& draws = {}) {
  check(draws.empty() || draws.size() == targets.size(), "mei", "one start draw per target expected");
  check(!targets.empty(), "mei", "no targets given");
  check(recipe.steps >= 0, "mei", "the number of steps must not be negative");
  FrozenForOptimisation frozen(model);
  std::vector<MeiResult> all;
  const size_t batch = static_cast<size_t>(std::max<int64_t>(1, recipe.batch_size));
  for (size_t i = 0; i < targets.size(); i += batch) {
    const std::vector<int64_t> part(targets.begin() + i, targets.begin() + std::min(targets.size(), i + batch));
    auto objective = make_objective(part);
    const std::vector<at::Tensor> part_draws =
        draws.empty() ? draws
                      : std::vector<at::Tensor>(draws.begin() + i, draws.begin() + i + part.size());
    auto results = optimize_batch(model, *objective, part, recipe, part_draws);
    for (auto& r : results) all.push_back(std::move(r));
  }
  return all;
}

}  // namespace

at::Tensor mei_start(const nn::Model& model, const MeiRecipe& recipe, int64_t target) {
  // One generator per target: a neuron's start does not depend on which
  // other neurons share its batch.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(recipe.seed * 1000003ULL + static_cast<uint64_t>(target));
  return at::randn(model.stimulus_shape(recipe.time_steps, 1), generator, at::TensorOptions().dtype(at::kFloat)) *
         recipe.init_scale;
}

std::vector<MeiResult> optimize_neuron_meis(std::shared_ptr<nn::Model> model, const std::string& session,
                                            const std::vector<int64_t>& neurons, const MeiRecipe& recipe,
                                            const std::vector<at::Tensor>& start_draws) {
  check(model != nullptr, "mei", "no model given");
  auto reducer = make_reducer(*model, recipe);
  return optimize_in_batches(
      *model, neurons, recipe,
      [&](const std::vector<int64_t>& part) {
        return std::make_unique<BatchedNeuronObjective>(model, session, part, reducer, recipe.decrease);
      },
      start_draws);
}

std::vector<MeiResult> optimize_channel_meis(std::shared_ptr<nn::Model> model, const std::string& layer,
                                             const std::vector<int64_t>& channels, const MeiRecipe& recipe,
                                             const std::string& session) {
  check(model != nullptr, "mei", "no model given");
  auto reducer = make_reducer(*model, recipe);
  check(!channels.empty(), "mei", "no channels given");
  // The single-channel objective validates the layer name and each channel index.
  int64_t layer_index = -1;
  for (int64_t c : channels)
    layer_index = InnerNeuronVisualizationObjective(model, layer, c, reducer, session).layer_index();
  return optimize_in_batches(*model, channels, recipe, [&](const std::vector<int64_t>& part) {
    return std::make_unique<BatchedChannelObjective>(model, layer_index, part, reducer, recipe.decrease, session);
  });
}

std::vector<double> neuron_objectives(nn::Model& model, const std::string& session,
                                      const std::vector<int64_t>& neurons, const at::Tensor& stimuli,
                                      const MeiRecipe& recipe) {
  // A non-owning shared_ptr: the objective only borrows the model here.
  std::shared_ptr<nn::Model> borrowed(&model, [](nn::Model*) {});
  BatchedNeuronObjective objective(borrowed, session, neurons, make_reducer(model, recipe), false);
  torch::NoGradGuard no_grad;
  const at::Tensor s = objective.per_sample(stimuli).cpu().to(at::kDouble);
  return {s.data_ptr<double>(), s.data_ptr<double>() + s.numel()};
}

}  // namespace fovea::insilico
