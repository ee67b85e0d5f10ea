// The Höfling 2024 ensemble: its files, its legacy members, the mean model,
// Center, and the download from GIN.
#include "fovea/nn/hoefling_ensemble.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/pickle.h"
#include "fovea/io/yaml.h"
#include "fovea/nn/legacy_core.h"

namespace fovea::nn {

namespace {

namespace fs = std::filesystem;

constexpr const char* kGinDefault = "https://gin.g-node.org";
constexpr const char* kGinModelPath = "eulerlab/rgc-natstim/raw/master/models/nonlinear";
constexpr const char* kLegacyModelFn = "SFB3d_core_SxF3d_readout";

// The parameters of openretina's legacy SFB3d_core_SxF3d_readout (besides
// dataloaders, seed and data_info, which the loader passes itself). A
// model_config key outside this list makes the reference raise TypeError.
const std::set<std::string>& legacy_parameters() {
  static const std::set<std::string> names = {
      "layers", "hidden_channels", "temporal_kernel_size", "spatial_kernel_size", "input_padding",
      "hidden_padding", "core_bias", "batch_norm", "batch_norm_scale", "momentum", "final_nonlinearity",
      "nonlinearity", "conv_type", "stack", "batch_adaptation", "gamma_readout", "gamma_masks", "gamma_input",
      "gamma_in_sparse", "gamma_hidden", "gamma_temporal", "gaussian_masks", "gaussian_mean_scale",
      "gaussian_var_scale", "readout_positive", "readout_scale", "readout_bias", "initialize_from_roi_masks",
      "readout_reg_avg", "use_avg_reg", "laplace_padding"};
  return names;
}

// model_fn "repo.x.y.Type": the reference maps nnfabrik_euler to its legacy
// module and keeps openretina; it knows one legacy type.
void check_model_fn(const Json& config, const std::string& origin) {
  if (!config.is_object() || !config.contains("model_fn")) fail(origin, "has no 'model_fn'");
  if (!config.at("model_fn").is_string()) fail(origin, "'model_fn' is not a string");
  const std::string fn = config.at("model_fn").get<std::string>();
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = fn.find('.', start)) != std::string::npos; start = dot + 1) parts.push_back(fn.substr(start, dot - start));
  parts.push_back(fn.substr(start));
  if (parts.size() != 4) fail(origin, "'model_fn' " + fn + " is not of the form repo.module.module.Type");
  if (parts[0] != "nnfabrik_euler" && parts[0] != "openretina")
    fail(origin, "'model_fn' " + fn + " comes from an unknown repository '" + parts[0] +
                     "' (expected nnfabrik_euler or openretina)");
  if (parts[3] != kLegacyModelFn)
    fail(origin, "unknown 'model_fn' " + fn + " (fovea knows " + std::string(kLegacyModelFn) + ")");
}

const Json& model_config(const Json& config, const std::string& origin) {
  if (!config.contains("model_config") || !config.at("model_config").is_object())
    fail(origin, "has no 'model_config' mapping");
  const Json& mc = config.at("model_config");
  for (const auto& [key, value] : mc.items())
    if (!legacy_parameters().count(key))
      fail(origin, "'model_config' has '" + key + "', which is not a parameter of " + kLegacyModelFn);
  return mc;
}

template <typename T>
T config_value(const Json& mc, const std::string& key, const T& fallback, const std::string& origin) {
  if (!mc.contains(key) || mc.at(key).is_null()) return fallback;
  try {
    return mc.at(key).get<T>();
  } catch (const Json::exception&) {
    fail(origin, "'model_config." + key + "' has the wrong type: " + mc.at(key).dump());
  }
}

// One session's entry of data_info.
struct SessionInfo {
  std::string name;
  int64_t neurons = 0;
  int64_t channels = 0;
  std::vector<int64_t> input_shape;  // (C, T, H, W): input_dimensions without the batch
};

