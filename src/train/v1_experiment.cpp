// Building and training V1 models from a run configuration.
#include "fovea/train/v1_experiment.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include "config_fields.h"
#include "fovea/error.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/config_check.h"
#include "fovea/train/v1_task.h"

namespace fovea::train {

data::V1LoadOptions v1_load_options(const Json& config) {
  const Json& d = section(config, "data");
  data::V1LoadOptions o;
  o.images_path = get<std::string>(d, "images", "");
  o.responses_path = get<std::string>(d, "responses", "");
  o.mouse = get<std::string>(d, "mouse", "");
  o.dir = get<std::string>(d, "dir", "");
  o.textures = get<bool>(d, "textures", false);
  o.fixtrain = get<bool>(d, "fixtrain", false);
  o.neurons = get<std::vector<int64_t>>(d, "neurons", {});
  o.select_by_fev = get<bool>(d, "select_by_fev", false);
  o.layout = get<std::string>(d, "layout", "");  // monkey_cadena_2019: one .npz in dir (or responses)
  // minimodel's published files by mouse name (its crop unless crop_x is given).
  if (!o.mouse.empty()) data::use_minimodel_mouse(o, d.contains("crop_x") && !d.at("crop_x").is_null());
  if (o.layout.empty() && (o.images_path.empty() || o.responses_path.empty()))
    fail("config section 'data'", "needs 'images' (.mat or .npy) and 'responses' (.npz), or 'mouse' and 'dir'");
  auto crop = get<std::vector<int>>(d, "crop_x", {o.crop_x0, o.crop_x1});
  if (crop.size() != 2) fail("config field 'data.crop_x'", "must be [start, end]");
  o.crop_x0 = crop[0];
  o.crop_x1 = crop[1];
  o.downsample = get<double>(d, "downsample", o.downsample);
  o.normalize_images = get<bool>(d, "normalize_images", o.normalize_images);
  o.fev_threshold = get<double>(d, "fev_threshold", o.fev_threshold);
  o.train_fraction = get<double>(d, "train_fraction", o.train_fraction);
  return o;
}

data::V1Dataset select_neurons(const data::V1Dataset& d, const at::Tensor& neurons) {
  const at::Tensor idx = neurons.to(torch::kInt64).contiguous().view({-1});
  return data::select_dataset_neurons(
      d, std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel()), "neuron selection");
}

void copy_first_layer(const nn::Model& source, nn::Model& target, bool freeze) {
  auto src = std::dynamic_pointer_cast<nn::MinimodelCore>(source.core());
  auto dst = std::dynamic_pointer_cast<nn::MinimodelCore>(target.core());
  if (!src || !dst) fail("first layer copy", "both models need a minimodel core");
  at::Tensor w = src->layer(0)->conv->weight.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  at::Tensor& out = dst->layer(0)->conv->weight;
  if (w.size(0) != out.size(0) || w.size(1) != out.size(1))
    fail("first layer copy", "the full model's first layer has " + std::to_string(w.size(0)) +
                                 " channels, the new model " + std::to_string(out.size(0)));
  const int64_t k = out.size(2);
  if (w.size(2) != k || w.size(3) != out.size(3)) {
    // As the tutorial: cv2.resize(filter, (k, k)) with bilinear interpolation.
    at::Tensor resized = torch::empty({w.size(0), w.size(1), k, out.size(3)});
    for (int64_t o = 0; o < w.size(0); ++o)
      for (int64_t i = 0; i < w.size(1); ++i) {
        at::Tensor f = w[o][i].contiguous();
        cv::Mat in(static_cast<int>(f.size(0)), static_cast<int>(f.size(1)), CV_32F, f.data_ptr<float>());
        cv::Mat r;
        cv::resize(in, r, cv::Size(static_cast<int>(out.size(3)), static_cast<int>(k)), 0, 0, cv::INTER_LINEAR);
        std::memcpy(resized[o][i].data_ptr<float>(), r.ptr<float>(), sizeof(float) * k * out.size(3));
      }
    w = resized;
  }
  torch::NoGradGuard no_grad;
  out.copy_(w);
  if (freeze) out.set_requires_grad(false);
  target.spec()["core"]["frozen_first_layer"] = freeze;
}

