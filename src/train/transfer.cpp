// Fine-tuning a pretrained retina model: openretina's load_model_path and
// only_train_readout (see transfer.h for the two deliberate differences).
#include "fovea/train/transfer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "config_fields.h"
#include "fovea/error.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/model_loader.h"

namespace fovea::train {

using Json = nlohmann::json;

std::optional<TransferOptions> transfer_options(const Json& config) {
  const std::string path = get<std::string>(section(config, "paths"), "load_model_path", "");
  const bool only_readout = get<bool>(config, "only_train_readout", false);
  if (path.empty()) {
    check(!only_readout, "config field 'only_train_readout'",
          "needs a pretrained model to keep the core of: set paths.load_model_path");
    return std::nullopt;
  }
  return TransferOptions{path, only_readout};
}

namespace {

// Keys that fovea fills in from the data: never a conflict.
bool from_data(const std::string& key) { return key == "n_neurons_dict" || key == "mean_activity_dict"; }

// The config's model section against the pretrained spec: a key given in
// both with different values is an error; a key the pretrained spec does not
// record cannot be checked (imported checkpoints record only what they set).
void check_no_conflict(const Json& given, const Json& pretrained, const std::string& path, const std::string& origin) {
  if (!given.is_object()) return;
  for (const auto& [key, value] : given.items()) {
    if (from_data(key) || value.is_null()) continue;
    if (!pretrained.is_object() || !pretrained.contains(key)) {
      spdlog::debug("{}: the pretrained model does not record {}{}; not checked", origin, path, key);
      continue;
    }
    const Json& theirs = pretrained.at(key);
    if (value.is_object() && theirs.is_object()) {
      check_no_conflict(value, theirs, path + key + ".", origin);
    } else if (value != theirs) {
      fail(origin, "the config sets " + path + key + " = " + value.dump() + ", the pretrained model has " +
                       theirs.dump() + " (its architecture is kept: remove the key or make it match)");
    }
  }
}

void check_model_section(const Json& model_section, const Json& pretrained, const std::string& origin) {
  if (!model_section.is_object()) return;
  for (const char* part : {"core", "readout"})
    if (model_section.contains(part)) check_no_conflict(model_section.at(part), pretrained.value(part, Json::object()),
                                                        std::string("model.") + part + ".", origin);
  // hidden_channels = the core's channels after the input's (openretina's UnifiedCoreReadout).
  if (model_section.contains("hidden_channels") && !model_section.at("hidden_channels").is_null() &&
      pretrained.contains("core") && pretrained.at("core").contains("channels")) {
    const Json& ch = pretrained.at("core").at("channels");
    Json hidden = Json::array();
    for (size_t i = 1; i < ch.size(); ++i) hidden.push_back(ch[i]);
    if (model_section.at("hidden_channels") != hidden)
      fail(origin, "the config sets model.hidden_channels = " + model_section.at("hidden_channels").dump() +
                       ", the pretrained model has " + hidden.dump() +
                       " (its architecture is kept: remove the key or make it match)");
  }
}

std::vector<double> as_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

std::shared_ptr<nn::Model> transfer_model(const nn::Model& pretrained, const std::string& origin,
                                          const Json& model_section, const Json& spec,
                                          const std::map<std::string, at::Tensor>& mean_responses) {
  const Json& ps = pretrained.spec();
  check(ps.value("family", "") == "retina", origin,
        "is a " + ps.value("family", std::string("unknown")) +
            " model; fine-tuning (paths.load_model_path) needs a retina core-readout model");
  check(ps.contains("readout") && ps.at("readout").contains("n_neurons_dict") &&
            ps.at("readout").at("n_neurons_dict").is_object(),
        origin, "has no per-session readouts (readout.n_neurons_dict) to add the new sessions to");
  check_model_section(model_section, ps, origin);

  // The input (channels, height, width) must be the data's, as openretina's
  // update_model_data_info asserts; the clip length is free.
  const std::vector<int64_t> theirs = pretrained.input_shape(), ours = spec.at("input_shape").get<std::vector<int64_t>>();
  const auto chw = [](const std::vector<int64_t>& s) {
    return std::vector<int64_t>{s.front(), s[s.size() - 2], s.back()};
  };
  check(theirs.size() >= 3 && chw(theirs) == chw(ours), origin,
        "takes input (channels, height, width) = " + Json(chw(theirs)).dump() + ", the new data has " +
            Json(chw(ours)).dump());

  Json merged = spec;
  merged["core"] = ps.at("core");
  merged["readout"] = ps.at("readout");
  merged["readout"].erase("mean_activity_dict");
  Json& n_neurons = merged["readout"]["n_neurons_dict"];
  Json mean_activity = Json::object();
  for (const auto& [key, mean] : mean_responses) {
    // openretina's add_sessions: "Found duplicate sessions in n_neurons_dict".
    check(!n_neurons.contains(key), origin,
          "already has a readout for session '" + key +
              "' (fine-tuning adds readouts for new sessions only; give the new data other session names)");
    n_neurons[key] = mean.numel();
    mean_activity[key] = as_vector(mean);
  }
  merged["provenance"]["pretrained"] = {{"load_model_path", origin},
                                        {"sessions", ps.at("readout").at("n_neurons_dict")},
                                        {"provenance", ps.value("provenance", Json::object())}};

  Json build_spec = merged;
  build_spec["readout"]["mean_activity_dict"] = mean_activity;
  std::shared_ptr<nn::Model> model;
  try {
    model = nn::build_model(build_spec);
  } catch (const Error& e) {
    fail(origin, std::string("cannot rebuild the pretrained model with the new sessions: ") + e.what());
  }
  model->spec() = merged;
  if (auto gm = std::dynamic_pointer_cast<nn::MultiGaussianMaskReadout>(model->readout()))
    for (const auto& [key, mean] : mean_responses) gm->session(key)->initialize_bias(mean);

  // Every pretrained tensor (core and old readouts) into the new model.
  std::map<std::string, at::Tensor> target;
  for (const auto& [name, t] : model->state_dict()) target[name] = t;
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : pretrained.state_dict()) {
    auto it = target.find(name);
    check(it != target.end() && it->second.sizes() == t.sizes(), origin,
          "tensor '" + name + "' does not fit the rebuilt model");
    it->second.copy_(t);
  }
  return model;
}

std::shared_ptr<nn::Model> transfer_model(const TransferOptions& options, const Json& model_section,
                                          const Json& spec, const std::map<std::string, at::Tensor>& mean_responses) {
  const std::string origin = "paths.load_model_path '" + options.load_model_path + "'";
  spdlog::info("fine-tuning {} ({})", options.load_model_path,
               options.only_train_readout ? "core frozen: only the readouts train" : "core and readouts train");
  auto pretrained = nn::load_any_model(options.load_model_path);
  return transfer_model(*pretrained, origin, model_section, spec, mean_responses);
}

void freeze_core(nn::Model& model) {
  for (auto& p : model.core()->parameters()) p.set_requires_grad(false);
}

}  // namespace fovea::train
