#pragma once
// Does a retina dataset fit a model? Checked before a model runs on the data
// (fovea eval), so that a mismatch is a message naming the session's file
// instead of a failure deep inside the model.
#include <string>

#include "fovea/data/retina_dataset.h"
#include "fovea/nn/model.h"

namespace fovea::eval {

// Every session of `dataset` must be one of the model's sessions, with as many
// neurons as the model's readout for it, and the stimuli must have the model's
// channels and frame size. Errors (fovea::Error) name <dir>/<session>.h5 (or
// .hdf5; `dir` itself for other layouts) and list the model's sessions.
void check_dataset_fits_model(const nn::Model& model, const data::RetinaDataset& dataset, const std::string& dir);

}  // namespace fovea::eval
