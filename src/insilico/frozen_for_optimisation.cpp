#include "fovea/insilico/frozen_for_optimisation.h"

namespace fovea::insilico {

FrozenForOptimisation::FrozenForOptimisation(nn::Model& model) : model_(model), was_training_(model.is_training()) {
  for (auto& p : model.parameters()) {
    flags_.push_back(p.requires_grad());
    p.set_requires_grad(false);
  }
  model.eval();
}

FrozenForOptimisation::~FrozenForOptimisation() {
  auto params = model_.parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].set_requires_grad(flags_[i]);
  model_.train(was_training_);
}

}  // namespace fovea::insilico
