#pragma once
// Reading typed fields of a run configuration, with errors that name the field.
#include <nlohmann/json.hpp>

#include <string>

#include "fovea/error.h"

namespace fovea::train {

// section[key] as T, or `fallback` when absent or null; a wrong type is an error naming the key.
template <typename T>
T get(const nlohmann::json& section, const std::string& key, const T& fallback) {
  if (!section.is_object() || !section.contains(key) || section.at(key).is_null()) return fallback;
  try {
    return section.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("config field '" + key + "'", "has the wrong type: " + section.at(key).dump());
  }
}

// config[name] when it is an object, else an empty object.
inline const nlohmann::json& section(const nlohmann::json& config, const std::string& name) {
  static const nlohmann::json empty = nlohmann::json::object();
  return config.is_object() && config.contains(name) && config.at(name).is_object() ? config.at(name) : empty;
}

}  // namespace fovea::train
