// A fovea retina model as an openretina Lightning checkpoint: the inverse of
// src/nn/import_openretina.cpp for UnifiedCoreReadout models
// (SimpleCoreWrapper core, MultiGaussianMaskReadout readout).
#include <map>

#include "export_formats.h"
#include "fovea/error.h"
#include "fovea/io/torch_save.h"

namespace fovea::api {

namespace {

constexpr const char* kCoreTarget = "openretina.modules.core.base_core.SimpleCoreWrapper";
constexpr const char* kReadoutTarget = "openretina.modules.readout.multi_readout.MultiGaussianMaskReadout";
// What the Lightning checkpoints of openretina's training record (its version).
constexpr const char* kLightningVersion = "2.5.0";

// SimpleCoreWrapper's constructor arguments, from the model's core spec.
nn::Json core_config(const nn::Json& core) {
  nn::Json c = {{"_target_", kCoreTarget}, {"_convert_", "object"}};
  for (const char* key : {"channels", "temporal_kernel_sizes", "spatial_kernel_sizes", "gamma_input", "gamma_temporal",
                          "gamma_in_sparse", "gamma_hidden", "cut_first_n_frames", "input_padding", "hidden_padding",
                          "convolution_type", "dropout_rate", "maxpool_every_n_layers",
                          "downsample_input_kernel_size", "color_squashing_weights"})
    if (core.contains(key)) c[key] = core[key];
  // fovea writes openretina's padding True as "same"; openretina takes the bool.
  for (const char* key : {"input_padding", "hidden_padding"})
    if (c.contains(key) && c[key].is_string() && c[key].get<std::string>() == "same") c[key] = true;
  if (core.contains("maxpool") && !c.contains("maxpool_every_n_layers")) c["maxpool_every_n_layers"] = core["maxpool"];
  return c;
}

// MultiGaussianMaskReadout's constructor arguments; in_shape is the core's
// output shape, so openretina does not run a forward pass to find it.
nn::Json readout_config(const nn::Json& readout, const std::vector<int64_t>& core_output) {
  nn::Json r = {{"_target_", kReadoutTarget}, {"_convert_", "object"}};
  for (const char* key : {"scale", "bias", "gaussian_mean_scale", "gaussian_var_scale", "positive", "mask_l1_reg",
                          "feature_weights_l1_reg", "readout_reg_avg"})
    if (readout.contains(key)) r[key] = readout[key];
  r["in_shape"] = core_output;
  return r;
}

}  // namespace

ExportedCheckpoint openretina_checkpoint(const nn::Model& model, const std::string& origin) {
  const nn::Json& spec = model.spec();
  if (!spec.contains("core") || !spec.contains("readout")) fail(origin, "the model's spec has no core or readout");
  const std::string core_type = spec["core"].value("type", ""), readout_type = spec["readout"].value("type", "");
  if (core_type != "simple_core_wrapper" || readout_type != "gaussian_mask")
    fail(origin, "openretina-ckpt needs openretina's core-readout model (core simple_core_wrapper, readout "
                 "gaussian_mask); this model has core " + (core_type.empty() ? "?" : core_type) + " and readout " +
                     (readout_type.empty() ? "?" : readout_type));
  if (spec["readout"].value("legacy_scale_name", false))
    fail(origin, "openretina-ckpt: the readout uses the legacy parameter name 'scale' of the Höfling ensemble, "
                 "which openretina's MultiGaussianMaskReadout does not load");
  const std::vector<int64_t> in_shape = model.input_shape();
  if (in_shape.size() != 4)
    fail(origin, "openretina-ckpt: the model's input_shape must be (channels, time, height, width)");
  // A const model is not changed: output_shape only reads the core's options.
  const std::vector<int64_t> core_output = model.core()->output_shape(in_shape);

  nn::Json n_neurons = nn::Json::object();
  for (const auto& key : model.readout_keys()) n_neurons[key] = model.readout()->n_neurons(key);

  // data_info: what openretina's models carry (input_shape (C, H, W) for
  // stimulus_shape, n_neurons_dict), plus the model's own data_info.
  nn::Json data_info = spec.value("data_info", nn::Json::object());
  if (!data_info.is_object()) data_info = nn::Json::object();
  data_info["n_neurons_dict"] = n_neurons;
  data_info["input_shape"] = {in_shape[0], in_shape[2], in_shape[3]};

  std::vector<io::PyRef> shape;
  for (auto s : in_shape) shape.push_back(io::py_int(s));
  const io::PyRef hyper_parameters = io::py_dict({
      {"in_shape", io::py_list(shape, /*tuple=*/true)},
      {"n_neurons_dict", json_to_py(n_neurons)},
      {"core", json_to_py(core_config(spec["core"]))},
      {"readout", json_to_py(readout_config(spec["readout"], core_output))},
      // None: channels are in the core config (setting them would need an OmegaConf object).
      {"hidden_channels", io::py_none()},
      {"learning_rate", io::py_float(0.01)},
      {"loss", io::py_none()},
      {"evaluation_loss", io::py_none()},
      {"data_info", json_to_py(data_info)},
      {"optimizer", io::py_none()},
      {"lr_scheduler", io::py_none()},
  });
  const auto state = model.state_dict();
  ExportedCheckpoint out;
  out.n_tensors = static_cast<int64_t>(state.size());
  out.root = io::py_dict({
      {"epoch", io::py_int(0)},
      {"global_step", io::py_int(0)},
      {"pytorch-lightning_version", io::py_str(kLightningVersion)},
      {"state_dict", state_dict_object(model)},
      {"loops", io::py_dict()},
      {"callbacks", io::py_dict()},
      {"optimizer_states", io::py_list({})},
      {"lr_schedulers", io::py_list({})},
      {"hparams_name", io::py_str("kwargs")},
      {"hyper_parameters", hyper_parameters},
  });
  out.python_load = "from openretina.models.core_readout import load_core_readout_model; "
                    "model = load_core_readout_model(PATH, 'cpu')";
  return out;
}

}  // namespace fovea::api
