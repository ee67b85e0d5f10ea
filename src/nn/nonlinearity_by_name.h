#pragma once
// Output nonlinearities chosen by name, as openretina's readouts choose them
// (torch.exp for "exp", otherwise torch.nn.functional.<name>).
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "fovea/error.h"

namespace fovea::nn {

inline const char* known_nonlinearities() { return "exp, softplus, relu, elu, selu, gelu, silu, sigmoid, tanh, softsign, identity"; }

inline bool is_known_nonlinearity(const std::string& name) {
  for (const char* n : {"exp", "softplus", "relu", "elu", "selu", "gelu", "silu", "sigmoid", "tanh", "softsign", "identity"})
    if (name == n) return true;
  return false;
}

inline at::Tensor apply_nonlinearity(const std::string& name, const at::Tensor& x) {
  if (name == "exp") return torch::exp(x);
  if (name == "softplus") return torch::softplus(x);
  if (name == "relu") return torch::relu(x);
  if (name == "elu") return torch::elu(x);
  if (name == "selu") return torch::selu(x);
  if (name == "gelu") return torch::gelu(x);
  if (name == "silu") return torch::silu(x);
  if (name == "sigmoid") return torch::sigmoid(x);
  if (name == "tanh") return torch::tanh(x);
  if (name == "softsign") return x / (1 + x.abs());
  if (name == "identity") return x;
  fail("nonlinearity", "unknown nonlinearity '" + name + "' (known: " + known_nonlinearities() + ")");
}

// The name in a spec field: a string, or a Python function kept as
// {"__class__": "torch.nn.functional.softplus"} by the checkpoint reader;
// the last dotted component is the name.
inline std::string nonlinearity_name_from_json(const nlohmann::json& value, const std::string& field_name) {
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_object() && value.contains("__class__") && value.at("__class__").is_string()) {
    text = value.at("__class__").get<std::string>();
  } else {
    fail("model spec field '" + field_name + "'", "must name a nonlinearity, got " + value.dump());
  }
  const auto dot = text.rfind('.');
  std::string name = dot == std::string::npos ? text : text.substr(dot + 1);
  if (!is_known_nonlinearity(name))
    fail("model spec field '" + field_name + "'",
         "unknown nonlinearity '" + text + "' (known: " + known_nonlinearities() + ")");
  return name;
}

}  // namespace fovea::nn
