#pragma once
// Rebuilding an openretina model spec from a training checkpoint's
// hyper_parameters (see src/nn/import_openretina.cpp).
#include "fovea/io/pickle.h"
#include "fovea/nn/model.h"

namespace fovea::nn {

// Plain pickle data (after omegaconf_to_plain) as JSON; tensors become lists.
Json py_to_json(const io::PyRef& value);
// True for an openretina Lightning checkpoint: a dict with hyper_parameters,
// or (SingleCellSeparatedLNP, which saves none) with a state_dict holding
// space_conv.weight and time_conv.weight.
bool is_openretina_checkpoint(const io::PyRef& root);
// The spec of the model a Lightning checkpoint holds; errors name `origin`.
// Besides UnifiedCoreReadout (core/readout configs) and the legacy
// ExampleCoreReadout, the whole-model LNPs of models/linear_nonlinear.py are
// recognised by their flat hyper_parameters and state-dict keys:
// MultipleLNP -> dummy_core + lnp; SingleCellSeparatedLNP -> dummy_core +
// single_cell_separated_lnp (its unprefixed keys load under "readout.").
Json openretina_spec_from_checkpoint(const io::PyRef& root, const std::string& origin);

}  // namespace fovea::nn
