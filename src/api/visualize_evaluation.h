#pragma once
// The evaluation part of `fovea visualize --data D`: the model evaluated on
// the dataset's test stimuli as `fovea eval` does, and per neuron its
// predicted and recorded responses drawn, over neurons the metric histograms.
#include <filesystem>
#include <string>

#include "fovea/eval/report.h"
#include "fovea/nn/model.h"
#include "fovea/viz/visualize.h"

namespace fovea::api {

struct VisualizeEvaluation {
  eval::EvaluationReport report;
  viz::ModelEvaluation page;  // what the HTML page shows per neuron
};

// Figures go to <save_folder>/evaluation/; eval.csv and eval.json beside them.
// `mouse` (V1 only): minimodel's mouse, read from its published files in
// `data_dir` by name as `fovea eval --mouse` reads them.
VisualizeEvaluation evaluate_for_visualize(nn::Model& model, const std::string& data_dir,
                                           const std::filesystem::path& save_folder, const std::string& format,
                                           const std::string& device, const std::string& mouse = "");

}  // namespace fovea::api
