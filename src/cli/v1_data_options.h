#pragma once
// The data options shared by the V1 commands: a dataset directory (as written
// by `fovea simulate v1`: images.npy|images.mat, responses.npz,
// ground_truth.npz) or explicit files.
#include <CLI/CLI.hpp>

#include <string>

#include "fovea/data/v1_dataset.h"
#include "fovea/nn/model.h"

namespace fovea::cli {

struct V1DataOptions {
  std::string dir, images, responses, truth;
  void add_to(CLI::App* command);
  // Fills in the file paths (from `dir` where not given); errors name what is missing.
  void resolve();
  // Load options that reproduce the preprocessing recorded in a model's spec.
  data::V1LoadOptions load_options_for(const nn::Model& model) const;
};

}  // namespace fovea::cli
