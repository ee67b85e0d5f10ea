#pragma once
// The evaluation part of `fovea visualize --data D`: evaluates the model on the
// dataset's test stimuli as `fovea eval` does and draws, per neuron, its
// predicted and recorded responses, and over neurons, the metric histograms.
#include <filesystem>
#include <string>

#include "fovea/nn/model.h"
#include "fovea/viz/visualize.h"

namespace fovea::cli {

// Figures go to <save_folder>/evaluation/; eval.csv and eval.json beside them.
viz::ModelEvaluation evaluate_for_visualize(nn::Model& model, const std::string& data_dir,
                                            const std::filesystem::path& save_folder, const std::string& format,
                                            const std::string& device);

}  // namespace fovea::cli
