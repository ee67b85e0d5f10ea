#pragma once
// Fine-tuning a pretrained retina model on a new dataset, as openretina's
// `train` does with `paths.load_model_path` and `only_train_readout`
// (cli/train.py):
//   paths:
//     load_model_path: <.safetensors, .ckpt, URL or pretrained name>
//   only_train_readout: true   # freeze the core
// The pretrained model is loaded (core, readouts, architecture), a readout is
// added for every session of the new dataset (openretina's
// readout.add_sessions: a session the pretrained model already has is an
// error), and training then runs on the new sessions only. The pretrained
// sessions keep their readouts unchanged in the saved model.
// Differences from openretina, deliberate:
//  - new readouts start with their bias at the session's mean training
//    response, as readouts of a freshly built model do (openretina's
//    add_sessions builds them without mean_activity: bias 0);
//  - only_train_readout also keeps the core's BatchNorm layers in eval mode
//    (openretina only calls core.requires_grad_(False), so the running
//    statistics keep moving with the new data and the "frozen" core's output
//    changes); here the core is bit-identical after training.
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fovea/nn/model.h"

namespace fovea::train {

struct TransferOptions {
  std::string load_model_path;      // paths.load_model_path
  bool only_train_readout = false;  // only_train_readout (top level, as openretina's)
};

// The transfer options of a run configuration; nullopt when
// paths.load_model_path is absent or null. only_train_readout without a
// model to load is an error (there is no trained core to keep).
std::optional<TransferOptions> transfer_options(const nlohmann::json& config);

// The model to fine-tune. `spec` is the spec train_retina wrote for the new
// data (data, data_info, input_shape, provenance; its core and readout are
// replaced by the pretrained model's); `mean_responses` gives each new
// session's mean training response (N,). Errors name load_model_path for: a
// model that is not a retina core-readout model, an input (channels, height,
// width) other than the data's, a session name the model already has, and a
// `model_section` (the config's model:) that contradicts the pretrained
// architecture (a key set in both with different values).
std::shared_ptr<nn::Model> transfer_model(const nn::Model& pretrained, const std::string& origin,
                                          const nlohmann::json& model_section, const nlohmann::json& spec,
                                          const std::map<std::string, at::Tensor>& mean_responses);

// Loads options.load_model_path (file, URL or pretrained name) and calls the above.
std::shared_ptr<nn::Model> transfer_model(const TransferOptions& options, const nlohmann::json& model_section,
                                          const nlohmann::json& spec,
                                          const std::map<std::string, at::Tensor>& mean_responses);

// only_train_readout: the core's parameters take no gradient.
void freeze_core(nn::Model& model);

}  // namespace fovea::train
