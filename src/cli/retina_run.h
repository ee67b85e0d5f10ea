#pragma once
// The retina halves of `fovea train` and `fovea eval` (models whose spec has
// family "retina"); the commands pick them from the config or the model.
#include <nlohmann/json.hpp>

#include <string>

#include "fovea/nn/model.h"

namespace fovea::cli {

// Trains from a retina run configuration; writes model.safetensors,
// metrics.csv, eval.csv and eval.json into `out`.
void run_train_retina(nlohmann::json config, const std::string& out, bool quiet);

struct RetinaEvalArgs {
  std::string data_dir, output, test_name, device = "cpu";
  double var_ratio_cutoff = 0.15;
};
// Evaluates a retina model on a dataset directory in the layout it was trained
// on (normalised as recorded in the model); writes eval.csv and eval.json.
void run_eval_retina(nn::Model& model, const RetinaEvalArgs& args);

}  // namespace fovea::cli
