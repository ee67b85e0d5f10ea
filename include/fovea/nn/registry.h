#pragma once
// Cores and readouts are chosen by type name from a spec. Built-in types
// register themselves at start-up; a user-defined core or readout registers
// the same way:
//   static fovea::nn::CoreRegistration reg("my_core", [](const Json& spec,
//       const std::vector<int64_t>& input_shape) { return std::make_shared<MyCore>(...); });
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::nn {

// Builds a core from its spec and the model's input shape (without batch).
using CoreBuilder = std::function<std::shared_ptr<Core>(const Json& spec, const std::vector<int64_t>& input_shape)>;
// Builds a readout from its spec and the core's output shape (without batch).
using ReadoutBuilder = std::function<std::shared_ptr<Readout>(const Json& spec, const std::vector<int64_t>& core_output_shape)>;

void register_core(const std::string& type, CoreBuilder builder);
void register_readout(const std::string& type, ReadoutBuilder builder);
std::shared_ptr<Core> make_core(const Json& spec, const std::vector<int64_t>& input_shape);
std::shared_ptr<Readout> make_readout(const Json& spec, const std::vector<int64_t>& core_output_shape);
std::vector<std::string> core_types();
std::vector<std::string> readout_types();

struct CoreRegistration {
  CoreRegistration(const std::string& type, CoreBuilder builder) { register_core(type, std::move(builder)); }
};
struct ReadoutRegistration {
  ReadoutRegistration(const std::string& type, ReadoutBuilder builder) { register_readout(type, std::move(builder)); }
};

// The built-in types live in a static library: this call (made by
// build_model) keeps their registration objects from being dropped by the linker.
void register_builtin_modules();

}  // namespace fovea::nn
