#pragma once
// Freezes a model's weights while a stimulus is optimised: gradients flow to
// the stimulus only, which saves the weights' gradient computation (about a
// third of each step) and leaves their .grad untouched. openretina's
// optimize_stimulus computes and accumulates the weights' gradients on every
// step; the stimulus's gradient, and so the result, is the same either way.
// Also puts the model in eval mode. Restores each parameter's flag and the
// mode when it goes out of scope.
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::insilico {

class FrozenForOptimisation {
 public:
  explicit FrozenForOptimisation(nn::Model& model);
  ~FrozenForOptimisation();
  FrozenForOptimisation(const FrozenForOptimisation&) = delete;
  FrozenForOptimisation& operator=(const FrozenForOptimisation&) = delete;

 private:
  nn::Model& model_;
  bool was_training_;
  std::vector<bool> flags_;
};

}  // namespace fovea::insilico
