// A fovea V1 model as minimodel's state dict (torch.save of Encoder.state_dict()):
// the inverse of src/nn/import_minimodel.cpp.
#include <sstream>

#include "export_formats.h"
#include "fovea/error.h"

namespace fovea::api {

namespace {

std::string python_bool(bool b) { return b ? "True" : "False"; }

}  // namespace

ExportedCheckpoint minimodel_state_dict(const nn::Model& model, const std::string& origin) {
  const nn::Json& spec = model.spec();
  if (!spec.contains("core") || !spec.contains("readout")) fail(origin, "the model's spec has no core or readout");
  const nn::Json& core = spec["core"];
  const std::string core_type = core.value("type", ""), readout_type = spec["readout"].value("type", "");
  if (core_type != "minimodel_core" || readout_type != "rank1")
    fail(origin, "minimodel-pt needs minimodel's architecture (core minimodel_core, readout rank1); this model has "
                 "core " + (core_type.empty() ? "?" : core_type) + " and readout " +
                     (readout_type.empty() ? "?" : readout_type));
  if (core.value("in_channels", 1) != 1)
    fail(origin, "minimodel-pt: minimodel's build_model takes one input channel, this core has " +
                     std::to_string(core.value("in_channels", 1)));
  if (!spec["readout"].value("bias", true))
    fail(origin, "minimodel-pt: minimodel's readout always has a bias, this model's has none");
  const int64_t NN = model.readout()->n_neurons("");
  const bool out_1x1 = core.value("out_1x1", true);
  const int64_t n_layers = core.value("n_layers", 2);
  // build_model makes the minimodel core (ReLU, no final 1x1) exactly when NN == 1.
  if (n_layers >= 2 && (NN == 1) == out_1x1)
    fail(origin, std::string("minimodel-pt: minimodel's build_model gives ") +
                     (NN == 1 ? "a one-neuron model no final 1x1 convolution" : "models of several neurons a final 1x1 convolution") +
                     "; this model differs, so its state dict would not load");
  const std::vector<int64_t> in = model.input_shape();
  const auto kernels = core.value("kernel_size", std::vector<int64_t>{25, 9});

  std::ostringstream call;
  call << "build_model(NN=" << NN << ", input_Ly=" << in.at(1) << ", input_Lx=" << in.at(2)
       << ", n_layers=" << n_layers << ", n_conv=" << core.value("n_conv", 16)
       << ", n_conv_mid=" << core.value("n_conv_mid", 320) << ", pool=" << python_bool(core.value("pool", true))
       << ", depth_separable=" << python_bool(core.value("depth_separable", true))
       << ", avgpool=" << python_bool(core.value("avgpool", false)) << ", use_bn=" << python_bool(core.value("use_bn", true))
       << ", kernel_size=[";
  // build_model appends 5 for layers >= 2 itself.
  for (size_t i = 0; i < kernels.size() && i < 2; ++i) call << (i ? ", " : "") << kernels[i];
  call << "]";
  const std::string activation = core.value("activation", "elu");
  if (NN != 1) call << ", activation=" << (activation == "none" ? "None" : "'" + activation + "'");
  call << ")";

  ExportedCheckpoint out;
  out.root = state_dict_object(model);
  out.n_tensors = static_cast<int64_t>(model.state_dict().size());
  out.python_load = "model, _ = " + call.str() + "; model.load_state_dict(torch.load(PATH))";
  return out;
}

}  // namespace fovea::api
