#pragma once
// Most exciting inputs (MEIs) of model neurons and of inner core channels,
// with the seed recipe of openretina's documentation as the default:
// start = randn · 0.1, SGD with lr 100, 10 steps, the response averaged over
// frames 10–19. Several neurons (or channels) optimise together as one batch:
// sample b of the stimulus batch drives target b only, so each sample gets
// exactly the gradient it would get alone, and the result equals separate
// runs (models are evaluated in eval mode, where samples do not interact).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fovea/insilico/regularizers.h"
#include "fovea/nn/model.h"

namespace fovea::insilico {

struct MeiRecipe {
  int64_t time_steps = 40;          // movie length for retina models (image models ignore it)
  double init_scale = 0.1;          // start = randn · init_scale
  uint64_t seed = 0;                // target k starts from randn seeded with (seed, k)
  std::string optimizer = "sgd";    // sgd | adam
  double lr = 100.0;
  int64_t steps = 10;
  std::optional<int64_t> patience;  // early stopping (EarlyStopper) when set
  double min_delta = 0.0;
  int64_t response_start = 10;      // SliceMeanReducer(axis 0, start, length) over the response frames
  int64_t response_length = 10;
  bool decrease = false;            // most depressing input: minimise instead
  std::optional<double> norm;       // ChangeNormJointlyClipRangeSeparately: joint L2 norm ...
  ChannelRanges ranges;             // ... and per-channel ranges (empty: none)
  std::optional<double> lowpass_sigma;  // TemporalGaussianLowPassFilterProcessor (movies only)
  int64_t lowpass_kernel_size = 5;
  // openretina's visualize also post-processes the start (P(randn · 0.1)) and
  // adds RangeRegularizationLoss(ranges, norm, factor) to the loss.
  bool postprocess_start = false;
  std::optional<double> range_regularization;  // the factor; needs `norm` or `ranges`
  int64_t batch_size = 16;          // targets optimised together
};

// openretina's Hoefling 2024 recipe constraints: norm 30, green [−0.654, 6.269], UV [−0.913, 6.269].
MeiRecipe hoefling_2024_recipe();

// The recipe of openretina's `visualize` for a model with `channels` stimulus
// channels: the seed recipe with T = time_steps, the start post-processed and,
// for green/UV models (2 channels), the Höfling constraints (norm 30, the
// clip ranges) with RangeRegularizationLoss(factor 0.1). 1-channel models are
// unconstrained. openretina fails on 3 or more channels; fovea runs them
// unconstrained.
MeiRecipe visualize_recipe(int64_t channels, int64_t time_steps);

struct MeiResult {
  int64_t target = 0;            // neuron or channel index
  at::Tensor stimulus;           // (C, T, H, W) or (C, H, W), float32, CPU
  std::vector<double> objective; // per step, before that step (the trace optimize_stimulus returns)
  double start_objective = 0;    // objective of the start
  double final_objective = 0;    // objective of the result
};

// The start stimulus of target `target` (batch 1): randn(shape, seeded by (seed, target)) · init_scale.
at::Tensor mei_start(const nn::Model& model, const MeiRecipe& recipe, int64_t target);

// MEIs of output neurons of one session (data_key; "" for single-session models).
// fovea::Error for an unknown session or a neuron out of range.
// `start_draws`, when given, replace the seeded standard-normal draws (one
// per neuron, of the stimulus shape), e.g. to repeat a reference run.
std::vector<MeiResult> optimize_neuron_meis(std::shared_ptr<nn::Model> model, const std::string& session,
                                            const std::vector<int64_t>& neurons, const MeiRecipe& recipe,
                                            const std::vector<at::Tensor>& start_draws = {});

// MEIs of channels of an inner core layer ("features.layer{i}"): the channel's
// activation at the spatial centre, as openretina's InnerNeuronVisualizationObjective.
// `session` selects the session of cores with per-session parameters.
std::vector<MeiResult> optimize_channel_meis(std::shared_ptr<nn::Model> model, const std::string& layer,
                                             const std::vector<int64_t>& channels, const MeiRecipe& recipe,
                                             const std::string& session = "");

// The objective of each sample of a stimulus batch for its target (neurons of a session).
std::vector<double> neuron_objectives(nn::Model& model, const std::string& session,
                                      const std::vector<int64_t>& neurons, const at::Tensor& stimuli,
                                      const MeiRecipe& recipe);

}  // namespace fovea::insilico
