#pragma once
// Rebuilding an openretina model spec from a training checkpoint's
// hyper_parameters (see src/nn/import_openretina.cpp).
#include "fovea/io/pickle.h"
#include "fovea/nn/model.h"

namespace fovea::nn {

// Plain pickle data (after omegaconf_to_plain) as JSON; tensors become lists.
Json py_to_json(const io::PyRef& value);
// The spec of the model a Lightning checkpoint holds; errors name `origin`.
Json openretina_spec_from_checkpoint(const io::PyRef& root, const std::string& origin);

}  // namespace fovea::nn
