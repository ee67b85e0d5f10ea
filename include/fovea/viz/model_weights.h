#pragma once
// Weight figures for a whole model, as openretina's save_weight_visualizations.
// Lightning layout (BaseCoreReadout.save_weight_visualizations, the default):
//   weights_core/weights_layer_<l>/<in>_<out>_.<fmt>   one per (layer, in, out) channel
//   weights_readout/<session>/neuron_<k>.<fmt>          one per neuron
// Legacy-ensemble layout (visualize --is-hoefling-ensemble-model):
//   weights_layer_<l>/<in>_<out>_.<fmt>
//   weights_readout/<session>/neuron_<k>.<fmt>
// The trailing underscore is openretina's: its name is <in>_<out>_<suffix>
// with an empty suffix. Beyond the reference, fovea writes
//   <layer folder>/filters.<fmt>    the layer's spatial filters in one grid
// and draws every core and readout type it has:
//   retina cores (SimpleCoreWrapper, every conv type; the legacy
//   ParametricFactorizedBatchConv3dCore) as STSeparableBatchConv3d.plot_weights;
//   ensembles member by member (layer folders under member_<m>/, one readout
//   figure per neuron with a row per member);
//   V1 models (minimodel cores) one figure per output channel of a layer
//   (<out>.<fmt>: the filter of layer 0; the spatial kernel and the 1×1 input
//   weights of a separable layer) and, with a rank-1 readout, the Wc matrix
//   weights_readout/Wc_matrix.<fmt>.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::viz {

enum class WeightLayout {
  lightning,        // weights_core/weights_layer_<l>/, weights_readout/<session>/
  legacy_ensemble,  // weights_layer_<l>/, weights_readout/<session>/ (the readout bars titled
                    // "Readout feature weights", as SpatialXFeature3d titles them)
};

struct WeightFigureOptions {
  std::string format = "jpg";  // png, svg, pdf, jpg (openretina's default)
  WeightLayout layout = WeightLayout::lightning;
  bool filter_grids = true;    // fovea's <layer folder>/filters.<fmt>
};

struct WeightFigures {
  struct Layer {
    std::string name;    // "features.layer0" ("members.<m>.features.layer0" in an ensemble)
    std::string folder;  // relative to the save folder, e.g. "weights_core/weights_layer_0"
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
// The folder of core layer `layer`'s figures, relative to the save folder.
std::string core_layer_folder(int64_t layer, WeightLayout layout);
// The folder of a session's readout figures, relative to the save folder.
std::string readout_folder(const std::string& session, WeightLayout layout);

// Writes every weight figure of `model` under `dir`. `on_figure` is called
// after each figure (for progress). The model is only read: drawing never
// changes a parameter (see weight_figures.h).
WeightFigures save_weight_visualizations(const nn::Model& model, const std::filesystem::path& dir,
                                         const WeightFigureOptions& options,
                                         const std::function<void()>& on_figure = {});
// The same with `format` and `layout` (and fovea's filter grids).
WeightFigures save_weight_visualizations(const nn::Model& model, const std::filesystem::path& dir,
                                         const std::string& format, const std::function<void()>& on_figure = {},
                                         WeightLayout layout = WeightLayout::lightning);

// How many figures save_weight_visualizations will write with these options (for a progress bar).
int64_t count_weight_figures(const nn::Model& model, const WeightFigureOptions& options = {});

}  // namespace fovea::viz
