#pragma once
// Training an openretina-style core-readout model from a run configuration
// (configs/retina_*.yaml):
//   family:   retina
//   data:     layout (hdf5: openretina's generic layout; maheswaranathan_2023;
//             karamanlis_2024: species, stim_type, fr_normalization, downsampled_size;
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
#include "fovea/data/sridhar_dataset.h"
#include "fovea/nn/model.h"
#include "fovea/train/trainer.h"

namespace fovea::train {

using Json = nlohmann::json;

// True when a run configuration describes a retina model (family: retina).
bool is_retina_config(const Json& config);

// The data section of a retina config (or of a retina model's spec["data"]).
struct RetinaDataOptions {
  std::string layout = "hdf5";           // hdf5 | maheswaranathan_2023 | hoefling_2024 | karamanlis_2024
  // hoefling_2024 only: the movie pickle and the responses HDF5 (empty: the
  // one *.pkl/*.pickle and the one *.h5/*.hdf5 in `dir`; relative: in `dir`),
  // the quality checks, trace type and scale (data.quality_checks.*,
  // data.trace_type, data.scale_traces); data.val_clip_indices are canonical clip ids.
  std::string movies_path, responses_path;
  data::HoeflingQualityChecks quality_checks;
  std::string trace_type = "spikes";
  double scale_traces = 1.0;
  // hoefling_2024: the chirp and moving-bar pickles (data.chirp_path,
  // data.moving_bar_path; relative: in `dir`); each adds a test stimulus
  // ("chirp", "moving_bar") with the recordings' responses to it, scored by
  // `fovea eval --test-name chirp|moving_bar` (test_names stays {"test"}).
  std::string chirp_path, moving_bar_path;
  // maheswaranathan_2023 and karamanlis_2024 (the readers z-score each
  // session's movies themselves); stim_type defaults to the layout's
  // (naturalscene, fixationmovie):
  std::string response_type = "firing_rate_10ms", stim_type;
  double fr_normalization = 1.0;
  // karamanlis_2024 only: the species in the session names, the movie size.
  std::string species = "mouse";
  std::vector<int64_t> downsampled_size{60, 80};
  // goldin_2022: `species` (mouse | axolotl) names the files; response_type
  // defaults to binned, fr_normalization to 0.3, clip_length to 1 and
  // num_val_clips to 640 (dataloader/goldin_2022.yaml).
  // sridhar_2025: data.stimulus, sessions, cell_index, excluded_cells,
  // stimulus_seed, split_seed (default 1000), train_frac, fixation_files,
  // flip_imgs, extra_frame; clip_length becomes frames_per_trial, so the
  // validation clips are the validation trials.
  data::SridharOptions sridhar;
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
// recording the data options, the normalisation and the provenance. Writes
// the metrics CSV and the checkpoint of `files` per epoch when given, and
// continues from that checkpoint when files.resume is set.
RetinaTrainingRun train_retina(const Json& config, const data::RetinaDataset& dataset,
                               const RetinaDataOptions& data_options, const RunFiles& files = {},
                               bool show_progress = true, const EpochCallback& on_epoch = {});

}  // namespace fovea::train
