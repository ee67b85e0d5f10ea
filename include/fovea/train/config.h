#pragma once
// Run configurations: YAML presets (configs/*.yaml) read into JSON, with
// `key.sub=value` overrides from the command line (value parsed as YAML, so
// `training.period_epochs=[3,2]` and `data.downsample=2` work). Their keys
// are checked against the family's known keys (config_check.h).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fovea::train {

using Json = nlohmann::json;

// Reads `path`, applies the overrides and checks the known keys and their
// types (ConfigCheck::keys); fovea::Error names the file, and the override
// when one set the field: "v1.yaml, override 'training.lrr=1': unknown key ...".
Json load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same for YAML text already read; `path` names it in messages.
Json config_from_yaml(const std::string& text, const std::string& path, const std::vector<std::string>& overrides = {});
Json parse_yaml(const std::string& text, const std::string& origin);
// Applies one "a.b.c=value" assignment; intermediate objects are created.
void apply_override(Json& config, const std::string& assignment);

}  // namespace fovea::train
