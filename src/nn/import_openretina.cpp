// Importing openretina training checkpoints (Lightning .ckpt): the model spec
// is rebuilt from `hyper_parameters` (the OmegaConf `core`/`readout` configs
// with their `_target_`, in_shape, n_neurons_dict, hidden_channels) and the
// weights come from `state_dict`.
#include <torch/torch.h>

#include <map>

#include "fovea/error.h"
#include "fovea/io/pickle.h"
#include "fovea/nn/import_openretina.h"

namespace fovea::nn {

namespace {

// openretina class paths -> fovea spec type names.
const std::map<std::string, std::string>& core_targets() {
  static const std::map<std::string, std::string> m = {
      {"openretina.modules.core.base_core.SimpleCoreWrapper", "simple_core_wrapper"},
      {"openretina.modules.core.base_core.DummyCore", "dummy_core"},
  };
  return m;
}
const std::map<std::string, std::string>& readout_targets() {
  static const std::map<std::string, std::string> m = {
      {"openretina.modules.readout.multi_readout.MultiGaussianMaskReadout", "gaussian_mask"},
      {"openretina.modules.readout.multi_readout.MultiFactorizedReadout", "factorized"},
      {"openretina.modules.readout.multi_readout.MultiKlindtReadoutWrapper", "klindt"},
      {"openretina.modules.readout.multi_readout.MultiSampledGaussianReadout", "point_gaussian"},
      {"openretina.modules.readout.multi_readout.MultiSampledGaussianReadoutWrapper", "point_gaussian"},
      {"openretina.modules.readout.multi_readout.MultipleLNPReadout", "lnp"},
  };
  return m;
}

std::string map_target(const Json& section, const std::map<std::string, std::string>& known,
                       const std::string& what, const std::string& origin) {
  if (!section.is_object() || !section.contains("_target_") || !section["_target_"].is_string())
    fail(origin, "hyper_parameters." + what + " has no _target_");
  const std::string target = section["_target_"].get<std::string>();
  auto it = known.find(target);
  if (it == known.end()) {
    std::string names;
    for (const auto& [k, v] : known) names += (names.empty() ? "" : ", ") + k;
    fail(origin, "hyper_parameters." + what + "._target_ names an unknown class '" + target + "' (fovea knows: " +
                     names + ")");
  }
  return it->second;
}

// openretina's ExampleCoreReadout (the legacy CoreReadout): its flat
// arguments rewritten as the core and readout configs of UnifiedCoreReadout,
// with ExampleCoreReadout's defaults for absent arguments. openretina passes
// readout_gamma to the mask L1 term and readout_gamma_masks to the feature L1
// term, the reverse of what the names (and the model's history) say; fovea
// maps readout_gamma to the feature weights and readout_gamma_masks to the
// masks. The regularisers only act in training: outputs are unaffected.
Json legacy_example_core_readout_hparams(const Json& hp, const std::string& origin) {
  auto value = [&](const char* key, const Json& fallback) {
    return hp.contains(key) && !hp[key].is_null() ? hp[key] : fallback;
  };
  if (!hp.contains("hidden_channels")) fail(origin, "legacy hyper_parameters have no 'hidden_channels'");
  Json out = hp;
  out["core"] = {{"_target_", "openretina.modules.core.base_core.SimpleCoreWrapper"},
                 {"temporal_kernel_sizes", hp["temporal_kernel_sizes"]},
                 {"spatial_kernel_sizes", hp["spatial_kernel_sizes"]},
                 {"gamma_input", value("core_gamma_input", 0.0)},
                 {"gamma_hidden", value("core_gamma_hidden", 0.0)},
                 {"gamma_in_sparse", value("core_gamma_in_sparse", 0.0)},
                 {"gamma_temporal", value("core_gamma_temporal", 40.0)},
                 {"input_padding", value("core_input_padding", false)},
                 {"hidden_padding", value("core_hidden_padding", true)},
                 {"cut_first_n_frames", value("cut_first_n_frames_in_core", 30)},
                 {"dropout_rate", value("dropout_rate", 0.0)},
                 {"maxpool_every_n_layers", value("maxpool_every_n_layers", nullptr)},
                 {"downsample_input_kernel_size", value("downsample_input_kernel_size", nullptr)},
                 {"convolution_type", value("convolution_type", "custom_separable")}};
  if (hp.contains("color_squashing_weights") && !hp["color_squashing_weights"].is_null())
    out["core"]["color_squashing_weights"] = hp["color_squashing_weights"];
  out["readout"] = {{"_target_", "openretina.modules.readout.multi_readout.MultiGaussianMaskReadout"},
                    {"scale", value("readout_scale", true)},
                    {"bias", value("readout_bias", true)},
                    {"gaussian_mean_scale", value("readout_gaussian_mean_scale", 6.0)},
                    {"gaussian_var_scale", value("readout_gaussian_var_scale", 4.0)},
                    {"positive", value("readout_positive", true)},
                    {"feature_weights_l1_reg", value("readout_gamma", 0.4)},
                    {"mask_l1_reg", value("readout_gamma_masks", 0.0)}};
  return out;
}

// ---- openretina's whole-model LNP checkpoints (models/linear_nonlinear.py) ----
// MultipleLNP (DummyCore + MultipleLNPReadout) and SingleCellSeparatedLNP are
// LightningModules of their own, with flat constructor arguments instead of
// core/readout configs; Lightning does not record the class, so they are
// recognised by those arguments and by their state-dict keys.

using Shapes = std::map<std::string, std::vector<int64_t>>;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The tensor shapes of a checkpoint's state_dict (empty without one).
Shapes state_dict_shapes(const io::PyRef& root) {
  Shapes shapes;
  io::PyRef sd = root ? root->get("state_dict") : nullptr;
  if (!sd || !sd->is_dict()) return shapes;
  for (const auto& [k, v] : sd->entries)
    if (k && k->kind == io::PyValue::Kind::String && v && v->kind == io::PyValue::Kind::Tensor)
      shapes[k->text] = v->tensor.sizes().vec();
  return shapes;
}

// A Hydra config section (UnifiedCoreReadout); MultipleLNP's hyper_parameters
// hold the DummyCore and readout modules themselves (plain objects here), or nothing.
bool is_config(const Json& hp, const char* key) {
  return hp.contains(key) && hp[key].is_object() && hp[key].contains("_target_");
}

// MultipleLNP: readout.<session>.inner_product_kernel.weight, no core weights.
bool has_multiple_lnp_weights(const Shapes& shapes) {
  bool kernel = false;
  for (const auto& [key, shape] : shapes) {
    if (key.rfind("core.", 0) == 0) return false;
    kernel = kernel || (key.rfind("readout.", 0) == 0 && ends_with(key, ".inner_product_kernel.weight"));
  }
  return kernel;
}

// SingleCellSeparatedLNP: space_conv (rank, C, 1, h, w) and time_conv (1, rank, T, 1, 1), unprefixed.
bool has_single_cell_lnp_weights(const Shapes& shapes) {
  auto space = shapes.find("space_conv.weight"), time = shapes.find("time_conv.weight");
  return space != shapes.end() && time != shapes.end() && space->second.size() == 5 && time->second.size() == 5;
}

Json provenance(const std::string& origin, const std::string& model_class) {
  return {{"imported_from", origin}, {"openretina_class", model_class}};
}

Json multiple_lnp_spec(const Json& hp, const std::string& origin) {
  for (const char* key : {"in_shape", "n_neurons_dict"})
    if (!hp.contains(key) || hp[key].is_null())
      fail(origin, std::string("MultipleLNP hyper_parameters have no '") + key + "'");
  const auto in_shape = hp["in_shape"].get<std::vector<int64_t>>();
  if (in_shape.size() != 4) fail(origin, "hyper_parameters.in_shape must be (channels, time, height, width)");
  // openretina's LNP: one (1, H, W) kernel per neuron, no bias; the other
  // keyword arguments reach every session's LNP readout.
  Json readout = {{"type", "lnp"}, {"n_neurons_dict", hp["n_neurons_dict"]}, {"bias", false}};
  for (const char* key : {"smooth_weight", "sparse_weight", "smooth_regularizer", "laplace_padding", "nonlinearity"})
    if (hp.contains(key)) readout[key] = hp[key];
  Json spec = {{"family", "retina"},
               {"core", {{"type", "dummy_core"}}},
               {"readout", readout},
               {"input_shape", in_shape},
               {"provenance", provenance(origin, "openretina.models.linear_nonlinear.MultipleLNP")}};
  if (hp.contains("data_info") && hp["data_info"].is_object() && !hp["data_info"].empty()) {
    Json info = hp["data_info"];
    info.erase("mean_activity_dict");
    info.erase("sessions_kwargs");
    spec["data_info"] = info;
  }
  return spec;
}

// `hp` may be empty: SingleCellSeparatedLNP does not call save_hyperparameters,
// so its checkpoints usually hold none. The weights then give the channels,
// rank, kernel sizes and frames; the input is the kernel-sized patch, which is
// what the model's forward receives (openretina crops in its training step).
Json single_cell_lnp_spec(const Json& hp, const Shapes& shapes, const std::string& origin) {
  const auto& space = shapes.at("space_conv.weight");  // (rank, C, 1, h, w)
  const auto& time = shapes.at("time_conv.weight");    // (1, rank, T, 1, 1)
  Json readout = {{"type", "single_cell_separated_lnp"}};
  for (const char* key : {"rf_location", "spat_kernel_size", "rank", "smooth_weight_spat", "smooth_weight_temp",
                          "sparse_weight", "smooth_regularizer_spat", "smooth_regularizer_temp", "laplace_padding",
                          "nonlinearity", "normalize_weights", "fit_gaussian"})
    if (hp.contains(key)) readout[key] = hp[key];
  if (!readout.contains("spat_kernel_size")) readout["spat_kernel_size"] = {space[3], space[4]};
  if (!readout.contains("rank")) readout["rank"] = space[0];
  // ParametrizedSoftplus is the one nonlinearity with weights (nonlinearity.b, .w).
  const bool softplus_weights = shapes.count("nonlinearity.b") && shapes.count("nonlinearity.w");
  if (!readout.contains("nonlinearity") || readout["nonlinearity"].is_null()) {
    if (!softplus_weights)
      fail(origin, "a SingleCellSeparatedLNP checkpoint without hyper_parameters does not record its nonlinearity "
                   "(only parametrized_softplus leaves weights in the state_dict)");
    readout["nonlinearity"] = "parametrized_softplus";
  }
  std::vector<int64_t> in_shape = {space[1], time[2], space[3], space[4]};
  if (hp.contains("in_shape") && !hp["in_shape"].is_null()) {
    in_shape = hp["in_shape"].get<std::vector<int64_t>>();
    if (in_shape.size() != 4) fail(origin, "hyper_parameters.in_shape must be (channels, time, height, width)");
  }
  readout["in_shape"] = in_shape;
  return {{"family", "retina"},
          {"core", {{"type", "dummy_core"}}},
          {"readout", readout},
          {"input_shape", in_shape},
          {"provenance", provenance(origin, "openretina.models.linear_nonlinear.SingleCellSeparatedLNP")}};
}

}  // namespace

bool is_openretina_checkpoint(const io::PyRef& root) {
  if (!root || !root->is_dict()) return false;
  return root->get("hyper_parameters") || has_single_cell_lnp_weights(state_dict_shapes(root));
}

Json py_to_json(const io::PyRef& value) {
  using Kind = io::PyValue::Kind;
  if (!value) return nullptr;
  switch (value->kind) {
    case Kind::None: return nullptr;
    case Kind::Bool: return value->boolean;
    case Kind::Int: return value->integer;
    case Kind::Float: return value->number;
    case Kind::String: return value->text;
    case Kind::Bytes: return value->text;
    case Kind::List:
    case Kind::Tuple: {
      Json a = Json::array();
      for (const auto& item : value->items) a.push_back(py_to_json(item));
      return a;
    }
    case Kind::Dict: {
      Json o = Json::object();
      for (const auto& [k, v] : value->entries) {
        const std::string key = k && k->kind == Kind::String ? k->text : (k ? k->repr() : "None");
        o[key] = py_to_json(v);
      }
      return o;
    }
    case Kind::Tensor: {
      // Small tensors (statistics, ids) become nested lists of numbers.
      at::Tensor t = value->tensor.to(torch::kFloat64).contiguous();
      if (t.dim() == 0) return t.item<double>();
      std::vector<double> flat(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
      if (t.dim() == 1) return flat;
      return Json{{"shape", t.sizes().vec()}, {"data", flat}};
    }
    case Kind::Object: return Json{{"__class__", value->class_name}};
  }
  return nullptr;
}

Json openretina_spec_from_checkpoint(const io::PyRef& root, const std::string& origin) {
  if (!root || !root->is_dict()) fail(origin, "not an openretina checkpoint (the top level is not a dict)");
  const Shapes shapes = state_dict_shapes(root);
  io::PyRef hp_ref = root->get("hyper_parameters");
  if (!hp_ref && has_single_cell_lnp_weights(shapes)) return single_cell_lnp_spec(Json::object(), shapes, origin);
  if (!hp_ref) fail(origin, "not an openretina checkpoint: no 'hyper_parameters' entry");
  Json hp = py_to_json(io::omegaconf_to_plain(hp_ref));
  if (!hp.is_object()) fail(origin, "hyper_parameters is not a dict");
  // The whole-model LNPs: no core/readout configs, flat arguments.
  if (!is_config(hp, "core") && !is_config(hp, "readout")) {
    if (has_single_cell_lnp_weights(shapes)) return single_cell_lnp_spec(hp, shapes, origin);
    if (hp.contains("in_shape") && hp.contains("n_neurons_dict") && has_multiple_lnp_weights(shapes))
      return multiple_lnp_spec(hp, origin);
  }
  // Checkpoints of the legacy ExampleCoreReadout hold flat keyword arguments
  // (hidden_channels, core_gamma_*, readout_*) instead of core/readout configs.
  if (!hp.contains("core") && hp.contains("temporal_kernel_sizes") && hp.contains("spatial_kernel_sizes"))
    hp = legacy_example_core_readout_hparams(hp, origin);
  for (const char* key : {"core", "readout", "in_shape", "n_neurons_dict"})
    if (!hp.contains(key) || hp[key].is_null()) fail(origin, std::string("hyper_parameters has no '") + key + "'");

  Json core = hp["core"];
  core["type"] = map_target(core, core_targets(), "core", origin);
  core.erase("_target_");
  const auto in_shape = hp["in_shape"].get<std::vector<int64_t>>();
  if (in_shape.size() != 4) fail(origin, "hyper_parameters.in_shape must be (channels, time, height, width)");
  // UnifiedCoreReadout: channels = (input channels, *hidden_channels).
  if (hp.contains("hidden_channels") && hp["hidden_channels"].is_array()) {
    Json channels = Json::array({in_shape[0]});
    for (const auto& c : hp["hidden_channels"]) channels.push_back(c);
    core["channels"] = channels;
  }
  Json readout = hp["readout"];
  readout["type"] = map_target(readout, readout_targets(), "readout", origin);
  readout.erase("_target_");
  readout["n_neurons_dict"] = hp["n_neurons_dict"];
  if (hp.contains("data_info") && hp["data_info"].contains("mean_activity_dict"))
    readout["mean_activity_dict"] = hp["data_info"]["mean_activity_dict"];

  Json spec = {{"family", "retina"}, {"core", core}, {"readout", readout}, {"input_shape", in_shape},
               {"provenance", {{"imported_from", origin}}}};
  if (hp.contains("data_info")) {
    Json info = hp["data_info"];
    info.erase("mean_activity_dict");
    info.erase("sessions_kwargs");
    spec["data_info"] = info;
  }
  return spec;
}

}  // namespace fovea::nn
