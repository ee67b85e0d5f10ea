#pragma once
// Checking a run configuration before anything runs or is written. Each
// config family (V1: configs/v1_*.yaml; retina: family: retina) has one table
// of its known keys and what each holds (src/train/config_keys_*.cpp), the
// core and readout types included. A problem is reported with the full dotted
// path of the field:
//   unknown key 'model.cord' (did you mean 'core'?)
//   'training.lr' has the wrong type: "fast" (expected a number)
//   section 'model.core' is missing (a core: {type: ...}; known types: ...)
//   unknown core type 'blok_average' at 'model.core.type' (did you mean 'block_average'?)
// Core and readout types come from the module registry, so types that a plugin
// registers are accepted (their keys are not checked).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fovea::train {

using Json = nlohmann::json;

enum class ConfigCheck {
  keys,  // known keys and their types (a preset, a partial config, an override file)
  run,   // also the sections and values a training run needs (data paths, core, readout)
};

// One problem in a config: the dotted path of the field ("" for the whole
// config) and the one-line message.
struct ConfigIssue {
  std::string path;
  std::string message;
};

// Every problem found, in the order the config's keys sort; empty when it is valid.
std::vector<ConfigIssue> config_issues(const Json& config, ConfigCheck level = ConfigCheck::run);

// Throws fovea::Error "<origin>: <the first problem>" when the config has one.
void validate_config(const Json& config, const std::string& origin, ConfigCheck level = ConfigCheck::run);

// The same for a config read from the file `path` with `overrides` applied
// (config.h): the message names the file, and the override when one set the field.
void validate_config(const Json& config, const std::string& path, const std::vector<std::string>& overrides,
                     ConfigCheck level = ConfigCheck::run);

}  // namespace fovea::train
