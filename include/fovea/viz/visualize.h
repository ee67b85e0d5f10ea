#pragma once
// fovea visualize: everything openretina's `visualize` writes for a model
// (cli/visualize_model_neurons.py), under its folder and file names, and a
// page to browse it. Under the save folder S, with f the figure format:
//   S/core_features_layer<l>/<c>.{f,mp4,npy}      MEI of inner channel c of layer l
//   S/output_neurons/<session>/<n>.{f,mp4,npy}    MEI of output neuron n
//   S/weights_core/weights_layer_<l>/<in>_<out>_.f, S/weights_readout/<session>/neuron_<n>.f
//     (the legacy ensemble layout: S/weights_layer_<l>/... and S/weights_readout/...)
//   S/evaluation/...                              when an evaluation is given
//   S/index.html                                  fovea's page over all of it
// The .npy files and the page are fovea's additions.
//
// The MEIs follow openretina's recipe (insilico::visualize_recipe): start
// P(randn · 0.1), SGD lr 100, 10 steps; for green/UV models P rescales to
// norm 30 and clips each channel to the Höfling ranges (applied to the start
// too) and RangeRegularizationLoss(0.1) joins the loss. Output neurons: the
// response frames 10–19. Inner channels: the centre of the layer's output
// averaged over its last 10 frames, for the first session in sorted order.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fovea/insilico/mei.h"
#include "fovea/nn/model.h"
#include "fovea/viz/mei_outputs.h"
#include "fovea/viz/model_weights.h"

namespace fovea::viz {

struct VisualizeOptions {
  std::string format = "jpg";  // figure format (openretina's --image-file-format)
  int64_t time_steps = 50;     // MEI movie length (openretina's --time-steps-stimulus)
  int64_t steps = 10;          // SGD steps
  double lr = 100.0;
  uint64_t seed = 0;           // start of target k: randn seeded with (seed, k)
  int64_t batch_size = 16;     // MEIs optimised together (the results equal separate runs)
  // openretina's constraints for green/UV models; false: every model unconstrained.
  bool constraints = true;
  int64_t response_start = 10, response_length = 10;  // output neurons: the response frames averaged
  int64_t inner_frames = 10;                           // inner channels: the layer's last frames averaged
  MeiOutputOptions mei_output;  // its format and highlight are set from the above
  WeightLayout weight_layout = WeightLayout::lightning;
  bool weights = true, meis = true;
  bool progress = true;
  // Continue a killed run in the same save folder: the weight figures and the
  // batches of MEIs its record (S/visualize_record.json) lists as finished,
  // whose files all exist, are kept untouched; the rest is made, and the page
  // rewritten. A record made with other options or another model is refused.
  bool resume = false;
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

struct VisualizeResult {
  std::filesystem::path page;        // S/index.html
  int64_t meis = 0, weight_figures = 0;
  std::vector<std::string> notes;    // what was skipped or changed, and why (one line each)
};

// Writes the tree above. The MEIs are optimised on `model`; the weight
// figures are drawn from `weights_model` when given (the ensemble path draws
// the uncentred member while its MEIs use the centred one), else from `model`.
// Refuses (fovea::Error naming the record) a resume whose folder was made
// with other options or models; visualize_model checks this too, callers that
// write into the folder first (an evaluation) call it before.
void check_visualize_resume(const nn::Model& model, const std::filesystem::path& save_folder,
                            const VisualizeOptions& options, const nn::Model* weights_model = nullptr);

VisualizeResult visualize_model(std::shared_ptr<nn::Model> model, const std::string& model_path,
                                const std::filesystem::path& save_folder, const VisualizeOptions& options,
                                const ModelEvaluation* evaluation = nullptr,
                                std::shared_ptr<nn::Model> weights_model = nullptr);

}  // namespace fovea::viz
