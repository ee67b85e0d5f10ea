// YAML into JSON.
#include "fovea/io/yaml.h"

#include <yaml-cpp/yaml.h>

#include <vector>

#include "fovea/error.h"

namespace fovea::io {

using Json = nlohmann::json;

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
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    fail(origin, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (documents.empty()) return nullptr;
  // yaml-cpp ends a document where the indentation falls below its first
  // line's and reads the rest as a further document: a config whose section
  // header was lost would otherwise drop every section after it.
  if (documents.size() > 1)
    fail(origin, "invalid YAML at line " + std::to_string(documents[1].Mark().line + 1) +
                     ": the document ended before this line (check the indentation of the lines above)");
  try {
    return to_json(documents.front());
  } catch (const YAML::Exception& e) {
    fail(origin, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace fovea::io
