#pragma once
// Ensembles (openretina's EnsembleModel, modules/layers/ensemble.py): the
// mean of several models' outputs. In fovea's core + readout model an
// ensemble is an "ensemble" core holding the member cores and an "ensemble"
// readout holding the member readouts, member i of one paired with member i
// of the other:
//   core.members.<i>.<member core keys>, readout.members.<i>.<member readout keys>
// The ensemble core's output keeps the members apart on an axis of their
// own, (B, M, C, T, H', W'); its per-sample output shape is (M, C, T, H', W').
// So the readout knows M when it is built and refuses a core with another
// member count, and an ensemble core paired with a plain readout (or the
// reverse) fails on the shape instead of mixing members silently.
#include <memory>
#include <string>
#include <vector>

#include "fovea/nn/model.h"

namespace fovea::nn {

class EnsembleCore : public Core {
 public:
  // At least one member; all must give the same output shape for the model's
  // input shape (`input_shape`, without the batch axis): fovea::Error otherwise.
  EnsembleCore(std::vector<std::shared_ptr<Core>> members, const std::vector<int64_t>& input_shape);

  // (B, ...) -> (B, M, C, T, H', W').
  at::Tensor forward(const at::Tensor& input) override;
  // The same, each member with its session's parameters.
  at::Tensor forward_session(const at::Tensor& input, const std::string& data_key) override;
  // The sum of the members' regularisers (each member keeps its own penalty).
  at::Tensor regularizer() override;
  // (M, member output shape...).
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape) override;

  int64_t n_members() const { return static_cast<int64_t>(members_.size()); }
  std::shared_ptr<Core> member(int64_t i) const { return members_.at(i); }

 private:
  std::vector<std::shared_ptr<Core>> members_;
};

class EnsembleReadout : public Readout {
 public:
  // The members must have the same sessions and neuron counts (fovea::Error
  // otherwise). `member_input_shape`, when given, is the shape each member
  // reads (the core's per-sample output without the member axis); forward
  // then refuses features of another rank.
  explicit EnsembleReadout(std::vector<std::shared_ptr<Readout>> members,
                           std::vector<int64_t> member_input_shape = {});

  // (B, M, ...) -> mean over i of member_i(x[:, i], data_key).
  at::Tensor forward(const at::Tensor& features, const std::string& data_key) override;
  // The sum of the members' regularisers.
  at::Tensor regularizer(const std::string& data_key) override;
  std::vector<std::string> sessions() const override { return members_.front()->sessions(); }
  int64_t n_neurons(const std::string& data_key) const override { return members_.front()->n_neurons(data_key); }

  int64_t n_members() const { return static_cast<int64_t>(members_.size()); }
  std::shared_ptr<Readout> member(int64_t i) const { return members_.at(i); }

 private:
  std::vector<std::shared_ptr<Readout>> members_;
  std::vector<int64_t> member_input_shape_;
};

}  // namespace fovea::nn
