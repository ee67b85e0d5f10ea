#include "fovea/train/config.h"

#include "fovea/error.h"
#include "fovea/train/config_check.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/yaml.h"

namespace fovea::train {

Json parse_yaml(const std::string& text, const std::string& origin) { return io::parse_yaml(text, origin); }

void apply_override(Json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("override '" + assignment + "'", "expected key=value (e.g. training.lr=0.001)");
  const std::string key = assignment.substr(0, eq);
  Json value = parse_yaml(assignment.substr(eq + 1), "override '" + assignment + "'");
  Json* node = &config;
  size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) fail("override '" + assignment + "'", "empty key component");
    if (!node->is_object()) *node = Json::object();
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    node = &(*node)[part];
    start = dot + 1;
  }
}

Json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return config_from_yaml(io::read_file(path), path, overrides);
}

Json config_from_yaml(const std::string& text, const std::string& path, const std::vector<std::string>& overrides) {
  Json config = parse_yaml(text, path);
  if (config.is_null()) config = Json::object();
  if (!config.is_object()) fail(path, "a configuration must be a mapping of sections (data, model, training, ...)");
  for (const auto& o : overrides) {
    try {
      apply_override(config, o);
    } catch (const Error& e) {
      throw Error(path + ", " + e.what());  // "<path>, override 'a.b=[1': invalid YAML ..."
    }
  }
  validate_config(config, path, overrides, ConfigCheck::keys);
  return config;
}

}  // namespace fovea::train
