#pragma once
// Tensors inside a model spec: nested lists of numbers (as YAML/JSON write
// them), or {"shape": [...], "data": [...]} (as py_to_json writes tensors of
// two or more dimensions from an openretina checkpoint). Float32.
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fovea/error.h"

namespace fovea::nn {

namespace json_tensor_detail {
inline void flatten(const nlohmann::json& j, std::vector<int64_t>& shape, size_t depth, std::vector<float>& out,
                    const std::string& where) {
  if (j.is_number()) {
    if (depth != shape.size()) fail(where, "is a ragged nested list");
    out.push_back(j.get<float>());
    return;
  }
  if (!j.is_array()) fail(where, "must hold numbers, got " + j.dump());
  if (depth == shape.size()) {
    if (!out.empty()) fail(where, "is a ragged nested list");
    shape.push_back(static_cast<int64_t>(j.size()));
  } else if (shape[depth] != static_cast<int64_t>(j.size())) {
    fail(where, "is a ragged nested list");
  }
  for (const auto& item : j) flatten(item, shape, depth + 1, out, where);
}
}  // namespace json_tensor_detail

// An undefined tensor for null or absent values; `where` names the field in errors.
inline at::Tensor tensor_from_json(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return {};
  std::vector<int64_t> shape;
  std::vector<float> data;
  if (j.is_object()) {
    if (!j.contains("shape") || !j.contains("data")) fail(where, "a tensor object needs 'shape' and 'data'");
    try {
      shape = j.at("shape").get<std::vector<int64_t>>();
      data = j.at("data").get<std::vector<float>>();
    } catch (const nlohmann::json::exception&) {
      fail(where, "'shape' must be integers and 'data' numbers");
    }
    int64_t n = 1;
    for (auto d : shape) n *= d;
    if (n != static_cast<int64_t>(data.size()))
      fail(where, "has " + std::to_string(data.size()) + " values for a shape of " + std::to_string(n));
  } else {
    json_tensor_detail::flatten(j, shape, 0, data, where);
  }
  return torch::tensor(data, torch::kFloat32).reshape(shape);
}

// {session: tensor} from a JSON object; empty for null or absent values.
inline std::map<std::string, at::Tensor> tensor_dict_from_json(const nlohmann::json& spec, const std::string& key) {
  std::map<std::string, at::Tensor> out;
  if (!spec.contains(key) || spec.at(key).is_null()) return out;
  const auto& dict = spec.at(key);
  if (!dict.is_object()) fail("model spec field '" + key + "'", "must map session names to values");
  for (const auto& [name, value] : dict.items())
    out[name] = tensor_from_json(value, "model spec field '" + key + "." + name + "'");
  return out;
}

}  // namespace fovea::nn
