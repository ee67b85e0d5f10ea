#pragma once
// Training an openretina-style core-readout model from a run configuration
// (configs/retina_*.yaml):
//   family:   retina
//   data:     layout (hdf5: openretina's generic layout; maheswaranathan_2023;
//             hoefling_2024: movies_path, responses_path, quality_checks, trace_type, scale_traces),
//             dir, test_names,
//             stimulus_size, norm_mean / norm_std (null: from the training
//             movies), clip_length, num_val_clips, val_clip_indices, split_seed
//   model:    hidden_channels, core {type, ...}, readout {type, ...}
//   training: lr, weight_decay, batch_size, chunk_size, max_epochs, the
//             plateau schedule or a PyTorch scheduler (lr_schedule +
//             lr_scheduler), optimizer (adamw | sgd), accumulate_grad_batches,
//             loss (poisson | l1_poisson | mse | correlation), early
//             stopping, grad_clip_norm (src/train/optimizer_config.h)
//   output:   dir
//   seed, device
// The known keys and their types are listed once, in
// src/train/config_keys_retina.cpp (checked by config_check.h).
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "fovea/data/hoefling_dataset.h"
#include "fovea/data/movie_clips.h"
#include "fovea/data/retina_dataset.h"
#include "fovea/nn/model.h"
#include "fovea/train/trainer.h"

namespace fovea::train {

using Json = nlohmann::json;

// True when a run configuration describes a retina model (family: retina).
bool is_retina_config(const Json& config);

// The data section of a retina config (or of a retina model's spec["data"]).
struct RetinaDataOptions {
  std::string layout = "hdf5";           // hdf5 | maheswaranathan_2023 | hoefling_2024
  // hoefling_2024 only: the movie pickle and the responses HDF5 (empty: the
  // one *.pkl/*.pickle and the one *.h5/*.hdf5 in `dir`; relative: in `dir`),
  // the quality checks, trace type and scale (data.quality_checks.*,
  // data.trace_type, data.scale_traces); data.val_clip_indices are canonical clip ids.
  std::string movies_path, responses_path;
  data::HoeflingQualityChecks quality_checks;
  std::string trace_type = "spikes";
  double scale_traces = 1.0;
  // maheswaranathan_2023 only (the reader z-scores each session's movies itself):
  std::string response_type = "firing_rate_20ms", stim_type = "naturalscene";
  double fr_normalization = 1.0;
  std::string dir;
  std::vector<std::string> test_names{"test"};
  std::vector<int64_t> stimulus_size;    // (C, H, W), empty: not checked
  std::optional<double> norm_mean, norm_std;  // unset: computed from the training movies
  data::ClipSplitOptions split;
};
RetinaDataOptions retina_data_options(const Json& data_section);

// Reads the dataset the options name and normalises the movies; `norm_mean`
// and `norm_std` are filled in when they were computed.
data::RetinaDataset load_retina_data(RetinaDataOptions& options);

// Splits every session into training, validation and test data; with
// `test_only`, only the test movies and responses are filled in.
std::map<std::string, data::SessionClips> split_sessions(const data::RetinaDataset& dataset,
                                                         const data::ClipSplitOptions& options,
                                                         bool test_only = false);

struct RetinaTrainingRun {
  std::shared_ptr<nn::Model> model;
  TrainingResult result;
};

// Checks the config (validate_config, ConfigCheck::run), then builds the
// model it describes for this dataset (readout biases at
// each session's mean training response, as openretina initialises them),
// trains it with openretina's recipe and returns it in eval mode, its spec
// recording the data options, the normalisation and the provenance.
RetinaTrainingRun train_retina(const Json& config, const data::RetinaDataset& dataset,
                               const RetinaDataOptions& data_options, const std::string& metrics_csv = "",
                               bool show_progress = true, const EpochCallback& on_epoch = {});

}  // namespace fovea::train
