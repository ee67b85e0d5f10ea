// Walks a run configuration against its family's table of known keys
// (config_schema.h) and collects the problems, each naming the dotted path.
#include "fovea/train/config_check.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "closest_name.h"
#include "config_schema.h"
#include "fovea/error.h"
#include "fovea/nn/registry.h"

namespace fovea::train {

namespace {

using namespace schema;

// Index of the first byte that is not part of valid UTF-8, or npos.
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return i;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates, beyond U+10FFFF.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    i += n + 1;
  }
  return std::string::npos;
}

// A user's text for a one-line message: control characters and bytes that
// are not valid UTF-8 written as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = invalid_utf8_at(s.substr(i));
    bad = bad == std::string::npos ? s.size() - i : bad;
    for (size_t k = 0; k < bad; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < 0x20 || c == 0x7F) {
        bad = k;
        break;
      }
    }
    out += s.substr(i, bad);
    if (i + bad == s.size()) break;
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned char>(s[i + bad]));
    out += hex;
    i += bad + 1;
  }
  return out;
}

// A value as the config would write it, shortened; never throws on bad UTF-8.
std::string shown(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string dotted(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

bool is_count(const Json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); }
bool is_positive(const Json& v) { return v.is_number_integer() && is_count(v) && v.get<int64_t>() >= 1; }

template <typename Pred>
bool list_of(const Json& v, Pred&& element) {
  if (!v.is_array()) return false;
  for (const auto& e : v)
    if (!element(e)) return false;
  return true;
}

bool matches(Kind kind, const Json& v) {
  switch (kind) {
    case Kind::boolean: return v.is_boolean();
    case Kind::integer: return v.is_number_integer();
    case Kind::count: return is_count(v);
    case Kind::positive: return is_positive(v);
    case Kind::number: return v.is_number();
    case Kind::string: return v.is_string();
    case Kind::int_list: return list_of(v, [](const Json& e) { return e.is_number_integer(); });
    case Kind::count_list: return list_of(v, is_count);
    case Kind::number_list: return list_of(v, [](const Json& e) { return e.is_number(); });
    case Kind::string_list: return list_of(v, [](const Json& e) { return e.is_string(); });
    case Kind::number_pairs:
      return list_of(v, [](const Json& e) { return list_of(e, [](const Json& x) { return x.is_number(); }); });
    case Kind::count_or_list: return is_count(v) || list_of(v, is_count);
    case Kind::bool_or_count: return v.is_boolean() || is_count(v);
    case Kind::padding:
      return v.is_boolean() || is_count(v) || (v.is_string() && (v == "same" || v == "valid")) ||
             (v.is_array() && v.size() == 3 && list_of(v, is_count));
    case Kind::name: return v.is_string() || v.is_object();
    case Kind::mapping:
    case Kind::section: return v.is_object();
    case Kind::core_list:
    case Kind::readout_list: return list_of(v, [](const Json& e) { return e.is_object(); });
    case Kind::core:
    case Kind::readout:
    case Kind::any:
    case Kind::from_data: return true;
  }
  return true;
}

const FamilySchema* family_named(const std::string& name) {
  if (name == "retina") return &retina_family();
  if (name == "v1") return &v1_family();
  return nullptr;
}

class Checker {
 public:
  Checker(const FamilySchema& family, ConfigCheck level) : family_(family), level_(level) {}

  std::vector<ConfigIssue> issues;

  // The keys of `object` (at `path`) against `schema`; `owner` names the core
  // or readout type whose keys these are ("" for a section), its `type` key
  // already checked.
  void mapping(const Json& object, const Schema& schema, const std::string& path, const std::string& owner = "") {
    for (const auto& [k, v] : object.items()) {
      if (!owner.empty() && k == "type") continue;
      const std::string p = dotted(path, k);
      if (invalid_utf8_at(k) != std::string::npos) {
        add(p, "the key '" + printable(p) + "' is not valid UTF-8 text");
        continue;
      }
      const Field* f = find(schema, k);
      if (!f) {
        unknown_key(p, k, schema, owner);
        continue;
      }
      if (v.is_null()) continue;  // the default; missing-but-needed values are reported below
      value(v, *f, p);
    }
    if (level_ != ConfigCheck::run) return;
    for (const auto& f : schema)
      if (f.need == Need::run && (!object.contains(f.key) || object.at(f.key).is_null())) missing(f, dotted(path, f.key));
  }

 private:
  void add(const std::string& path, const std::string& message) { issues.push_back({path, message}); }

  static const Field* find(const Schema& schema, const std::string& key) {
    for (const auto& f : schema)
      if (f.key == key) return &f;
    return nullptr;
  }

  static std::vector<std::string> keys_of(const Schema& schema) {
    std::vector<std::string> k;
    for (const auto& f : schema) k.push_back(f.key);
    return k;
  }

  // Dotted paths of the sections' fields named `key`, anywhere in the family's sections.
  static void paths_named(const Schema& schema, const std::string& key, const std::string& path,
                          std::vector<std::string>& out) {
    for (const auto& f : schema) {
      if (f.key == key) out.push_back(dotted(path, f.key));
      if (f.kind == Kind::section && f.fields) paths_named(*f.fields, key, dotted(path, f.key), out);
    }
  }

  void unknown_key(const std::string& path, const std::string& key, const Schema& schema, const std::string& owner) {
    std::string message = "unknown key '" + printable(path) + "'" + (owner.empty() ? "" : " for " + owner);
    const auto known = keys_of(schema);
    std::vector<std::string> elsewhere;
    if (owner.empty()) paths_named(family_.top, key, "", elsewhere);
    // A one-letter slip here, else the same key in another section, else a nearer slip here.
    const auto near = closest_name(key, known);
    if (!near.empty() && (edit_distance(key, near) <= 1 || elsewhere.empty()))
      message += " (did you mean '" + near + "'?)";
    else if (!elsewhere.empty())
      message += " (did you mean '" + elsewhere.front() + "'?)";
    else if (!known.empty())
      message += " (known keys here: " + joined(known) + ")";
    else
      message += " (it takes no keys besides 'type')";
    add(path, message);
  }

  void missing(const Field& f, const std::string& path) {
    if (f.kind == Kind::core || f.kind == Kind::readout) {
      const bool core = f.kind == Kind::core;
      const auto types = builtin_types(core);
      add(path, "section '" + path + "' is missing: give the " + (core ? "core" : "readout") + ", e.g. " + f.key +
                    ": {type: " + types.front() + "} (" + family_.name + " " + (core ? "core" : "readout") +
                    " types: " + joined(types) + ")");
    } else if (f.kind == Kind::section) {
      add(path, "section '" + path + "' is missing");
    } else {
      add(path, "'" + path + "' is not set: give it in the config or as " + path + "=...");
    }
  }

  void wrong(const std::string& path, const Json& v, const std::string& expected) {
    add(path, "'" + path + "' has the wrong type: " + shown(v) + " (expected " + expected + ")");
  }

  // Every string and key inside `v` is valid UTF-8 (else one issue).
  bool text_ok(const Json& v, const std::string& path) {
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (const auto at = invalid_utf8_at(s); at != std::string::npos) {
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(s[at]));
        add(path, "'" + path + "' is not valid UTF-8 text (byte " + byte + " at position " + std::to_string(at) +
                      " of \"" + printable(s) + "\")");
        return false;
      }
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i)
        if (!text_ok(v[i], path + "[" + std::to_string(i) + "]")) return false;
    } else if (v.is_object()) {
      for (const auto& [k, e] : v.items()) {
        if (invalid_utf8_at(k) != std::string::npos) {
          add(path, "the key '" + printable(dotted(path, k)) + "' is not valid UTF-8 text");
          return false;
        }
        if (!text_ok(e, dotted(path, k))) return false;
      }
    }
    return true;
  }

  void value(const Json& v, const Field& f, const std::string& path) {
    if (!text_ok(v, path)) return;
    switch (f.kind) {
      case Kind::from_data:
        add(path, "'" + path + "' is set by fovea from the data; remove it from the config");
        return;
      case Kind::section:
        if (!v.is_object()) return wrong(path, v, "a mapping with the keys " + joined(keys_of(*f.fields)));
        return mapping(v, *f.fields, path);
      case Kind::core:
      case Kind::readout:
        return module(v, path, f.kind == Kind::core);
      case Kind::core_list:
      case Kind::readout_list:
        if (!matches(f.kind, v)) return wrong(path, v, describe(f));
        for (size_t i = 0; i < v.size(); ++i) module(v[i], path + "[" + std::to_string(i) + "]", f.kind == Kind::core_list);
        return;
      default:
        break;
    }
    if (!matches(f.kind, v)) return wrong(path, v, describe(f));
    if (f.kind == Kind::string && !f.choices.empty() &&
        std::find(f.choices.begin(), f.choices.end(), v.get<std::string>()) == f.choices.end()) {
      const auto near = closest_name(v.get<std::string>(), f.choices);
      add(path, "'" + path + "' is " + shown(v) + ", expected one of: " + joined(f.choices) +
                    (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
  }

  std::vector<std::string> builtin_types(bool core) const {
    std::vector<std::string> t;
    for (const auto& [name, keys] : core ? family_.cores : family_.readouts) t.push_back(name);
    return t;
  }

  // Types in the registry that no family's table lists: a plugin's.
  static std::vector<std::string> plugin_types(bool core) {
    std::set<std::string> builtin;
    for (const FamilySchema* f : {&v1_family(), &retina_family()})
      for (const auto& [name, keys] : core ? f->cores : f->readouts) builtin.insert(name);
    std::vector<std::string> out;
    for (const auto& t : core ? nn::core_types() : nn::readout_types())
      if (!builtin.count(t)) out.push_back(t);
    return out;
  }

  void module(const Json& v, const std::string& path, bool core) {
    const std::string what = core ? "core" : "readout";
    const auto own = builtin_types(core);
    if (!v.is_object())
      return wrong(path, v, "a " + what + ": a mapping with a 'type', e.g. {type: " + own.front() + "}");
    if (!text_ok(v, path)) return;
    const std::string type_path = path + ".type";
    if (!v.contains("type") || v.at("type").is_null()) {
      // A partial config (keys) may take the type from the config it is merged into.
      if (level_ == ConfigCheck::run)
        add(type_path, "'" + type_path + "' is not set (" + family_.name + " " + what + " types: " + joined(own) + ")");
      return;
    }
    if (!v.at("type").is_string()) return wrong(type_path, v.at("type"), "the name of a " + what + " type");
    const std::string type = v.at("type").get<std::string>();  // valid UTF-8 (text_ok)
    const auto& table = core ? family_.cores : family_.readouts;
    if (auto it = table.find(type); it != table.end()) return mapping(v, it->second, path, what + " type '" + type + "'");
    const auto plugins = plugin_types(core);
    if (std::find(plugins.begin(), plugins.end(), type) != plugins.end()) return;  // a plugin's: its keys are its own
    for (const FamilySchema* other : {&v1_family(), &retina_family()})
      if (other != &family_ && (core ? other->cores : other->readouts).count(type))
        return add(type_path, "'" + type_path + "' is '" + type + "', a " + other->name + " " + what + "; " +
                                  family_.name + " configs take " + joined(own) +
                                  (family_.name == "V1" ? " (or set family: retina)" : ""));
    auto candidates = own;
    candidates.insert(candidates.end(), plugins.begin(), plugins.end());
    const auto near = closest_name(type, candidates);
    add(type_path, "unknown " + what + " type '" + printable(type) + "' at '" + type_path + "'" +
                       (near.empty() ? " (known: " + joined(candidates) + ")" : " (did you mean '" + near + "'?)"));
  }

  const FamilySchema& family_;
  ConfigCheck level_;
};

}  // namespace

namespace schema {

std::string describe(const Field& f) {
  switch (f.kind) {
    case Kind::boolean: return "true or false";
    case Kind::integer: return "an integer";
    case Kind::count: return "an integer >= 0";
    case Kind::positive: return "an integer >= 1";
    case Kind::number: return "a number";
    case Kind::string: return f.choices.empty() ? "a string" : "one of: " + joined(f.choices);
    case Kind::int_list: return "a list of integers";
    case Kind::count_list: return "a list of integers >= 0";
    case Kind::number_list: return "a list of numbers";
    case Kind::string_list: return "a list of strings";
    case Kind::number_pairs: return "a list of lists of numbers, e.g. [[0.0, 0.1], [0.0, 0.1]]";
    case Kind::count_or_list: return "an integer >= 0 or a list of them";
    case Kind::bool_or_count: return "true, false or an integer >= 1";
    case Kind::padding: return "true, false, \"same\", \"valid\", an integer >= 0 or a list of three";
    case Kind::name: return "a name";
    case Kind::mapping:
    case Kind::section: return "a mapping";
    case Kind::core: return "a core: a mapping with a 'type'";
    case Kind::readout: return "a readout: a mapping with a 'type'";
    case Kind::core_list: return "a list of cores (mappings with a 'type')";
    case Kind::readout_list: return "a list of readouts (mappings with a 'type')";
    case Kind::any: return "any value";
    case Kind::from_data: return "nothing (fovea sets it from the data)";
  }
  return "a value";
}

}  // namespace schema

std::vector<ConfigIssue> config_issues(const Json& config, ConfigCheck level) {
  if (!config.is_object())
    return {{"", "a configuration must be a mapping of sections (data, model, training, ...), got " + shown(config)}};
  const FamilySchema* family = &v1_family();
  if (config.contains("family") && !config.at("family").is_null()) {
    const Json& f = config.at("family");
    if (!f.is_string()) return {{"family", "'family' has the wrong type: " + shown(f) + " (expected v1 or retina)"}};
    family = family_named(f.get<std::string>());
    if (!family) {
      const auto near = closest_name(f.get<std::string>(), {"v1", "retina"});
      return {{"family", "unknown family " + shown(f) + " (" +
                             (near.empty() ? std::string("known: v1, retina") : "did you mean '" + near + "'?") + ")"}};
    }
  }
  Checker checker(*family, level);
  checker.mapping(config, family->top, "");
  return checker.issues;
}

void validate_config(const Json& config, const std::string& origin, ConfigCheck level) {
  const auto issues = config_issues(config, level);
  if (!issues.empty()) fail(origin, issues.front().message);
}

namespace {

// `field` is `outer` or lies inside it ("model.core.type" in "model.core").
bool lies_in(const std::string& field, const std::string& outer) {
  return field == outer || (field.size() > outer.size() && field.compare(0, outer.size(), outer) == 0 &&
                            (field[outer.size()] == '.' || field[outer.size()] == '['));
}

}  // namespace

void validate_config(const Json& config, const std::string& path, const std::vector<std::string>& overrides,
                     ConfigCheck level) {
  const auto issues = config_issues(config, level);
  if (issues.empty()) return;
  const auto& issue = issues.front();
  // The last override that set this field, a field inside it or a section around it.
  for (auto o = overrides.rbegin(); o != overrides.rend(); ++o) {
    const std::string key = o->substr(0, o->find('='));
    if (!issue.path.empty() && (lies_in(issue.path, key) || lies_in(key, issue.path)))
      fail(path + ", override '" + printable(*o) + "'", issue.message);
  }
  fail(path, issue.message);
}

}  // namespace fovea::train
