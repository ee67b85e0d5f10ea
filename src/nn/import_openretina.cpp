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
    fail(origin, "unknown " + what + " _target_ '" + target + "' (fovea knows: " + names + ")");
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

}  // namespace

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
  io::PyRef hp_ref = root->get("hyper_parameters");
  if (!hp_ref) fail(origin, "not an openretina checkpoint: no 'hyper_parameters' entry");
  Json hp = py_to_json(io::omegaconf_to_plain(hp_ref));
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