std::vector<int64_t> int_sequence(const io::PyRef& v) {
  io::PyRef seq = v;
  // torch.Size(tuple) pickles as the class applied to a tuple.
  if (seq && seq->kind == io::PyValue::Kind::Object && seq->class_name == "torch.Size" && seq->args.size() == 1)
    seq = seq->args[0];
  if (!seq || (seq->kind != io::PyValue::Kind::Tuple && seq->kind != io::PyValue::Kind::List)) return {};
  std::vector<int64_t> out;
  for (const auto& item : seq->items) {
    if (!item || item->kind != io::PyValue::Kind::Int) return {};
    out.push_back(item->integer);
  }
  return out;
}

std::vector<SessionInfo> read_data_info(const std::string& path) {
  const io::PyRef root = io::parse_pickle(io::read_file(path), path);
  if (!root || !root->is_dict()) fail(path, "expected a dict of sessions, found " + (root ? root->repr().substr(0, 60) : "nothing"));
  std::vector<SessionInfo> sessions;
  for (const auto& [key, info] : root->entries) {
    if (!key || key->kind != io::PyValue::Kind::String) fail(path, "a session key is not a str");
    SessionInfo s;
    s.name = key->text;
    const std::string where = "session '" + s.name + "'";
    if (!info || !info->is_dict()) fail(path, where + " is not a dict");
    const auto need_int = [&](const char* field) {
      const io::PyRef v = info->get(field);
      if (!v) fail(path, where + " has no '" + field + "'");
      if (v->kind != io::PyValue::Kind::Int) fail(path, where + ": '" + field + "' is not an int");
      return v->integer;
    };
    s.neurons = need_int("output_dimension");
    s.channels = need_int("input_channels");
    if (s.neurons < 1) fail(path, where + ": 'output_dimension' must be positive");
    const io::PyRef dims = info->get("input_dimensions");
    if (!dims) fail(path, where + " has no 'input_dimensions'");
    const auto d = int_sequence(dims);
    if (d.size() != 5 || std::any_of(d.begin(), d.end(), [](int64_t x) { return x < 1; }))
      fail(path, where + ": 'input_dimensions' must be 5 positive ints (batch, channels, time, height, width)");
    s.input_shape.assign(d.begin() + 1, d.end());
    if (s.input_shape[0] != s.channels)
      fail(path, where + ": 'input_channels' is " + std::to_string(s.channels) + ", 'input_dimensions' has " +
                     std::to_string(s.input_shape[0]));
    sessions.push_back(std::move(s));
  }
  if (sessions.empty()) fail(path, "has no sessions");
  for (const auto& s : sessions)
    if (s.channels != sessions.front().channels)
      fail(path, "sessions have different input channel counts (" + sessions.front().name + ": " +
                     std::to_string(sessions.front().channels) + ", " + s.name + ": " + std::to_string(s.channels) + ")");
  return sessions;
}

