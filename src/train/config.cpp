#include "fovea/train/config.h"

#include <yaml-cpp/yaml.h>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fovea::train {

namespace {

Json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  try {
    size_t pos = 0;
    long long i = std::stoll(s, &pos);
    if (pos == s.size()) return i;
  } catch (...) {
  }
  try {
    size_t pos = 0;
    double d = std::stod(s, &pos);
    if (pos == s.size()) return d;
  } catch (...) {
  }
  return s;
}

Json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& item : node) a.push_back(to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : node) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    default:
      return nullptr;
  }
}

}  // namespace

Json parse_yaml(const std::string& text, const std::string& origin) {
  try {
    return to_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    fail(origin, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

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
  Json config = parse_yaml(io::read_file(path), path);
  if (config.is_null()) config = Json::object();
  if (!config.is_object()) fail(path, "a configuration must be a mapping of sections (data, model, training, ...)");
  for (const auto& o : overrides) apply_override(config, o);
  return config;
}

}  // namespace fovea::train
