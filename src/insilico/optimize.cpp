// The stimulus optimisation loop.
#include "fovea/insilico/optimize.h"

#include <torch/torch.h>

#include "fovea/error.h"

namespace fovea::insilico {

std::vector<double> optimize_stimulus(at::Tensor& stimulus, const OptimizerFactory& make_optimizer,
                                      Objective& objective, OptimizationStopper& stopper,
                                      const std::vector<std::shared_ptr<StimulusRegularizationLoss>>& losses,
                                      const std::vector<std::shared_ptr<StimulusPostprocessor>>& postprocessors) {
  check(stimulus.defined() && stimulus.is_leaf() && stimulus.requires_grad(), "optimize_stimulus",
        "the stimulus must be a leaf tensor that requires grad");
  check(static_cast<bool>(make_optimizer), "optimize_stimulus", "no optimizer factory given");
  auto optimizer = make_optimizer({stimulus});
  check(optimizer != nullptr, "optimize_stimulus", "the optimizer factory returned no optimizer");
  std::vector<double> history;
  for (int64_t i = 0; i < stopper.max_iterations(); ++i) {
    const at::Tensor value = objective.forward(stimulus);
    check(value.numel() == 1, "optimize_stimulus",
          "the objective must be a scalar, it has " + std::to_string(value.numel()) + " elements");
    history.push_back(value.item<double>());
    // Maximise the objective, minimise the regularisation.
    at::Tensor loss = -value;
    for (const auto& reg : losses) loss = loss + reg->forward(stimulus);
    optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    if (!postprocessors.empty()) {
      torch::NoGradGuard no_grad;
      at::Tensor data = stimulus.detach();
      for (const auto& post : postprocessors) data = post->process(data);
      stimulus.set_data(data);
    }
    if (stopper.early_stop(loss.item<double>())) break;
  }
  stimulus.detach_();
  return history;
}

}  // namespace fovea::insilico
