#pragma once
// The Höfling et al. 2024 (eLife) ensemble as openretina loads it
// (utils/nnfabrik_model_loading.py): five nnfabrik-era members, each three
// files in one folder,
//   config_<id>.yaml        model_fn + model_config (PyYAML, !!python/tuple)
//   data_info_<id>.pkl      session -> {input_dimensions, input_channels, output_dimension, ...}
//   state_dict_<id>.pth.tar the weights (torch.save, zip or legacy container)
// with id = 00000, 01000, 02000, 03000, 04000 (the members' seeds). Each
// member is the legacy SFB3d_core_SxF3d_readout model (legacy_core.h + the
// spatial_x_feature_3d readout); the ensemble is the mean of the members.
//
// Names: "hoefling_2024_ensemble" is the whole ensemble, and
// "hoefling_2024_ensemble:N" member N (Python indexing: -1 is the last).
// The files come from GIN, https://gin.g-node.org/ unless the environment
// variable FOVEA_GIN_BASE_URL replaces it (a mirror, a local server in tests),
// into <cache>/9d574ab9fcb85e8251639080c8d402b7/ as openretina stores them.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fovea/io/download.h"
#include "fovea/nn/model.h"

namespace fovea::nn {

inline constexpr const char* kHoeflingEnsembleName = "hoefling_2024_ensemble";
inline constexpr const char* kHoeflingEnsembleHash = "9d574ab9fcb85e8251639080c8d402b7";

// The ids of the published members, in openretina's order.
const std::vector<std::string>& hoefling_ensemble_ids();

// The spec of one legacy member, built from its YAML config (parsed) and its
// data_info pickle (the sessions, their neuron counts and the input shape).
// `origin` names the files in errors.
Json legacy_member_spec(const Json& config, const std::string& config_origin, const std::string& data_info_path);

// Member `id` from the three files in `dir`: the model built from the YAML's
// hyper-parameters and the state dict loaded into it. Only the conv layers'
// `_log_speed_default` buffers may be missing from the file (they stay 0);
// any other missing, unused or mis-shaped key is a fovea::Error naming it.
std::shared_ptr<Model> load_legacy_member(const std::string& dir, const std::string& id);

// The ids of the members in `dir` (config_<id>.yaml), sorted by seed.
std::vector<std::string> ensemble_member_ids(const std::string& dir);

// Every member of `dir` as one model: the "ensemble" core and readout, whose
// output is the mean of the members' (openretina's EnsembleModel).
std::shared_ptr<Model> load_ensemble_from_directory(const std::string& dir);

// openretina's Center(target_mean): every readout's mask_mean row := target,
// so each neuron reads out at the centre of the core's output.
void center_readouts(Model& model, double target_x = 0.0, double target_y = 0.0);

// The GIN base URL (FOVEA_GIN_BASE_URL or https://gin.g-node.org), without a trailing '/'.
std::string gin_base_url();

// Downloads the 15 files into one cache folder (each file atomically; files
// already there are reused, so a finished download works offline) and
// returns the folder.
std::string fetch_hoefling_ensemble(const io::DownloadOptions& download = {});

// "hoefling_2024_ensemble" -> nullopt (the whole ensemble); ":N" -> N (may be
// negative); any other text -> fovea::Error. Call only when
// is_hoefling_ensemble_name() holds.
std::optional<int64_t> hoefling_member_index(const std::string& name);
bool is_hoefling_ensemble_name(const std::string& name);

// The ensemble (member = nullopt) or member N of it (-5..4), downloaded if
// needed; with `center`, the readouts are centred as openretina's visualize does.
std::shared_ptr<Model> load_hoefling_ensemble(std::optional<int64_t> member, bool center = false,
                                              const io::DownloadOptions& download = {});

}  // namespace fovea::nn
