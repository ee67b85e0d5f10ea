// YAML into JSON.
#include "fovea/io/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
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

// An alias (*name) repeats its anchor's whole node, so a few hundred bytes of
// nested aliases ("billion laughs") expand to billions of values: the
// conversion counts the values it makes and gives up past this many, far
// more than any config holds.
constexpr int64_t kMaxValues = 100000;

Json to_json(const YAML::Node& node, int64_t& budget, const std::string& origin) {
  if (--budget < 0) {
    fail(origin, "YAML expands to more than " + std::to_string(kMaxValues) +
                     " values (aliases that repeat each other, a \"billion laughs\" file?)");
  }
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& item : node) a.push_back(to_json(item, budget, origin));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : node) o[kv.first.as<std::string>()] = to_json(kv.second, budget, origin);
      return o;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    default:
      return nullptr;
  }
}

// Parser events that are not needed.
struct IgnoreEvents : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Whether a second document follows, and the line of its first value.
struct SecondDocument : IgnoreEvents {
  bool found = false;
  int line = -1;
  void at(const YAML::Mark& mark) {
    if (line < 0) line = mark.line;
  }
  void OnDocumentStart(const YAML::Mark& mark) override { at(mark); }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { at(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { at(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { at(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    at(mark);
  }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    at(mark);
  }
};

}  // namespace

Json parse_yaml(const std::string& text, const std::string& origin) {
  // Never YAML::LoadAll: on some malformed text (a quoted scalar followed by
  // more text, then a line starting with ',') yaml-cpp 0.7's parser reports
  // one empty document after another without reading on, and LoadAll
  // collects them until memory runs out (86 bytes took `fovea train` to 23 GB).
  // The first document is read with YAML::Load; whether a second one follows
  // is asked of a parser of its own, at most twice.
  YAML::Node document;
  SecondDocument second;
  try {
    document = YAML::Load(text);
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    IgnoreEvents first;
    if (parser.HandleNextDocument(first)) second.found = parser.HandleNextDocument(second);
  } catch (const YAML::Exception& e) {
    fail(origin, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  // yaml-cpp ends a document where the indentation falls below its first
  // line's and reads the rest as a further document: a config whose section
  // header was lost would otherwise drop every section after it.
  if (second.found)
    fail(origin, "invalid YAML at line " + std::to_string(second.line + 1) +
                     ": the document ended before this line (check the indentation of the lines above)");
  try {
    int64_t budget = kMaxValues;
    return to_json(document, budget, origin);
  } catch (const YAML::Exception& e) {
    fail(origin, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace fovea::io
