#pragma once
// The retina halves of `fovea train` and `fovea eval` (models whose spec has
// family "retina"); the commands pick them from the config or the model.
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "fovea/data/movie_clips.h"
#include "fovea/eval/report.h"
#include "fovea/nn/model.h"

namespace fovea::cli {

// Trains from a retina run configuration; writes model.safetensors,
// metrics.csv, eval.csv and eval.json into `out`.
void run_train_retina(nlohmann::json config, const std::string& out, bool quiet);

struct RetinaEvalArgs {
  std::string data_dir, output, test_name, device = "cpu";
  double var_ratio_cutoff = 0.15;
};
// A retina model evaluated on a dataset's test movies: the report and the
// sessions' clips it was computed from.
struct RetinaEvaluation {
  eval::EvaluationReport report;
  std::map<std::string, data::SessionClips> sessions;
  std::string test_name;  // the test stimulus used ("" : the only one)
};
RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const RetinaEvalArgs& args);

// Evaluates a retina model on a dataset directory in the layout it was trained
// on (normalised as recorded in the model); writes eval.csv and eval.json.
void run_eval_retina(nn::Model& model, const RetinaEvalArgs& args);

}  // namespace fovea::cli