V1TrainingSetup v1_training_setup(const Json& config, const data::V1Dataset& dataset,
                                  std::shared_ptr<FirstConvCache> first_conv_cache) {
  validate_config(config, "run configuration");
  const Json& model_cfg = section(config, "model");
  const Json& t = section(config, "training");
  const uint64_t seed = get<uint64_t>(config, "seed", 0);
  const std::string device_name = get<std::string>(config, "device", "cpu");
  torch::manual_seed(seed);

  Json spec;
  spec["family"] = "v1";
  spec["core"] = model_cfg.contains("core") ? model_cfg["core"] : Json{{"type", "minimodel_core"}};
  spec["readout"] = model_cfg.contains("readout") ? model_cfg["readout"] : Json{{"type", "rank1"}};
  spec["readout"]["n_neurons"] = dataset.n_neurons();
  spec["input_shape"] = {1, dataset.images.size(1), dataset.images.size(2)};
  const auto load = v1_load_options(config);
  spec["data"] = {{"crop_x", {load.crop_x0, load.crop_x1}}, {"downsample", load.downsample},
                  {"normalize_images", load.normalize_images}, {"fev_threshold", load.fev_threshold},
                  {"train_fraction", load.train_fraction}};
  // What picks the same recording and neurons again (eval, visualize --data).
  if (!load.mouse.empty()) spec["data"]["mouse"] = load.mouse;
  if (!load.layout.empty()) spec["data"]["layout"] = load.layout;
  if (load.textures) spec["data"]["textures"] = true;
  if (load.fixtrain) spec["data"]["fixtrain"] = true;
  if (dataset.is_neuron_subset()) {
    const at::Tensor idx = dataset.neuron_index.contiguous();
    spec["data"]["neurons"] = std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
  }
  spec["provenance"] = {{"trained_by", "fovea 0.1.0"}, {"seed", seed}, {"config", config}};
  auto model = nn::build_model(spec);
  torch::Device device(device_name);

  const Json& init = section(config, "init");
  const std::string first_layer_from = get<std::string>(init, "first_layer_from", "");
  if (!first_layer_from.empty()) {
    auto full = nn::load_model(first_layer_from);
    copy_first_layer(*full, *model, get<bool>(init, "freeze_first_layer", true));
  }

  V1TrainingData data;
  data.images = dataset.images.unsqueeze(1);
  data.responses = dataset.train_responses;
  data.image_index = dataset.train_image_index;
  data.train_trials = dataset.itrain;
  data.val_trials = dataset.ival;
  data.real_responses = dataset.real_responses;  // monkey data: the loss and score skip missing trials
  data.first_conv_cache = std::move(first_conv_cache);

  V1TrainingSetup setup{model, std::move(data), {}, {}, device};
  V1Recipe& recipe = setup.recipe;
  recipe.batch_size = get<int64_t>(t, "batch_size", recipe.batch_size);
  recipe.hoyer_square = get<double>(t, "hoyer_square", recipe.hoyer_square);
  const Json& wd = section(t, "weight_decay");
  recipe.wd_core = get<double>(wd, "core", recipe.wd_core);
  recipe.wd_spatial = get<double>(wd, "spatial", recipe.wd_spatial);
  recipe.wd_channels = get<double>(wd, "channels", recipe.wd_channels);
  recipe.wd_bias = get<double>(wd, "bias", recipe.wd_bias);
  recipe.clamp_spatial = get<bool>(t, "clamp_spatial", recipe.clamp_spatial);
  recipe.first_conv_cache_mb = get<int64_t>(t, "first_conv_cache_mb", recipe.first_conv_cache_mb);
  recipe.seed = seed;

  TrainerOptions& options = setup.options;
  options.period_epochs = get<std::vector<int64_t>>(t, "period_epochs", options.period_epochs);
  options.lr = get<double>(t, "lr", options.lr);
  options.period_lr_factor = get<double>(t, "period_lr_factor", options.period_lr_factor);
  options.patience = get<int64_t>(t, "patience", options.patience);
  options.patience_across_periods = get<bool>(t, "patience_across_periods", options.patience_across_periods);
  options.restore_best_each_period = get<bool>(t, "restore_best_each_period", options.restore_best_each_period);
  options.precision = resolve_precision(get<std::string>(t, "precision", "auto"), "v1", device.type(),
                                        "config field 'training.precision'");
  return setup;
}

void record_v1_result(nn::Model& model, const TrainingResult& result) {
  // null when no epoch had a finite validation score
  model.spec()["provenance"]["best_val_varexp"] = result.has_best() ? Json(result.best_score) : Json();
  model.spec()["provenance"]["best_epoch"] = result.has_best() ? Json(result.best_epoch + 1) : Json();
  model.spec()["provenance"]["epochs_run"] = result.epochs_run;
}

V1TrainingRun train_v1(const Json& config, const data::V1Dataset& dataset, const RunFiles& files,
                       bool show_progress, std::shared_ptr<FirstConvCache> first_conv_cache,
                       const EpochCallback& on_epoch) {
  V1TrainingSetup setup = v1_training_setup(config, dataset, std::move(first_conv_cache));
  auto& model = setup.model;
  auto& data = setup.data;
  const auto device = setup.device;
  const Json& t = section(config, "training");
  V1TrainingRun run;
  run.model = model;
  if (model->spec()["readout"]["type"] == "ridge") {
    if (dataset.real_responses.defined())
      fail(dataset.origin, "a ridge readout cannot leave out the missing trials of this recording; use rank1");
    // Closed form, as the tutorial: all training trials (train + validation).
    at::Tensor trials = torch::cat({dataset.itrain, dataset.ival});
    nn::fit_ridge(*model, data.images.index_select(0, data.image_index.index_select(0, trials)),
                  data.responses.index_select(0, trials), get<double>(t, "ridge_lambda", 5e4));
    model->eval();
    run.result.stop_reason = "closed-form ridge fit";
    run.result.epochs_run = 0;
    return run;
  }

  model->to(device);
  TrainerOptions options = setup.options;
  files.apply_to(options);
  options.show_progress = show_progress;
  options.on_epoch = on_epoch;

  V1Task task(model, data, setup.recipe, device);
  run.result = fit(*model, task, options);
  model->to(torch::kCPU);
  record_v1_result(*model, run.result);
  model->eval();
  return run;
}

}  // namespace fovea::train
