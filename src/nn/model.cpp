// Model = core + readout, built from a spec through the registry.
#include "fovea/nn/model.h"

#include <torch/torch.h>

#include <set>
#include <sstream>

#include "fovea/error.h"
#include "fovea/nn/registry.h"

namespace fovea::nn {

at::Tensor Core::regularizer() { return torch::zeros({}); }

std::vector<int64_t> Core::output_shape(const std::vector<int64_t>& input_shape) {
  // Generic fallback: run one zero input through the core in eval mode.
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  auto out = forward(torch::zeros(shape));
  train(was_training);
  return std::vector<int64_t>(out.sizes().begin() + 1, out.sizes().end());
}

at::Tensor Core::forward_inner_layers(const at::Tensor&, const std::string&, int64_t) {
  fail("core", "this core has no inner layers to look inside");
}

at::Tensor Readout::regularizer(const std::string&) { return torch::zeros({}); }

Model::Model(std::shared_ptr<Core> core, std::shared_ptr<Readout> readout, Json spec)
    : core_(register_module("core", std::move(core))),
      readout_(register_module("readout", std::move(readout))),
      spec_(std::move(spec)) {}

at::Tensor Model::forward(const at::Tensor& input, const std::string& data_key) {
  return readout_->forward(core_->forward_session(input, data_key), data_key);
}

std::vector<int64_t> Model::input_shape() const {
  return spec_.at("input_shape").get<std::vector<int64_t>>();
}

std::vector<int64_t> Model::stimulus_shape(int64_t time_steps, int64_t num_batches) const {
  auto shape = input_shape();
  std::vector<int64_t> out{num_batches};
  if (shape.size() == 4) {  // (channels, time, height, width)
    if (time_steps < 1) fail("stimulus_shape", "time_steps must be at least 1");
    out.insert(out.end(), {shape[0], time_steps, shape[2], shape[3]});
  } else {
    out.insert(out.end(), shape.begin(), shape.end());
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Model::state_dict() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

namespace {
std::string shape_string(at::IntArrayRef s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  if (s.size() == 1) o << ",";
  o << ")";
  return o.str();
}
}  // namespace

void Model::load_state_dict(const std::vector<std::pair<std::string, at::Tensor>>& state,
                            const std::string& origin, bool allow_extra) {
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : this->state_dict()) {
    auto it = given.find(name);
    if (it == given.end()) fail(origin, "weight '" + name + "' is missing");
    if (!it->second.sizes().equals(tensor.sizes()))
      fail(origin, "weight '" + name + "' has shape " + shape_string(it->second.sizes()) + ", the model expects " +
                       shape_string(tensor.sizes()));
    tensor.copy_(it->second.to(tensor.dtype()));
    used.insert(name);
  }
  if (!allow_extra)
    for (const auto& [name, tensor] : given)
      if (!used.count(name)) fail(origin, "weight '" + name + "' does not belong to this model");
}

int64_t Model::n_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const auto& p : parameters(true))
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

std::shared_ptr<Model> build_model(const Json& spec) {
  register_builtin_modules();
  if (!spec.is_object() || !spec.contains("core") || !spec.contains("readout"))
    fail("model spec", "needs 'core' and 'readout' sections");
  if (!spec.contains("input_shape")) fail("model spec", "needs 'input_shape' (channels, height, width)");
  auto input_shape = spec.at("input_shape").get<std::vector<int64_t>>();
  auto core = make_core(spec.at("core"), input_shape);
  auto readout = make_readout(spec.at("readout"), core->output_shape(input_shape));
  return std::make_shared<Model>(core, readout, spec);
}

}  // namespace fovea::nn
