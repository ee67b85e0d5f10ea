#pragma once
// Helpers shared by the API tests.
#include <string>

#include "fovea/api/train.h"

namespace fovea::test {

// YAML of a small two-layer minimodel_core (n_conv, n_conv_mid channels,
// kernels 9 and 5) with a rank1 readout on the simulated images halved
// (33x65), trained for `epochs` epochs; each `*_extra` (", key: value, ...")
// is added to that mapping.
inline std::string tiny_v1_config(int n_conv, int n_conv_mid, int epochs, int seed, const std::string& core_extra = "",
                                  const std::string& readout_extra = "", const std::string& training_extra = "") {
  return "data: {images: null, responses: null, downsample: 2, fev_threshold: 0.15}\n"
         "model:\n"
         "  core: {type: minimodel_core, n_layers: 2, n_conv: " + std::to_string(n_conv) +
         ", n_conv_mid: " + std::to_string(n_conv_mid) + ", kernel_size: [9, 5]" + core_extra + "}\n"
         "  readout: {type: rank1" + readout_extra + "}\n"
         "training: {period_epochs: [" + std::to_string(epochs) + "], lr: 0.003, batch_size: 25, patience: 0" +
         training_extra + "}\n"
         "seed: " + std::to_string(seed) + "\n";
}

// fovea::api::train options for `config_text` (named `config_name`) on the
// simulated V1 files in `data_dir` (images.npy, responses.npz), writing to `output`, quietly.
inline api::TrainOptions v1_train_options(const std::string& config_name, const std::string& config_text,
                                          const std::string& data_dir, const std::string& output) {
  api::TrainOptions o;
  o.config = config_name;
  o.config_text = config_text;
  o.overrides = {"data.images=" + data_dir + "/images.npy", "data.responses=" + data_dir + "/responses.npz"};
  o.output = output;
  o.quiet = true;
  return o;
}

}  // namespace fovea::test
