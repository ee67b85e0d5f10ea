#pragma once
// The V1 data a command reads: a dataset directory (as written by `fovea
// simulate v1`: images.npy|images.mat, responses.npz, ground_truth.npz) or
// explicit files (--data, --images, --responses, --truth).
#include <ATen/core/Tensor.h>

#include <string>

#include "fovea/data/v1_dataset.h"
#include "fovea/nn/model.h"

namespace fovea::api {

struct V1DataFiles {
  std::string dir, images, responses, truth;
};

// The file paths filled in from `dir` where not given; fovea::Error names
// what is missing.
V1DataFiles resolve_v1_data(V1DataFiles files);

// Load options that reproduce the preprocessing recorded in a model's spec
// (for an imported model without one, its input size decides the down-sampling).
data::V1LoadOptions v1_load_options_for(const nn::Model& model, const V1DataFiles& resolved);

// The noise-free test responses of `resolved.truth` for the dataset; undefined without a truth file.
at::Tensor read_v1_truth(const V1DataFiles& resolved, const data::V1Dataset& dataset);

}  // namespace fovea::api
