// Type name -> builder maps for cores and readouts.
#include "fovea/nn/registry.h"

#include <map>
#include <mutex>

#include "fovea/error.h"

namespace fovea::nn {

namespace {
std::map<std::string, CoreBuilder>& cores() {
  static std::map<std::string, CoreBuilder> m;
  return m;
}
std::map<std::string, ReadoutBuilder>& readouts() {
  static std::map<std::string, ReadoutBuilder> m;
  return m;
}
template <typename Map>
std::string known(const Map& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k;
  return s;
}
std::string type_of(const Json& spec, const std::string& what) {
  if (!spec.is_object() || !spec.contains("type") || !spec.at("type").is_string())
    fail("model spec '" + what + "'", "needs a string field 'type'");
  return spec.at("type").get<std::string>();
}
}  // namespace

void register_core(const std::string& type, CoreBuilder builder) { cores()[type] = std::move(builder); }
void register_readout(const std::string& type, ReadoutBuilder builder) { readouts()[type] = std::move(builder); }

std::shared_ptr<Core> make_core(const Json& spec, const std::vector<int64_t>& input_shape) {
  register_builtin_modules();
  const auto type = type_of(spec, "core");
  auto it = cores().find(type);
  if (it == cores().end()) fail("model spec 'core'", "unknown core type '" + type + "' (known: " + known(cores()) + ")");
  return it->second(spec, input_shape);
}

std::shared_ptr<Readout> make_readout(const Json& spec, const std::vector<int64_t>& core_output_shape) {
  register_builtin_modules();
  const auto type = type_of(spec, "readout");
  auto it = readouts().find(type);
  if (it == readouts().end())
    fail("model spec 'readout'", "unknown readout type '" + type + "' (known: " + known(readouts()) + ")");
  return it->second(spec, core_output_shape);
}

std::vector<std::string> core_types() {
  register_builtin_modules();
  std::vector<std::string> v;
  for (const auto& [k, b] : cores()) v.push_back(k);
  return v;
}

std::vector<std::string> readout_types() {
  register_builtin_modules();
  std::vector<std::string> v;
  for (const auto& [k, b] : readouts()) v.push_back(k);
  return v;
}

// Defined next to each family of built-in modules.
void register_v1_modules();
void register_retina_modules();
void register_retina_variant_modules();  // retina_variants_registration.cpp
void register_legacy_modules();          // legacy_core.cpp

void register_builtin_modules() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_v1_modules();
    register_retina_modules();
    register_retina_variant_modules();
    register_legacy_modules();
  });
}

}  // namespace fovea::nn
