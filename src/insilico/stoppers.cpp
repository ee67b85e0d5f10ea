// Stopping criteria of stimulus optimisation.
#include "fovea/insilico/stoppers.h"

#include <string>

#include "fovea/error.h"

namespace fovea::insilico {

OptimizationStopper::OptimizationStopper(std::optional<int64_t> max_iterations)
    : max_iterations_(max_iterations.value_or(std::numeric_limits<int64_t>::max())) {
  check(max_iterations_ >= 0, "OptimizationStopper",
        "max_iterations must be >= 0, got " + std::to_string(max_iterations_));
}

EarlyStopper::EarlyStopper(std::optional<int64_t> max_iterations, int64_t patience, double min_delta)
    : OptimizationStopper(max_iterations), patience_(patience), min_delta_(min_delta) {
  check(patience >= 1, "EarlyStopper", "patience must be >= 1, got " + std::to_string(patience));
}

bool EarlyStopper::early_stop(double loss) {
  if (loss < min_loss_) {
    min_loss_ = loss;
    counter_ = 0;
  } else if (loss > min_loss_ + min_delta_) {
    ++counter_;
    if (counter_ >= patience_) return true;
  }
  return false;
}

}  // namespace fovea::insilico
