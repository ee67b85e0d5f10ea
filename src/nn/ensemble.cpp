// Ensembles of core + readout models: member cores side by side, member readouts averaged.
#include "fovea/nn/ensemble.h"

#include <torch/torch.h>

#include <sstream>

#include "fovea/error.h"

namespace fovea::nn {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ")";
  return o.str();
}

// Registers the members under "members" as a ModuleList, so their keys read members.<i>.<...>.
template <typename Member>
void register_members(torch::nn::Module& owner, const std::vector<std::shared_ptr<Member>>& members) {
  torch::nn::ModuleList list;
  for (const auto& m : members) list->push_back(m);
  owner.register_module("members", list);
}

}  // namespace

// ---- EnsembleCore ----

EnsembleCore::EnsembleCore(std::vector<std::shared_ptr<Core>> members, const std::vector<int64_t>& input_shape)
    : members_(std::move(members)) {
  check(!members_.empty(), "ensemble core", "needs at least one member");
  for (const auto& m : members_) check(m != nullptr, "ensemble core", "a member is null");
  register_members(*this, members_);
  (void)output_shape(input_shape);  // checks that the members agree
}

std::vector<int64_t> EnsembleCore::output_shape(const std::vector<int64_t>& input_shape) {
  std::vector<int64_t> first = members_[0]->output_shape(input_shape);
  for (size_t i = 1; i < members_.size(); ++i) {
    auto s = members_[i]->output_shape(input_shape);
    if (s != first)
      fail("ensemble core", "member " + std::to_string(i) + " gives output shape " + shape_text(s) + ", member 0 " +
                                shape_text(first) + "; the members must agree to be averaged");
  }
  first.insert(first.begin(), n_members());
  return first;
}

at::Tensor EnsembleCore::forward(const at::Tensor& input) { return forward_session(input, ""); }

at::Tensor EnsembleCore::forward_session(const at::Tensor& input, const std::string& data_key) {
  std::vector<at::Tensor> outputs;
  outputs.reserve(members_.size());
  for (const auto& m : members_) {
    outputs.push_back(m->forward_session(input, data_key));
    if (!outputs.back().sizes().equals(outputs.front().sizes()))
      fail("ensemble core", "member " + std::to_string(outputs.size() - 1) + " gives output shape " +
                                shape_text(outputs.back().sizes().vec()) + ", member 0 " +
                                shape_text(outputs.front().sizes().vec()));
  }
  return torch::stack(outputs, 1);
}

at::Tensor EnsembleCore::regularizer() {
  at::Tensor total = members_[0]->regularizer();
  for (size_t i = 1; i < members_.size(); ++i) total = total + members_[i]->regularizer();
  return total;
}

// ---- EnsembleReadout ----

EnsembleReadout::EnsembleReadout(std::vector<std::shared_ptr<Readout>> members, std::vector<int64_t> member_input_shape)
    : members_(std::move(members)), member_input_shape_(std::move(member_input_shape)) {
  check(!members_.empty(), "ensemble readout", "needs at least one member");
  for (const auto& m : members_) check(m != nullptr, "ensemble readout", "a member is null");
  const auto sessions = members_[0]->sessions();
  for (size_t i = 1; i < members_.size(); ++i) {
    if (members_[i]->sessions() != sessions)
      fail("ensemble readout", "member " + std::to_string(i) + " has other sessions than member 0");
    for (const auto& s : sessions)
      if (members_[i]->n_neurons(s) != members_[0]->n_neurons(s))
        fail("ensemble readout", "member " + std::to_string(i) + " has " + std::to_string(members_[i]->n_neurons(s)) +
                                     " neurons in session '" + s + "', member 0 has " +
                                     std::to_string(members_[0]->n_neurons(s)));
  }
  register_members(*this, members_);
}

at::Tensor EnsembleReadout::forward(const at::Tensor& features, const std::string& data_key) {
  const bool rank_ok = member_input_shape_.empty() ||
                       features.dim() == static_cast<int64_t>(member_input_shape_.size()) + 2;
  if (!rank_ok || features.dim() < 2 || features.size(1) != n_members())
    fail("ensemble readout", "expects the ensemble core's output (batch, " + std::to_string(n_members()) +
                                 " members, ...), got " + shape_text(features.sizes().vec()));
  std::vector<at::Tensor> outputs;
  outputs.reserve(members_.size());
  for (int64_t i = 0; i < n_members(); ++i) outputs.push_back(members_[i]->forward(features.select(1, i), data_key));
  return torch::stack(outputs, 0).mean(0);  // as openretina's EnsembleModel
}

at::Tensor EnsembleReadout::regularizer(const std::string& data_key) {
  at::Tensor total = members_[0]->regularizer(data_key);
  for (size_t i = 1; i < members_.size(); ++i) total = total + members_[i]->regularizer(data_key);
  return total;
}

}  // namespace fovea::nn
