// Fitting per-neuron minimodels from a full model's first layer.
#include "fovea/train/minimodels.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>

#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/predict.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/minimodel_batch.h"
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

namespace {

// The minimodels' test predictions. Every minimodel of one run has the same
// frozen first conv, so its outputs on the test images are computed once (as
// V1Task's cache does for the training images) and each minimodel starts
// from them (MinimodelCore::forward_from_pooled_first_conv, BN in eval
// mode); a model with another first layer is predicted as it is.
class TestPredictor {
 public:
  explicit TestPredictor(at::Tensor images) : images_(std::move(images)) {}

  at::Tensor predict(nn::Model& model) {
    auto core = std::dynamic_pointer_cast<nn::MinimodelCore>(model.core());
    if (!core || !core->layer(0)->starts_from_pooled() || nn::kernel_set() != nn::KernelSet::fast)
      return nn::predict(model, images_);
    torch::NoGradGuard no_grad;
    model.eval();
    const at::Tensor weight = core->layer(0)->conv->weight.detach();
    if (!weight_.defined() || !torch::equal(weight_, weight)) {
      std::vector<nn::PooledFirstConv> parts;
      for (int64_t start = 0; start < images_.size(0); start += kBatch) {
        at::Tensor batch = images_.narrow(0, start, std::min(kBatch, images_.size(0) - start));
        parts.push_back(nn::PooledFirstConv::from_conv_output(core->layer(0)->conv->forward(batch)));
      }
      pooled_ = nn::PooledFirstConv::cat(parts);
      weight_ = weight.clone();
    }
    std::vector<at::Tensor> out;
    for (int64_t start = 0; start < images_.size(0); start += kBatch) {
      at::Tensor rows = torch::arange(start, std::min(start + kBatch, images_.size(0)));
      out.push_back(model.readout()->forward(core->forward_from_pooled_first_conv(pooled_.select(rows)), ""));
    }
    return torch::cat(out, 0);
  }

 private:
  static constexpr int64_t kBatch = 100;
  at::Tensor images_, weight_;
  nn::PooledFirstConv pooled_;
};

}  // namespace

std::vector<MinimodelRow> fit_minimodels(nn::Model& full_model, const std::string& full_model_path,
                                         const data::V1Dataset& dataset, const std::vector<int64_t>& neurons,
                                         const nlohmann::json& config, const std::string& output_dir,
                                         bool show_progress, const MinimodelCallback& on_fitted, bool resume,
                                         int64_t batch_minimodels) {
  namespace fs = std::filesystem;
  io::make_directories(output_dir);
  check(!neurons.empty(), "minimodels", "no neurons listed");
  check(batch_minimodels >= 1, "--batch-minimodels", "must be at least 1, got " + std::to_string(batch_minimodels));
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
  // Every minimodel freezes the same first conv: its outputs are computed once.
  auto first_conv_cache = std::make_shared<FirstConvCache>();
  std::vector<std::optional<MinimodelRow>> rows(neurons.size());
  size_t done = 0;
  auto path_of = [&](size_t i) {
    return (fs::path(output_dir) / ("minimodel_n" + std::to_string(neurons[i]) + ".safetensors")).string();
  };
  auto one_neuron = [&](size_t i) { return select_neurons(dataset, torch::tensor({neurons[i]}, torch::kInt64)); };
  TestPredictor test_predictor(dataset.test_images());
  // The row of a fitted (or kept) minimodel, reported as it comes.
  auto add_row = [&](size_t i, nn::Model& model) {
    const int64_t n = neurons[i];
    const at::Tensor test_responses = dataset.test_responses.narrow(2, n, 1);
    MinimodelRow row;
    row.neuron = n;
    row.fev = dataset.fev[n].item<double>();
    row.feve_full = full_feve[n].item<double>();
    row.feve_minimodel = eval::feve(test_responses, test_predictor.predict(model))[0].item<double>();
    auto readout = std::dynamic_pointer_cast<nn::Rank1Readout>(model.readout());
    row.channels = readout->Wc.size(2);
    row.channels_used = (readout->Wc.abs() > 0.01).sum().item<int64_t>();
    row.model_path = path_of(i);
    rows[i] = row;
    ++done;
    if (on_fitted) on_fitted(row, done, neurons.size());
    spdlog::info("neuron {}: FEVE full {:.3f}, minimodel {:.3f}, {}/{} channels used", n, row.feve_full,
                 row.feve_minimodel, row.channels_used, row.channels);
  };
  auto save_fitted = [&](size_t i, nn::Model& model) {
    model.spec()["minimodel"] = true;
    model.spec()["provenance"]["neuron"] = neurons[i];
    model.spec()["provenance"]["full_model"] = full_model_path;
    nn::save_model(path_of(i), model);
    add_row(i, model);
  };

  std::vector<size_t> to_fit;
  for (size_t i = 0; i < neurons.size(); ++i) {
    const std::string path = path_of(i);
    if (resume && fs::exists(path)) {
      spdlog::info("minimodel {}/{}: neuron {}, kept from {}", i + 1, neurons.size(), neurons[i], path);
      auto model = nn::load_model(path);
      const auto& provenance = model->spec()["provenance"];
      check(provenance.contains("neuron") && provenance["neuron"] == neurons[i], path,
            "is not the minimodel of neuron " + std::to_string(neurons[i]) +
                "; remove it or give another output folder");
      add_row(i, *model);
    } else {
      to_fit.push_back(i);
    }
  }
  if (!to_fit.empty() && batch_minimodels > 1) {
    // Many minimodels in one pass (minimodel_batch.h) where the recipe allows it.
    auto make_setup = [&](size_t k) { return v1_training_setup(cfg, one_neuron(to_fit[k]), first_conv_cache); };
    V1TrainingSetup first = make_setup(0);
    first.model->to(first.device);
    V1Task task(first.model, first.data, first.recipe, first.device);
    const std::string why = batched_minimodels_unsupported(first, task.first_conv_cache().get());
    if (why.empty()) {
      spdlog::info("fitting {} minimodels, {} at a time", to_fit.size(), batch_minimodels);
      fit_minimodels_batched(
          to_fit.size(), batch_minimodels, make_setup,
          [&](size_t k, V1TrainingRun run) { save_fitted(to_fit[k], *run.model); }, show_progress);
      to_fit.clear();
    } else {
      spdlog::info("minimodels fitted one at a time: {}", why);
    }
  }
  for (size_t i : to_fit) {
    spdlog::info("minimodel {}/{}: neuron {}", i + 1, neurons.size(), neurons[i]);
    auto model = train_v1(cfg, one_neuron(i), "", show_progress, first_conv_cache).model;
    save_fitted(i, *model);
  }
  std::ostringstream csv;
  csv << "neuron,fev,feve_full,feve_minimodel,channels_used,channels,model\n" << std::setprecision(6);
  std::vector<MinimodelRow> table;
  for (const auto& r : rows) table.push_back(*r);
  for (const auto& r : table)
    csv << r.neuron << "," << r.fev << "," << r.feve_full << "," << r.feve_minimodel << "," << r.channels_used << ","
        << r.channels << "," << r.model_path << "\n";
  io::write_file_atomic((fs::path(output_dir) / "summary.csv").string(), csv.str());
  return table;
}

}  // namespace fovea::train
