// Fitting per-neuron minimodels from a full model's first layer.
#include "fovea/train/minimodels.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/predict.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/v1_experiment.h"

namespace fovea::train {

nlohmann::json default_minimodel_config(const nn::Model& full_model) {
  auto full_core = std::dynamic_pointer_cast<nn::MinimodelCore>(full_model.core());
  if (!full_core) fail("minimodels", "the full model must have a minimodel core");
  const auto& o = full_core->options();
  nlohmann::json core = {{"type", "minimodel_core"}, {"n_layers", 2},       {"n_conv", o.n_conv},
                         {"n_conv_mid", 64},         {"kernel_size", {o.kernel_size[0], o.kernel_size.size() > 1 ? o.kernel_size[1] : 9}},
                         {"activation", "relu"},     {"out_1x1", false},    {"in_channels", o.in_channels}};
  return {{"model", {{"core", core}, {"readout", {{"type", "rank1"}, {"Wc_coef", 0.2}}}}},
          {"training",
           {{"period_epochs", {100, 30, 30, 30}},
            {"lr", 1e-3},
            {"batch_size", 100},
            {"patience", 5},
            {"hoyer_square", 0.03},
            {"weight_decay", {{"core", 0.1}, {"spatial", 1.0}, {"channels", 0.2}, {"bias", 0.0}}}}},
          {"init", {{"freeze_first_layer", true}}}};
}

std::vector<MinimodelRow> fit_minimodels(nn::Model& full_model, const std::string& full_model_path,
                                         const data::V1Dataset& dataset, const std::vector<int64_t>& neurons,
                                         const nlohmann::json& config, const std::string& output_dir,
                                         bool show_progress, const MinimodelCallback& on_fitted, bool resume) {
  namespace fs = std::filesystem;
  io::make_directories(output_dir);
  check(!neurons.empty(), "minimodels", "no neurons listed");
  for (auto n : neurons)
    check(n >= 0 && n < dataset.n_neurons(), "--neurons",
          "neuron " + std::to_string(n) + " is out of range: the data has " + std::to_string(dataset.n_neurons()) +
              " neurons");
  at::Tensor full_pred = nn::predict(full_model, dataset.test_images());
  check(full_pred.size(1) == dataset.n_neurons(), dataset.origin,
        "the full model predicts " + std::to_string(full_pred.size(1)) + " neurons, the data has " +
            std::to_string(dataset.n_neurons()));
  at::Tensor full_feve = eval::feve(dataset.test_responses, full_pred);

  nlohmann::json cfg = config;
  cfg["init"]["first_layer_from"] = full_model_path;
  std::vector<MinimodelRow> rows;
  // Every minimodel freezes the same first conv: its outputs are computed once.
  auto first_conv_cache = std::make_shared<FirstConvCache>();
  for (size_t i = 0; i < neurons.size(); ++i) {
    const int64_t n = neurons[i];
    const std::string path = (fs::path(output_dir) / ("minimodel_n" + std::to_string(n) + ".safetensors")).string();
    auto one = select_neurons(dataset, torch::tensor({n}, torch::kInt64));
    std::shared_ptr<nn::Model> model;
    if (resume && fs::exists(path)) {
      spdlog::info("minimodel {}/{}: neuron {}, kept from {}", i + 1, neurons.size(), n, path);
      model = nn::load_model(path);
      const auto& provenance = model->spec()["provenance"];
      check(provenance.contains("neuron") && provenance["neuron"] == n, path,
            "is not the minimodel of neuron " + std::to_string(n) + "; remove it or give another output folder");
    } else {
      spdlog::info("minimodel {}/{}: neuron {}", i + 1, neurons.size(), n);
      model = train_v1(cfg, one, "", show_progress, first_conv_cache).model;
      model->spec()["minimodel"] = true;
      model->spec()["provenance"]["neuron"] = n;
      model->spec()["provenance"]["full_model"] = full_model_path;
      nn::save_model(path, *model);
    }
    MinimodelRow row;
    row.neuron = n;
    row.fev = dataset.fev[n].item<double>();
    row.feve_full = full_feve[n].item<double>();
    at::Tensor pred = nn::predict(*model, one.test_images());
    row.feve_minimodel = eval::feve(one.test_responses, pred)[0].item<double>();
    auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model->readout());
    row.channels = readout->Wc.size(2);
    row.channels_used = (readout->Wc.abs() > 0.01).sum().item<int64_t>();
    row.model_path = path;
    rows.push_back(row);
    if (on_fitted) on_fitted(row, i + 1, neurons.size());
    spdlog::info("neuron {}: FEVE full {:.3f}, minimodel {:.3f}, {}/{} channels used", n, row.feve_full,
                 row.feve_minimodel, row.channels_used, row.channels);
  }
  std::ostringstream csv;
  csv << "neuron,fev,feve_full,feve_minimodel,channels_used,channels,model\n" << std::setprecision(6);
  for (const auto& r : rows)
    csv << r.neuron << "," << r.fev << "," << r.feve_full << "," << r.feve_minimodel << "," << r.channels_used << ","
        << r.channels << "," << r.model_path << "\n";
  io::write_file_atomic((fs::path(output_dir) / "summary.csv").string(), csv.str());
  return rows;
}

}  // namespace fovea::train
