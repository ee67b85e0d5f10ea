#pragma once
// fovea visualize: everything openretina's `visualize` draws for a model, and
// a page to browse it. Under the save folder:
//   weights_core/weights_layer_<i>/<in>_<out>.<fmt>, weights_readout/<session>/neuron_<k>.<fmt>
//   meis_core/layer_<i>/channel_<c>.{npy,mp4,<fmt>}      MEI of each inner channel
//   meis_readout/<session>/neuron_<k>.{npy,mp4,<fmt>}    MEI of each output neuron
//   evaluation/...                                       when an evaluation is given
//   index.html
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fovea/insilico/mei.h"
#include "fovea/nn/model.h"
#include "fovea/viz/mei_outputs.h"

namespace fovea::viz {

struct VisualizeOptions {
  std::string format = "jpg";    // figure format (openretina's default)
  int64_t time_steps = 50;       // MEI movie length (openretina's --time-steps-stimulus)
  insilico::MeiRecipe recipe;    // its time_steps is replaced by the one above
  MeiOutputOptions mei_output;   // its format is replaced by the one above
  bool weights = true, meis = true;
  bool progress = true;
};

// Per-neuron evaluation to show: metrics (e.g. feve, correlation) and figures
// (paths relative to the save folder), by session and neuron index.
struct NeuronEvaluation {
  std::map<std::string, double> metrics;
  std::vector<std::string> figures;
};
struct ModelEvaluation {
  std::map<std::string, std::vector<NeuronEvaluation>> neurons;  // session -> neurons
  std::vector<std::string> summary_figures;
};

// Writes the tree above and returns the path of index.html.
std::filesystem::path visualize_model(std::shared_ptr<nn::Model> model, const std::string& model_path,
                                      const std::filesystem::path& save_folder, const VisualizeOptions& options,
                                      const ModelEvaluation* evaluation = nullptr);

}  // namespace fovea::viz
