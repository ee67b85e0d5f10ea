#pragma once
// `fovea visualize`: openretina's visualize (weight figures and MEIs of every
// inner channel and output neuron) with an HTML page over them and, with
// --data, each neuron's evaluation. The options are viz::VisualizeOptions
// (--time-steps-stimulus, --image-file-format, --steps, --lr, --batch-size,
// and the weights / meis / constraints switches) plus the model and folders.
#include <memory>
#include <optional>
#include <string>

#include "fovea/eval/report.h"
#include "fovea/nn/model.h"
#include "fovea/viz/visualize.h"

namespace fovea::api {

struct VisualizeOptions : viz::VisualizeOptions {
  std::string model_path;                   // --model-path (names a loaded model on the page)
  bool is_hoefling_ensemble_model = false;  // the Höfling et al. 2024 ensemble (GIN) instead
  int64_t model_id = -1;                    // its member (negative: from the end, as openretina)
  std::string save_folder;
  std::string data;                         // dataset folder: adds the evaluation ("" : none)
  std::string mouse;                        // with `data`, V1: minimodel's mouse, its published files in `data` by name
  std::string device = "cpu";
};

struct VisualizeRunResult {
  viz::VisualizeResult result;              // the page, counts and notes
  std::optional<eval::EvaluationReport> evaluation;  // with `data`: as evaluation/eval.csv
};

VisualizeRunResult visualize(const VisualizeOptions& options);
VisualizeRunResult visualize(std::shared_ptr<nn::Model> model, const VisualizeOptions& options);

}  // namespace fovea::api