std::string member_file(const std::string& dir, const std::string& stem, const std::string& id, const std::string& ext) {
  return (fs::path(dir) / (stem + id + ext)).string();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const std::vector<std::string>& hoefling_ensemble_ids() {
  static const std::vector<std::string> ids = {"00000", "01000", "02000", "03000", "04000"};
  return ids;
}

Json legacy_member_spec(const Json& config, const std::string& config_origin, const std::string& data_info_path) {
  check_model_fn(config, config_origin);
  const Json& mc = model_config(config, config_origin);
  const auto sessions = read_data_info(data_info_path);
  const std::string& o = config_origin;
  if (!config_value<bool>(mc, "gaussian_masks", false, o))
    fail(o, "'model_config.gaussian_masks' is false: only the Gaussian-mask readout of the published models is supported");

  // The core's parameters have the same names and defaults in the options
  // (ParametricFactorizedCoreOptions), which parse and check them.
  Json core_spec = {{"type", "parametric_factorized_batch_conv3d"}, {"input_channels", sessions.front().channels}};
  for (const char* key : {"layers", "hidden_channels", "temporal_kernel_size", "spatial_kernel_size", "input_padding",
                          "hidden_padding", "core_bias", "batch_norm", "batch_norm_scale", "momentum",
                          "final_nonlinearity", "nonlinearity", "conv_type", "stack", "gamma_input", "gamma_temporal",
                          "gamma_in_sparse", "gamma_hidden"})
    if (mc.contains(key)) core_spec[key] = mc.at(key);
  // batch_adaptation: one log speed per session (the published models), or none.
  if (config_value<bool>(mc, "batch_adaptation", true, o)) {
    core_spec["sessions"] = Json::array();
    for (const auto& s : sessions) core_spec["sessions"].push_back(s.name);
  }
  core_spec = ParametricFactorizedCoreOptions::from_json(core_spec).to_json();

  Json n_neurons = Json::object();
  for (const auto& s : sessions) n_neurons[s.name] = s.neurons;
  const Json readout = {{"type", "spatial_x_feature_3d"},
                        {"n_neurons_dict", n_neurons},
                        {"gaussian_mean_scale", config_value<double>(mc, "gaussian_mean_scale", 1.0, o)},
                        {"gaussian_var_scale", config_value<double>(mc, "gaussian_var_scale", 1.0, o)},
                        {"positive", config_value<bool>(mc, "readout_positive", false, o)},
                        {"scale", config_value<bool>(mc, "readout_scale", false, o)},
                        {"bias", config_value<bool>(mc, "readout_bias", true, o)},
                        {"mask_l1_reg", config_value<double>(mc, "gamma_masks", 0.0, o)},
                        {"feature_weights_l1_reg", config_value<double>(mc, "gamma_readout", 0.1, o)}};
  // Every session must describe the same stimulus.
  for (const auto& s : sessions)
    if (s.input_shape != sessions.front().input_shape)
      fail(data_info_path, "sessions '" + sessions.front().name + "' and '" + s.name + "' have different input_dimensions");
  return Json{{"family", "retina"},
              {"core", core_spec},
              {"readout", readout},
              {"input_shape", sessions.front().input_shape},
              {"provenance", {{"imported_from", config_origin}, {"model_fn", config.at("model_fn")}}}};
}

std::shared_ptr<Model> load_legacy_member(const std::string& dir, const std::string& id) {
  const std::string config_path = member_file(dir, "config_", id, ".yaml");
  const std::string info_path = member_file(dir, "data_info_", id, ".pkl");
  const std::string state_path = member_file(dir, "state_dict_", id, ".pth.tar");
  for (const auto& p : {config_path, info_path, state_path})
    if (!fs::is_regular_file(p)) fail(p, "no such file (each ensemble member needs its config, data_info and state_dict)");
  const Json config = io::parse_yaml(io::read_file(config_path), config_path);
  std::shared_ptr<Model> model;
  try {
    model = build_model(legacy_member_spec(config, config_path, info_path));
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(config_path, 0) == 0 || what.rfind(info_path, 0) == 0) throw;
    fail(config_path, what);
  }
  auto state = io::read_state_dict(state_path);
  std::set<std::string> in_file;
  for (const auto& [name, _] : state) in_file.insert(name);
  // The reference loads with strict=False and only ever misses the default
  // log speeds, which stay at their initial 0.
  for (const auto& [name, tensor] : model->state_dict())
    if (!in_file.count(name) && ends_with(name, "._log_speed_default")) state.emplace_back(name, torch::zeros_like(tensor));
  model->load_state_dict(state, state_path);
  model->eval();
  return model;
}

std::vector<std::string> ensemble_member_ids(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, "not a folder");
  std::vector<std::pair<long long, std::string>> found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("config_", 0) != 0 || !ends_with(name, ".yaml")) continue;
    const std::string id = name.substr(7, name.size() - 12);
    if (id.empty() || !std::all_of(id.begin(), id.end(), ::isdigit)) fail(entry.path().string(), "expected config_<seed>.yaml");
    found.emplace_back(std::stoll(id), id);
  }
  if (found.empty()) fail(dir, "has no ensemble member (no config_<seed>.yaml)");
  std::sort(found.begin(), found.end());
  std::vector<std::string> ids;
  for (const auto& [seed, id] : found) ids.push_back(id);
  return ids;
}

