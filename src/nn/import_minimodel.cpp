// Importing minimodel state dicts: the architecture is inferred from the
// tensor shapes alone, since a .pt state dict records nothing else.
#include <torch/torch.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <regex>

#include "fovea/data/minimodel_mice.h"
#include "fovea/error.h"
#include "fovea/io/pickle.h"
#include "fovea/nn/import_openretina.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/v1_cores.h"

namespace fovea::nn {

namespace {

using State = std::map<std::string, at::Tensor>;

const at::Tensor& need(const State& s, const std::string& key, const std::string& origin) {
  auto it = s.find(key);
  if (it == s.end()) fail(origin, "weight '" + key + "' is missing (not a minimodel state dict?)");
  return it->second;
}

void need_dims(const at::Tensor& t, int64_t dims, const std::string& key, const std::string& origin) {
  if (t.dim() != dims) fail(origin, "weight '" + key + "' has " + std::to_string(t.dim()) + " dimensions, expected " +
                                        std::to_string(dims));
}

// The input size minimodel models are built for, from the readout size.
std::vector<int64_t> default_input_hw(int64_t Ly, int64_t Lx, bool pool) {
  if (Ly == 33 && Lx == 65) return {66, 130};  // the mouse full model and minimodels
  if (Ly == 16 && Lx == 32) return {33, 65};   // the tutorial's down-sampled models
  if (Ly == 40 && Lx == 40) return {80, 80};   // the monkey models
  return pool ? std::vector<int64_t>{2 * Ly, 2 * Lx} : std::vector<int64_t>{2 * Ly, 2 * Lx};
}

// minimodel's create_model_name, {mouse}_{mmddyy}_{L}layer_..._nn{ineuron}_...:
// the recording (a mouse of its table, with that date) and the neuron a
// minimodel models, as data.mouse / data.neurons, so that evaluating it on
// the full dataset picks that neuron's responses.
Json data_from_model_name(const std::string& origin, int64_t n_neurons) {
  Json d = Json::object();
  const std::string name = std::filesystem::path(origin).filename().string();
  std::smatch m;
  if (std::regex_search(name, m, std::regex(R"(^([A-Za-z0-9]+)_(\d{6})_\d+layer_)"))) {
    for (const auto& mouse : data::minimodel_mice()) {
      std::string folded;
      for (char c : mouse.name)
        if (c != '_') folded += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string given = m[1];
      for (auto& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (folded == given && mouse.exp_date == m[2].str()) d["mouse"] = mouse.name;
    }
  }
  if (n_neurons == 1 && std::regex_search(name, m, std::regex(R"(_nn(\d{1,9})(?=[_.]))")))
    d["neurons"] = {std::stoll(m[1])};
  return d;
}

}  // namespace

Json infer_minimodel_spec(const std::vector<std::pair<std::string, at::Tensor>>& entries, const std::string& origin,
                          const ImportOptions& options) {
  State s(entries.begin(), entries.end());
  const auto& w0 = need(s, "core.features.layer0.conv.weight", origin);
  need_dims(w0, 4, "core.features.layer0.conv.weight", origin);
  const auto& Wc = need(s, "readout.Wc", origin);
  const auto& Wy = need(s, "readout.Wy", origin);
  const auto& Wx = need(s, "readout.Wx", origin);
  need_dims(Wc, 3, "readout.Wc", origin);
  need_dims(Wy, 3, "readout.Wy", origin);
  need_dims(Wx, 3, "readout.Wx", origin);

  MinimodelCoreOptions o;
  o.in_channels = w0.size(1);
  o.n_conv = w0.size(0);
  o.kernel_size = {w0.size(2)};
  o.use_bn = s.count("core.features.layer0.norm.weight") > 0;
  const std::regex layer_re(R"(core\.features\.layer(\d+)\..*)");
  int64_t n_layers = 0;
  for (const auto& [key, t] : s) {
    std::smatch m;
    if (std::regex_match(key, m, layer_re)) n_layers = std::max<int64_t>(n_layers, std::stoll(m[1]) + 1);
  }
  o.n_layers = n_layers;
  o.depth_separable = n_layers < 2 || s.count("core.features.layer1.ds_conv.in_depth_conv.weight") > 0;
  o.out_1x1 = n_layers < 2 || s.count("core.features.layer1.ds_conv.out_depth_conv.weight") > 0;
  for (int64_t i = 1; i < n_layers; ++i) {
    const std::string p = "core.features.layer" + std::to_string(i);
    if (o.depth_separable) {
      const auto& in = need(s, p + ".ds_conv.in_depth_conv.weight", origin);
      const auto& sp = need(s, p + ".ds_conv.spatial_conv.weight", origin);
      need_dims(sp, 4, p + ".ds_conv.spatial_conv.weight", origin);
      o.n_conv_mid = in.size(0);
      o.kernel_size.push_back(sp.size(2));
    } else {
      const auto& w = need(s, p + ".conv.weight", origin);
      o.n_conv_mid = w.size(0);
      o.kernel_size.push_back(w.size(2));
    }
  }
  const int64_t NN = Wc.size(0);
  // minimodel's build_model: one neuron means the minimodel core (ReLU, no
  // final 1x1); the full models use ELU.
  o.activation = (NN == 1 && !o.out_1x1) ? "relu" : "elu";
  o.pool = true;
  const int64_t Ly = Wy.size(2), Lx = Wx.size(2);
  const int64_t channels = n_layers == 1 ? o.n_conv : o.n_conv_mid;
  if (Wc.size(2) != channels)
    fail(origin, "readout.Wc has " + std::to_string(Wc.size(2)) + " channels, the core has " + std::to_string(channels));
  // Without pooling layer0 has stride 2: the map halves either way.
  std::vector<int64_t> hw = options.input_hw.empty() ? default_input_hw(Ly, Lx, o.pool) : options.input_hw;
  if (hw.size() != 2) fail(origin, "the input size must be height and width");

  Json core = o.to_json();
  Json readout = {{"type", "rank1"}, {"n_neurons", NN}, {"Wc_coef", NN == 1 ? 0.2 : 0.01},
                  {"bias", s.count("readout.bias") > 0}};
  Json spec = {{"family", "v1"},
               {"core", core},
               {"readout", readout},
               {"input_shape", {o.in_channels, hw[0], hw[1]}},
               {"minimodel", NN == 1 && !o.out_1x1},
               {"provenance", {{"imported_from", origin}}}};
  const Json named = data_from_model_name(origin, NN);
  if (!named.empty()) spec["data"] = named;
  // The readout must fit the core's output for this input size.
  MinimodelCore probe(o);
  auto out = probe.output_shape({o.in_channels, hw[0], hw[1]});
  if (out[1] != Ly || out[2] != Lx)
    fail(origin, "an input of " + std::to_string(hw[0]) + "x" + std::to_string(hw[1]) + " gives a " +
                     std::to_string(out[1]) + "x" + std::to_string(out[2]) + " core output, the readout is " +
                     std::to_string(Ly) + "x" + std::to_string(Lx) + " (pass the input size explicitly)");
  return spec;
}

std::shared_ptr<Model> import_checkpoint(const std::string& path, const ImportOptions& options) {
  // An openretina training checkpoint carries its model's constructor
  // arguments; a minimodel .pt is a bare state dict.
  io::PyRef root = io::read_torch_archive(path);
  if (is_openretina_checkpoint(root)) {
    const Json spec = openretina_spec_from_checkpoint(root, path);
    std::shared_ptr<Model> model;
    try {
      model = build_model(spec);
    } catch (const Error& e) {
      // The spec came from the checkpoint: name the file.
      fail(path, std::string("its hyper_parameters do not describe a valid model: ") + e.what());
    }
    io::PyRef sd = root->get("state_dict");
    if (!sd || !sd->is_dict()) fail(path, "the checkpoint has no state_dict");
    // SingleCellSeparatedLNP is one module in openretina; in fovea it is the
    // readout behind a DummyCore, so its keys gain the "readout." prefix.
    const bool single_cell = spec["readout"].value("type", "") == "single_cell_separated_lnp";
    std::vector<std::pair<std::string, at::Tensor>> state;
    for (const auto& [k, v] : sd->entries)
      if (k && k->kind == io::PyValue::Kind::String && v && v->kind == io::PyValue::Kind::Tensor) {
        std::string key = k->text;
        // ExampleCoreReadout's on_load_checkpoint: readout.<s>.bias_param is now readout.<s>.bias.
        const std::string old_bias = ".bias_param";
        if (key.rfind("readout.", 0) == 0 && key.size() > old_bias.size() &&
            key.compare(key.size() - old_bias.size(), old_bias.size(), old_bias) == 0)
          key = key.substr(0, key.size() - old_bias.size()) + ".bias";
        if (single_cell) key = "readout." + key;
        state.emplace_back(key, v->tensor);
      }
    model->load_state_dict(state, path);
    model->eval();
    return model;
  }
  auto state = io::read_state_dict(path);
  bool minimodel = false;
  for (const auto& [k, t] : state)
    if (k == "readout.Wc") minimodel = true;
  if (!minimodel)
    fail(path, "not a recognised checkpoint: expected an openretina .ckpt (hyper_parameters, state_dict) or a "
               "minimodel state dict (core.features.*, readout.Wc)");
  auto model = build_model(infer_minimodel_spec(state, path, options));
  model->load_state_dict(state, path);
  model->eval();
  return model;
}

}  // namespace fovea::nn
