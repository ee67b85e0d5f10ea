#pragma once
// Training a V1 model from a run configuration (configs/v1_*.yaml):
//   data:     images, responses, truth, crop_x, downsample, normalize_images, fev_threshold, train_fraction
//   model:    core {type, ...}, readout {type, ...}
//   training: period_epochs, lr, batch_size, patience, hoyer_square, weight_decay {...}, ridge_lambda
//   init:     first_layer_from (a full model whose first conv layer is copied and frozen: minimodels)
//   output:   dir
//   seed, device
// The known keys and their types are listed once, in src/train/config_keys_v1.cpp
// (checked by config_check.h).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fovea/data/v1_dataset.h"
#include "fovea/nn/model.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_task.h"

namespace fovea::train {

using Json = nlohmann::json;

data::V1LoadOptions v1_load_options(const Json& config);
// A dataset restricted to some neurons (indices into the dataset's neurons).
data::V1Dataset select_neurons(const data::V1Dataset& dataset, const at::Tensor& neurons);

struct V1TrainingRun {
  std::shared_ptr<nn::Model> model;
  TrainingResult result;
};

// What train_v1 trains, before it trains: the model built from the config
// for this dataset (initialised from the seed, the first layer copied and
// frozen when init.first_layer_from is given), on the CPU; its data, recipe
// and schedule. fit_minimodels trains many of these together
// (minimodel_batch.h).
struct V1TrainingSetup {
  std::shared_ptr<nn::Model> model;
  V1TrainingData data;
  V1Recipe recipe;
  TrainerOptions options;  // the schedule; no files, progress or callback
  torch::Device device = torch::kCPU;
};
V1TrainingSetup v1_training_setup(const Json& config, const data::V1Dataset& dataset,
                                  std::shared_ptr<FirstConvCache> first_conv_cache = nullptr);
// The training result in the model's spec (provenance.best_val_varexp, best_epoch, epochs_run).
void record_v1_result(nn::Model& model, const TrainingResult& result);

// Checks the config (validate_config, ConfigCheck::run), then builds the
// model it describes for this dataset, trains it (or fits it in closed form
// for a ridge readout) and returns it in eval mode. Writes the metrics CSV
// and the checkpoint of `files` per epoch when given, and continues from that
// checkpoint when files.resume is set. The model's spec records the data
// preprocessing and the training provenance.
// `first_conv_cache` lets runs with the same frozen first conv (minimodels of
// one full model) share its outputs (see V1TrainingData). `on_epoch` is
// called after every epoch (not for the closed-form ridge fit).
V1TrainingRun train_v1(const Json& config, const data::V1Dataset& dataset, const RunFiles& files = {},
                       bool show_progress = true, std::shared_ptr<FirstConvCache> first_conv_cache = nullptr,
                       const EpochCallback& on_epoch = {});

// Copies the first conv layer of `source` into `target` (bilinear resize as
// cv2.resize when the kernel sizes differ) and freezes it, as minimodel does
// for minimodels.
void copy_first_layer(const nn::Model& source, nn::Model& target, bool freeze = true);

}  // namespace fovea::train
