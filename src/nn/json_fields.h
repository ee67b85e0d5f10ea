#pragma once
// Reading typed fields of a model spec, with errors that name the field.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "fovea/error.h"

namespace fovea::nn {

template <typename T>
T field(const nlohmann::json& spec, const std::string& key, const T& fallback) {
  if (!spec.contains(key) || spec.at(key).is_null()) return fallback;
  try {
    return spec.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("model spec field '" + key + "'", "has the wrong type: " + spec.at(key).dump());
  }
}

template <typename T>
T required_field(const nlohmann::json& spec, const std::string& key, const std::string& where) {
  if (!spec.contains(key) || spec.at(key).is_null()) fail(where, "field '" + key + "' is missing");
  return field<T>(spec, key, T{});
}

}  // namespace fovea::nn
