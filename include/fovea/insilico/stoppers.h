#pragma once
// When stimulus optimisation stops (openretina optimization_stopper.py).
#include <cstdint>
#include <limits>
#include <optional>

namespace fovea::insilico {

// Runs max_iterations steps (no limit when absent) and never stops early.
class OptimizationStopper {
 public:
  explicit OptimizationStopper(std::optional<int64_t> max_iterations);
  virtual ~OptimizationStopper() = default;
  int64_t max_iterations() const { return max_iterations_; }
  // Called with each iteration's loss; true ends the optimisation.
  virtual bool early_stop(double loss) { return false; }

 private:
  int64_t max_iterations_;
};

// Stops once `patience` losses above (best + min_delta) have occurred since the
// last new minimum. A loss below the best resets the count; a loss within
// min_delta of the best neither counts nor resets it.
class EarlyStopper : public OptimizationStopper {
 public:
  explicit EarlyStopper(std::optional<int64_t> max_iterations = std::nullopt, int64_t patience = 1,
                        double min_delta = 0.0);
  bool early_stop(double loss) override;

 private:
  int64_t patience_;
  double min_delta_;
  int64_t counter_ = 0;
  double min_loss_ = std::numeric_limits<double>::infinity();
};

}  // namespace fovea::insilico