std::shared_ptr<Model> load_ensemble_from_directory(const std::string& dir) {
  std::vector<std::shared_ptr<Model>> members;
  for (const auto& id : ensemble_member_ids(dir)) members.push_back(load_legacy_member(dir, id));
  Json core = {{"type", "ensemble"}, {"members", Json::array()}};
  Json readout = {{"type", "ensemble"}, {"members", Json::array()}};
  for (const auto& m : members) {
    core["members"].push_back(m->spec().at("core"));
    readout["members"].push_back(m->spec().at("readout"));
    if (m->input_shape() != members.front()->input_shape())
      fail(dir, "the members have different input shapes");
  }
  const Json spec = {{"family", "retina"},
                     {"core", core},
                     {"readout", readout},
                     {"input_shape", members.front()->input_shape()},
                     {"provenance", {{"imported_from", dir}, {"model_class", "openretina EnsembleModel"}}}};
  auto ensemble = build_model(spec);
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (size_t i = 0; i < members.size(); ++i) {
    for (const auto& [name, tensor] : members[i]->state_dict()) {
      const auto dot = name.find('.');  // "core.x" -> "core.members.<i>.x"
      state.emplace_back(name.substr(0, dot) + ".members." + std::to_string(i) + name.substr(dot), tensor);
    }
  }
  ensemble->load_state_dict(state, dir);
  ensemble->eval();
  return ensemble;
}

void center_readouts(Model& model, double target_x, double target_y) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters(true)) {
    if (p.key().find("mask_mean") == std::string::npos) continue;
    at::Tensor mean = p.value();
    if (mean.dim() != 2 || mean.size(1) != 2) continue;
    mean.select(1, 0).fill_(target_x);
    mean.select(1, 1).fill_(target_y);
  }
}

std::string gin_base_url() {
  const char* env = std::getenv("FOVEA_GIN_BASE_URL");
  std::string base = (env && *env) ? std::string(env) : std::string(kGinDefault);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

std::string fetch_hoefling_ensemble(const io::DownloadOptions& download) {
  const std::string cache = download.cache_dir.empty() ? io::cache_directory() : download.cache_dir;
  const std::string folder = (fs::path(cache) / kHoeflingEnsembleHash).string();
  const std::string base = gin_base_url() + "/" + kGinModelPath + "/" + kHoeflingEnsembleHash + "/";
  for (const auto& id : hoefling_ensemble_ids())
    for (const std::string& file : {"config_" + id + ".yaml", "data_info_" + id + ".pkl", "state_dict_" + id + ".pth.tar"})
      io::download_to(base + file, (fs::path(folder) / file).string(), download);
  return folder;
}

bool is_hoefling_ensemble_name(const std::string& name) {
  const std::string base = kHoeflingEnsembleName;
  return name == base || name.rfind(base + ":", 0) == 0;
}

std::optional<int64_t> hoefling_member_index(const std::string& name) {
  const std::string base = kHoeflingEnsembleName;
  if (name == base) return std::nullopt;
  const std::string n = name.substr(base.size() + 1);
  size_t used = 0;
  long long index = 0;
  try {
    index = std::stoll(n, &used);
  } catch (...) {
    used = 0;
  }
  if (n.empty() || used != n.size()) fail(name, "expected " + base + ":N with a member index N");
  return index;
}

std::shared_ptr<Model> load_hoefling_ensemble(std::optional<int64_t> member, bool center,
                                              const io::DownloadOptions& download) {
  const int64_t n = static_cast<int64_t>(hoefling_ensemble_ids().size());
  if (member && (*member < -n || *member >= n))
    fail(std::string(kHoeflingEnsembleName) + ":" + std::to_string(*member),
         "there is no member " + std::to_string(*member) + ": the ensemble has " + std::to_string(n) +
             " members (0.." + std::to_string(n - 1) + ", or -" + std::to_string(n) + "..-1 from the end)");
  const std::string dir = fetch_hoefling_ensemble(download);
  std::shared_ptr<Model> model;
  if (member) {
    const int64_t index = *member < 0 ? *member + n : *member;
    model = load_legacy_member(dir, hoefling_ensemble_ids()[static_cast<size_t>(index)]);
  } else {
    model = load_ensemble_from_directory(dir);
  }
  if (center) center_readouts(*model);
  return model;
}

}  // namespace fovea::nn
