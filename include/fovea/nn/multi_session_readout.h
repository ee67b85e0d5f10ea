#pragma once
// openretina's MultiReadoutBase (modules/readout/multi_readout.py) for any
// per-session readout type: one readout per session, registered under the
// session name, so the keys read readout.<session>.<parameter>. A data_key
// selects one session; "" gives all sessions concatenated along the neuron
// axis in sorted session order, as openretina does for data_key=None.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fovea/error.h"
#include "fovea/nn/model.h"

namespace fovea::nn {

template <typename SessionReadout>
class MultiSessionReadout : public Readout {
 public:
  // (B, C, T, H', W') -> (B, T, N_session), or all sessions for "".
  at::Tensor forward(const at::Tensor& x, const std::string& data_key) override {
    if (!data_key.empty()) return session(data_key)->forward(x, "");
    std::vector<at::Tensor> outputs;
    for (const auto& [key, readout] : readouts_) outputs.push_back(readout->forward(x, ""));  // sorted keys
    return at::cat(outputs, -1);
  }

  // The session's regulariser; "" sums over all sessions.
  at::Tensor regularizer(const std::string& data_key) override {
    if (!data_key.empty()) return session(data_key)->regularizer("");
    at::Tensor total;
    for (const auto& [key, readout] : readouts_) {
      at::Tensor r = readout->regularizer("");
      total = total.defined() ? total + r : r;
    }
    return total;
  }

  std::vector<std::string> sessions() const override {
    std::vector<std::string> keys;
    for (const auto& [key, _] : readouts_) keys.push_back(key);
    return keys;
  }

  // The session's neuron count; "" the total over all sessions.
  int64_t n_neurons(const std::string& data_key) const override {
    if (!data_key.empty()) return session(data_key)->n_neurons("");
    int64_t total = 0;
    for (const auto& [key, readout] : readouts_) total += readout->n_neurons("");
    return total;
  }

  // The readout of one session; fovea::Error naming the known sessions otherwise.
  std::shared_ptr<SessionReadout> session(const std::string& data_key) const {
    auto it = readouts_.find(data_key);
    if (it == readouts_.end()) {
      std::string known;
      for (const auto& [key, _] : readouts_) known += (known.empty() ? "" : ", ") + key;
      fail("readout", "unknown session (data_key) '" + data_key + "'; the known sessions are: " + known);
    }
    return it->second;
  }

 protected:
  // Checks the session dictionaries the derived constructor receives; `where` names the class.
  static void check_sessions(const std::map<std::string, int64_t>& n_neurons_dict,
                             const std::map<std::string, at::Tensor>& mean_activity_dict, const std::string& where) {
    check(!n_neurons_dict.empty(), where, "n_neurons_dict has no sessions");
    for (const auto& [key, n] : n_neurons_dict) {
      // The session name becomes a state-dict key component: it cannot be
      // empty ("" means all sessions) nor contain the key separator.
      check(!key.empty() && key.find('.') == std::string::npos, where,
            "session name '" + key + "' must be non-empty and contain no '.'");
      check(n > 0, where, "session '" + key + "' has " + std::to_string(n) + " neurons; it needs at least 1");
    }
    for (const auto& [key, _] : mean_activity_dict)
      check(n_neurons_dict.count(key) != 0, where,
            "mean_activity_dict has session '" + key + "', which n_neurons_dict lacks");
  }
  static at::Tensor mean_activity_of(const std::map<std::string, at::Tensor>& mean_activity_dict,
                                     const std::string& key) {
    auto it = mean_activity_dict.find(key);
    return it == mean_activity_dict.end() ? at::Tensor() : it->second;
  }
  void add_session(const std::string& key, std::shared_ptr<SessionReadout> readout) {
    readouts_[key] = register_module(key, std::move(readout));
  }

 private:
  std::map<std::string, std::shared_ptr<SessionReadout>> readouts_;  // sorted by session name
};

}  // namespace fovea::nn
