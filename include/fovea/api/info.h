#pragma once
// `fovea info MODEL`: a model's architecture, parameter counts and sessions.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::api {

struct InfoOptions {
  std::string model;  // file, URL or pretrained name
};

struct InfoResult {
  std::shared_ptr<nn::Model> model;
  nlohmann::json spec;                                   // the full spec (family, core, readout, input_shape, ...)
  std::vector<std::pair<std::string, int64_t>> sessions; // session ("" : single) and its neurons
  int64_t parameters = 0, trainable_parameters = 0, core_parameters = 0, readout_parameters = 0;
  std::vector<std::pair<std::string, nlohmann::json>> provenance;  // the training provenance fields present
};

InfoResult info(const InfoOptions& options);

}  // namespace fovea::api
