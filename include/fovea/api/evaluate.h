#pragma once
// `fovea eval --model M --data D`: a model evaluated on a dataset's repeated
// test stimuli, as minimodel (V1: FEV threshold) and openretina (retina:
// explainable/total variance ratio) report it: per neuron and a summary.
#include <memory>
#include <string>

#include "fovea/api/v1_data.h"
#include "fovea/eval/report.h"
#include "fovea/nn/model.h"

namespace fovea::api {

struct EvaluateOptions {
  std::string model;            // --model: file, URL or pretrained name (names a loaded model in messages)
  V1DataFiles data;             // --data (both families), --images/--responses/--truth (V1)
  double threshold = -1;        // --fev-threshold / --var-ratio-cutoff; < 0: the model's (V1) or 0.15 (retina)
  std::string test_name;        // retina: the test stimulus ("" : the model's)
  // retina, openretina's evaluation.data_split: train | validation | test |
  // the name of a test stimulus (V1: test only).
  std::string data_split = "test";
  bool dataset_statistics = false;  // retina: openretina's compute_dataset_statistics
  std::string output = "eval";  // -o: folder for eval.csv and eval.json; "" : write nothing
  std::string device = "cpu";
};

struct EvaluateResult {
  eval::EvaluationReport report;  // per-neuron table and summary (summary["criterion"], ["threshold"], ["mean"], ...)
  std::string family;             // "v1" or "retina"
  double threshold = 0;           // the inclusion threshold used
  std::string csv, json;          // the files written ("" when output is "")
};

EvaluateResult evaluate(const EvaluateOptions& options);
// The same for a model already loaded (not changed by the call).
EvaluateResult evaluate(nn::Model& model, const EvaluateOptions& options);

}  // namespace fovea::api
