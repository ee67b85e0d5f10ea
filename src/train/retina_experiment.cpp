// Building and training retina core-readout models from a run configuration.
#include "fovea/train/retina_experiment.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "fovea/data/maheswaranathan_dataset.h"
#include "config_fields.h"
#include "fovea/error.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_task.h"

namespace fovea::train {

bool is_retina_config(const Json& config) { return get<std::string>(config, "family", "") == "retina"; }

RetinaDataOptions retina_data_options(const Json& d) {
  RetinaDataOptions o;
  o.layout = get<std::string>(d, "layout", o.layout);
  if (o.layout != "hdf5" && o.layout != "maheswaranathan_2023")
    fail("config field 'data.layout'", "unknown layout '" + o.layout + "' (known: hdf5, maheswaranathan_2023)");
  o.response_type = get<std::string>(d, "response_type", o.response_type);
  o.stim_type = get<std::string>(d, "stim_type", o.stim_type);
  o.fr_normalization = get<double>(d, "fr_normalization", o.fr_normalization);
  o.dir = get<std::string>(d, "dir", "");
  o.test_names = get<std::vector<std::string>>(d, "test_names", o.test_names);
  o.stimulus_size = get<std::vector<int64_t>>(d, "stimulus_size", {});
  if (d.contains("norm_mean") && !d.at("norm_mean").is_null()) o.norm_mean = get<double>(d, "norm_mean", 0.0);
  if (d.contains("norm_std") && !d.at("norm_std").is_null()) o.norm_std = get<double>(d, "norm_std", 1.0);
  if (o.norm_std && *o.norm_std <= 0) fail("config field 'data.norm_std'", "must be positive");
  o.split.clip_length = get<int64_t>(d, "clip_length", o.split.clip_length);
  o.split.num_val_clips = get<int64_t>(d, "num_val_clips", o.split.num_val_clips);
  o.split.val_clip_indices = get<std::vector<int64_t>>(d, "val_clip_indices", {});
  o.split.seed = get<uint32_t>(d, "split_seed", o.split.seed);
  return o;
}

data::RetinaDataset load_retina_data(RetinaDataOptions& o) {
  if (o.dir.empty()) fail("config section 'data'", "needs 'dir', the dataset directory");
  if (o.layout == "maheswaranathan_2023") {
    data::MaheswaranathanOptions m;
    m.dir = o.dir;
    m.response_type = o.response_type;
    m.stim_type = o.stim_type;
    m.fr_normalization = o.fr_normalization;
    o.test_names = {"test"};
    o.norm_mean = 0.0;  // each session's movies come z-scored by the reader, as openretina does
    o.norm_std = 1.0;
    return data::load_maheswaranathan_2023(m);
  }
  data::RetinaLoadOptions load;
  load.dir = o.dir;
  load.test_names = o.test_names;
  load.stimulus_size = o.stimulus_size;
  data::RetinaDataset d = data::load_hdf5_layout(load);
  if (!o.norm_mean || !o.norm_std) {
    // One mean and standard deviation over every session's training movie
    // (sessions that share a movie count it once each, which leaves the
    // statistics of a shared movie unchanged).
    std::vector<at::Tensor> flat;
    for (const auto& [k, m] : d.movies)
      if (m.train.defined()) flat.push_back(m.train.reshape({-1}));
    check(!flat.empty(), o.dir, "no training stimuli to compute the normalisation from");
    at::Tensor all = torch::cat(flat).to(torch::kFloat64);
    if (!o.norm_mean) o.norm_mean = all.mean().item<double>();
    if (!o.norm_std) o.norm_std = all.std(/*unbiased=*/false).item<double>();
    if (*o.norm_std <= 0) fail(o.dir, "the training stimuli are constant: cannot normalise them");
  }
  for (auto& [k, m] : d.movies) {
    if (m.train.defined()) m.train = (m.train - *o.norm_mean) / *o.norm_std;
    for (auto& [name, t] : m.test) t = (t - *o.norm_mean) / *o.norm_std;
  }
  return d;
}

std::map<std::string, data::SessionClips> split_sessions(const data::RetinaDataset& dataset,
                                                         const data::ClipSplitOptions& options, bool test_only) {
  std::map<std::string, data::SessionClips> out;
  for (const auto& [key, r] : dataset.responses) {
    const auto& m = dataset.movies.at(key);
    data::SessionClips s;
    if (!test_only) {
      check(r.train.defined() && m.train.defined(), key, "the session has no training stimulus");
      s = data::split_session(m.train, r.train, options, key);
    }
    for (const auto& [name, movie] : m.test) {
      s.test_movies[name] = movie;
      s.test_responses[name] = r.test.at(name).t().contiguous();
    }
    for (const auto& [name, trials] : r.test_by_trial) s.test_by_trial[name] = trials.transpose(1, 2).contiguous();
    out[key] = std::move(s);
  }
  return out;
}

RetinaTrainingRun train_retina(const Json& config, const data::RetinaDataset& dataset,
                               const RetinaDataOptions& data_options, const std::string& metrics_csv,
                               bool show_progress, const EpochCallback& on_epoch) {
  validate_config(config, "run configuration");
  const Json& model_cfg = section(config, "model");
  const Json& t = section(config, "training");
  const uint64_t seed = get<uint64_t>(config, "seed", 42);
  const std::string device_name = get<std::string>(config, "device", "cpu");
  torch::manual_seed(seed);

  auto sessions = split_sessions(dataset, data_options.split);
  const auto& first = sessions.begin()->second;
  const int64_t channels = first.train_movie.size(0);

  Json spec;
  spec["family"] = "retina";
  spec["core"] = model_cfg.contains("core") ? model_cfg["core"] : Json::object();
  if (!spec["core"].contains("type")) spec["core"]["type"] = "simple_core_wrapper";
  // openretina's UnifiedCoreReadout: core channels = (input channels, *hidden_channels).
  if (model_cfg.contains("hidden_channels")) {
    Json ch = Json::array({channels});
    for (const auto& c : model_cfg["hidden_channels"]) ch.push_back(c);
    spec["core"]["channels"] = ch;
  }
  spec["readout"] = model_cfg.contains("readout") ? model_cfg["readout"] : Json{{"type", "gaussian_mask"}};
  spec["readout"]["n_neurons_dict"] = dataset.n_neurons_dict();
  spec["input_shape"] = {channels, data_options.split.clip_length, first.train_movie.size(2), first.train_movie.size(3)};
  Json data_json = {{"layout", data_options.layout},
                    {"response_type", data_options.response_type},
                    {"stim_type", data_options.stim_type},
                    {"fr_normalization", data_options.fr_normalization},
                    {"test_names", data_options.test_names},
                    {"norm_mean", data_options.norm_mean.value_or(0.0)},
                    {"norm_std", data_options.norm_std.value_or(1.0)},
                    {"clip_length", data_options.split.clip_length}};
  spec["data"] = data_json;
  // openretina's data_info keys, so tools that read them find them.
  spec["data_info"] = {{"input_shape", {channels, first.train_movie.size(2), first.train_movie.size(3)}},
                       {"stim_mean", data_options.norm_mean.value_or(0.0)},
                       {"stim_std", data_options.norm_std.value_or(1.0)}};
  spec["provenance"] = {{"trained_by", "fovea 0.1.0"}, {"seed", seed}, {"config", config}};
  Json val;
  for (const auto& [k, s] : sessions) val[k] = s.val_clip_indices;
  spec["provenance"]["val_clip_indices"] = val;

  // openretina initialises each session's readout bias at the mean training
  // response: readouts read it from mean_activity_dict (not kept in the saved spec).
  Json build_spec = spec;
  for (const auto& [k, s] : sessions) {
    const at::Tensor m = s.mean_response.to(torch::kFloat64).contiguous();
    build_spec["readout"]["mean_activity_dict"][k] =
        std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
  }
  auto model = nn::build_model(build_spec);
  model->spec() = spec;
  if (auto gm = std::dynamic_pointer_cast<nn::MultiGaussianMaskReadout>(model->readout()))
    for (const auto& [k, s] : sessions) gm->session(k)->initialize_bias(s.mean_response);
  torch::Device device(device_name);
  model->to(device);

  RetinaRecipe recipe;
  recipe.batch_size = get<int64_t>(t, "batch_size", recipe.batch_size);
  recipe.chunk_size = get<int64_t>(t, "chunk_size", recipe.chunk_size);
  recipe.weight_decay = get<double>(t, "weight_decay", recipe.weight_decay);
  recipe.drop_last = get<bool>(t, "drop_last", recipe.drop_last);
  recipe.seed = seed;
  RetinaTask task(model, sessions, recipe, device);

  TrainerOptions o;
  o.lr_schedule = get<std::string>(t, "lr_schedule", "plateau");
  o.lr = get<double>(t, "lr", 0.01);
  o.max_epochs = get<int64_t>(t, "max_epochs", 100);
  o.period_epochs = get<std::vector<int64_t>>(t, "period_epochs", o.period_epochs);
  o.plateau_factor = get<double>(t, "plateau_factor", 0.3);
  o.plateau_patience = get<int64_t>(t, "plateau_patience", 5);
  o.plateau_threshold = get<double>(t, "plateau_threshold", 5e-4);
  // openretina: min_lr = lr · factor³ (three reductions at most).
  o.min_lr = get<double>(t, "min_lr", o.lr * std::pow(o.plateau_factor, 3));
  o.patience = get<int64_t>(t, "patience", 10);
  o.min_delta = get<double>(t, "min_delta", 1e-3);
  o.grad_clip_norm = get<double>(t, "grad_clip_norm", 1.0);
  o.restore_best_each_period = true;
  o.metrics_csv = metrics_csv;
  o.show_progress = show_progress;
  o.on_epoch = on_epoch;

  int64_t chunks = 0;
  for (const auto& [k, s] : sessions) chunks += s.train_movie.size(1) / recipe.chunk_size;
  spdlog::info("{} sessions, {} training chunks of {} frames, {} validation clips per session; model: {} parameters",
               sessions.size(), chunks, recipe.chunk_size, first.val_clip_indices.size(), model->n_parameters());
  RetinaTrainingRun run;
  run.model = model;
  run.result = fit(*model, task, o);
  run.model->to(torch::kCPU);
  run.model->eval();
  // null when no epoch had a finite validation score
  run.model->spec()["provenance"]["best_epoch"] = run.result.has_best() ? Json(run.result.best_epoch + 1) : Json();
  run.model->spec()["provenance"]["best_val_correlation"] = run.result.has_best() ? Json(run.result.best_score) : Json();
  run.model->spec()["provenance"]["stop_reason"] = run.result.stop_reason;
  return run;
}

}  // namespace fovea::train
