#pragma once
// A predictive model = a core shared by all neurons + a readout per session,
// built from a JSON spec ({"core": {"type": ...}, "readout": {"type": ...}}).
// Submodules are registered under the reference names ("core", "readout",
// "core.features.layer0.conv", "readout.Wc", ...), so named_parameters() and
// named_buffers() equal the keys of the equivalent PyTorch state dict.
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fovea::nn {

using Json = nlohmann::json;

// The feature extractor shared by all neurons.
class Core : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& input) = 0;
  // The forward pass for one session (`data_key`). Cores with per-session
  // parameters (the legacy Höfling core's log speeds) override it; the others
  // share everything across sessions and ignore the key.
  virtual at::Tensor forward_session(const at::Tensor& input, const std::string& data_key) { return forward(input); }
  // The regularisation term of the core (0 for cores without one).
  virtual at::Tensor regularizer();
  // Output shape (channels, [time,] height, width) for an input shape without the batch axis.
  virtual std::vector<int64_t> output_shape(const std::vector<int64_t>& input_shape);
  // The layers an analysis can look inside ("features.layer<i>": inner
  // neurons' MEIs, visualize's channel MEIs); 0 for cores without such layers.
  virtual int64_t inner_layer_count() const { return 0; }
  // The output channels of inner layer i.
  virtual int64_t inner_layer_channels(int64_t /*index*/) const { return 0; }
  // The output of inner layers 0..n-1 for a stimulus batch (as openretina's
  // forward hook on features.layer<n-1> sees it).
  virtual at::Tensor forward_inner_layers(const at::Tensor& input, const std::string& data_key, int64_t n);
};

// Maps core features to neuron responses; one per session (`data_key`).
class Readout : public torch::nn::Module {
 public:
  // `data_key` selects the session; "" means the readout's only or all sessions.
  virtual at::Tensor forward(const at::Tensor& features, const std::string& data_key) = 0;
  virtual at::Tensor regularizer(const std::string& data_key);
  // Session names in sorted order ({""} for single-session readouts).
  virtual std::vector<std::string> sessions() const { return {""}; }
  virtual int64_t n_neurons(const std::string& data_key) const = 0;
};

class Model : public torch::nn::Module {
 public:
  Model(std::shared_ptr<Core> core, std::shared_ptr<Readout> readout, Json spec);

  at::Tensor forward(const at::Tensor& input, const std::string& data_key = "");
  std::shared_ptr<Core> core() const { return core_; }
  std::shared_ptr<Readout> readout() const { return readout_; }
  // The spec this model was built from: core, readout, input_shape, ...
  const Json& spec() const { return spec_; }
  Json& spec() { return spec_; }
  // Input shape without the batch axis, e.g. {1, 66, 130}.
  std::vector<int64_t> input_shape() const;
  std::vector<std::string> readout_keys() const { return readout_->sessions(); }
  // The shape of a stimulus batch, as openretina's stimulus_shape(time_steps,
  // num_batches): (batch, channels, time_steps, height, width) for movie
  // models; image models ignore time_steps: (batch, channels, height, width).
  std::vector<int64_t> stimulus_shape(int64_t time_steps, int64_t num_batches = 1) const;

  // name -> tensor for every parameter and buffer (the state dict).
  std::vector<std::pair<std::string, at::Tensor>> state_dict() const;
  // Copies matching tensors in. Every model tensor must be present with the
  // same shape; `origin` names the source in errors. Extra entries are errors
  // unless `allow_extra`.
  void load_state_dict(const std::vector<std::pair<std::string, at::Tensor>>& state,
                       const std::string& origin, bool allow_extra = false);
  int64_t n_parameters(bool trainable_only = false) const;

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Readout> readout_;
  Json spec_;
};

// Builds a model from its spec through the registry (see registry.h).
// The spec must hold "core", "readout" and "input_shape"; readout parameters
// that depend on the core's output shape are filled in from it.
std::shared_ptr<Model> build_model(const Json& spec);

}  // namespace fovea::nn
