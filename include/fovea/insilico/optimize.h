#pragma once
// optimize_stimulus (openretina insilico/stimulus_optimization/optimizer.py).
#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <vector>

#include "fovea/insilico/objectives.h"
#include "fovea/insilico/regularizers.h"
#include "fovea/insilico/stoppers.h"

namespace fovea::insilico {

// Builds the optimiser over the given tensors, e.g.
//   [](std::vector<at::Tensor> p) { return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(100)); }
using OptimizerFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<at::Tensor>)>;

// Optimises `stimulus` in place (it must be a leaf tensor that requires grad).
// Each iteration: loss = −objective(stimulus) + Σ regularisation losses;
// zero_grad, backward, step; then stimulus.data = each postprocessor in turn;
// then the stopper sees the loss and may end the loop. At the end the
// stimulus is detached. Returns the objective of each iteration (computed
// before that iteration's step).
std::vector<double> optimize_stimulus(at::Tensor& stimulus, const OptimizerFactory& make_optimizer,
                                      Objective& objective, OptimizationStopper& stopper,
                                      const std::vector<std::shared_ptr<StimulusRegularizationLoss>>& losses = {},
                                      const std::vector<std::shared_ptr<StimulusPostprocessor>>& postprocessors = {});

}  // namespace fovea::insilico
