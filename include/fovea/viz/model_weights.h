#pragma once
// Weight figures for a whole model, as openretina's save_weight_visualizations:
//   weights_core/weights_layer_<i>/<in>_<out>.<fmt>   one per (layer, in, out) channel
//   weights_readout/<session>/neuron_<k>.<fmt>         one per neuron
//   weights_core/weights_layer_<i>/filters.<fmt>        the layer's spatial filters in one grid
// V1 models (minimodel cores) have one figure per output channel of a layer
// (<out>.<fmt>: the filter of layer 0; the spatial kernel and the 1×1 input
// weights of a separable layer) and, with a rank-1 readout, the Wc matrix
// weights_readout/Wc_matrix.<fmt>.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::viz {

struct WeightFigures {
  struct Layer {
    std::string name;  // "features.layer0"
    int64_t in_channels = 0, out_channels = 0;
    std::vector<std::vector<std::string>> files;  // [out][in], paths relative to the save folder
    std::string filters;  // all spatial filters of the layer in one grid, strongest first ("" if none)
  };
  std::vector<Layer> layers;
  std::map<std::string, std::vector<std::string>> neurons;  // session -> one file per neuron
  std::vector<std::string> summaries;                       // e.g. the Wc matrix
  std::vector<std::string> skipped;                         // what has no figure, and why
};

// The folder name of a session's readout figures ("" is a model's only readout: "readout").
std::string session_folder(const std::string& session);

// Writes every weight figure of `model` under `dir` in `format` (png, svg,
// jpg, pdf). `on_figure` is called after each figure (for progress).
WeightFigures save_weight_visualizations(const nn::Model& model, const std::filesystem::path& dir,
                                         const std::string& format,
                                         const std::function<void()>& on_figure = {});

// How many figures save_weight_visualizations will write (for a progress bar).
int64_t count_weight_figures(const nn::Model& model);

}  // namespace fovea::viz
