#include "fovea/api/train.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "dataset_evaluation.h"
#include "fovea/api/runtime.h"
#include "fovea/data/monkey_v1_dataset.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/eval/retina_report.h"
#include "fovea/nn/model_file.h"
#include "fovea/train/data_parallel.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_experiment.h"
#include "fovea/train/v1_experiment.h"
#include "output_folder.h"
#include "response_check.h"

namespace fovea::api {

namespace fs = std::filesystem;

namespace {

// section.key of a checked config when it is a string, else "".
std::string text_field(const train::Json& config, const std::string& section, const std::string& key) {
  if (!config.contains(section) || !config.at(section).is_object()) return "";
  const auto& s = config.at(section);
  return s.contains(key) && s.at(key).is_string() ? s.at(key).get<std::string>() : "";
}

constexpr const char* kRunConfigFile = "run_config.json";

train::Json read_config(const TrainOptions& o) {
  return o.config_text.empty() ? train::load_config(o.config, o.overrides)
                               : train::config_from_yaml(o.config_text, o.config, o.overrides);
}

// The configuration a run saved in its output folder, for --resume.
train::Json resumed_config(const TrainOptions& o) {
  if (!o.config.empty() || !o.config_text.empty() || !o.overrides.empty() || o.seed)
    fail("--resume", "continues the run with the configuration it saved; give no --config, overrides or --seed");
  const fs::path path = fs::path(o.resume) / kRunConfigFile;
  if (!fs::is_directory(o.resume)) fail(o.resume, "no such training output folder");
  if (!fs::exists(path)) fail(path.string(), "missing: not the output folder of a fovea training run");
  return train::config_from_yaml(io::read_file(path.string()), path.string(), {});
}

// --seed wins; else the config's seed when it is a non-negative integer
// (anything else is left for validate_config to report), else 0.
uint64_t resolve_seed(train::Json& config, const std::optional<uint64_t>& given) {
  uint64_t seed = 0;
  if (given) seed = *given;
  else if (config.contains("seed") && config["seed"].is_number_integer() && config["seed"].get<int64_t>() >= 0)
    seed = config["seed"].get<uint64_t>();
  if (given || !config.contains("seed") || config["seed"].is_null()) config["seed"] = seed;
  return seed;
}

// The run's files as it trains; run_config.json is written once the folder is
// there, so that --resume finds the configuration as resolved.
// In a data-parallel run, only rank 0 writes (r.wrote_outputs).
train::RunFiles start_run_files(const train::Json& config, const TrainOptions& o, const TrainResult& r,
                                std::shared_ptr<train::DataParallel> data_parallel) {
  train::RunFiles files(r.metrics_csv);
  if (o.checkpoint) files.checkpoint = (fs::path(r.output_dir) / "checkpoint.pt").string();
  if (config.contains("training") && config["training"].contains("checkpoint_every"))
    files.checkpoint_every = config["training"]["checkpoint_every"].get<int64_t>();  // a count: validate_config checked it
  files.resume = !o.resume.empty();
  files.data_parallel = std::move(data_parallel);
  if (!files.resume && r.wrote_outputs)
    io::write_file_atomic((fs::path(r.output_dir) / kRunConfigFile).string(), config.dump(2) + "\n");
  return files;
}

// One line on rank 0 for scaling estimates: the summed gradients' time per optimiser step.
void log_data_parallel(const train::DataParallel* dp) {
  if (!dp || !dp->writes_outputs() || dp->all_reduce_steps() == 0) return;
  spdlog::info("data-parallel: {} workers, {} optimiser steps, {:.1f} samples/s in the training steps, gradient "
               "all-reduce {:.3f} ms per step ({:.1f}% of the steps' time)",
               dp->size(), dp->all_reduce_steps(), static_cast<double>(dp->samples()) / std::max(dp->train_seconds(), 1e-9),
               1e3 * dp->all_reduce_seconds() / static_cast<double>(dp->all_reduce_steps()),
               100.0 * dp->all_reduce_seconds() / std::max(dp->train_seconds(), 1e-9));
}

void train_retina_run(const train::Json& config, const TrainOptions& o, TrainResult& r,
                      const train::EpochCallback& on_epoch, const std::shared_ptr<train::DataParallel>& dp) {
  auto options = train::retina_data_options(config.value("data", nlohmann::json::object()));
  spdlog::info("loading {}", options.dir);
  auto dataset = train::load_retina_data(options);
  int64_t n_neurons = 0;
  for (const auto& [key, n] : dataset.n_neurons_dict()) n_neurons += n;
  spdlog::info("{} sessions, {} neurons; stimulus normalised with mean {:.4g}, std {:.4g}", dataset.sessions().size(),
               n_neurons, *options.norm_mean, *options.norm_std);
  {
    std::vector<std::pair<std::string, at::Tensor>> responses;
    for (const auto& [key, s] : dataset.responses) responses.emplace_back(key, s.train.t());
    std::string loss = "poisson";
    if (config.contains("training") && config["training"].contains("loss") && config["training"]["loss"].is_string())
      loss = config["training"]["loss"].get<std::string>();
    const std::string warning = check_training_responses(responses, loss, options.dir);
    if (!warning.empty()) spdlog::warn("{}: {}", options.dir, warning);
  }
  auto run = train::train_retina(config, dataset, options, start_run_files(config, o, r, dp), !o.quiet && r.wrote_outputs,
                                 on_epoch);
  r.model = run.model;
  r.training = run.result;
  log_data_parallel(dp.get());
  if (!r.wrote_outputs) return;
  nn::save_model(r.model_path, *run.model);
  // The test clips of the same split, evaluated as `fovea eval` does.
  auto sessions = train::split_sessions(dataset, options.split, /*test_only=*/true);
  eval::RetinaEvalOptions eo;
  eo.test_name = options.test_names.size() == 1 ? options.test_names[0] : "";
  eo.device = o.device;
  r.evaluation =
      eval::evaluate_retina(*run.model, sessions, eo, read_retina_ground_truth(options.dir, dataset.sessions()));
}

void train_v1_run(const train::Json& config, const TrainOptions& o, TrainResult& r,
                  const train::EpochCallback& on_epoch, const std::shared_ptr<train::DataParallel>& dp) {
  const auto load = train::v1_load_options(config);
  if (load.layout.empty())
    spdlog::info("loading {} and {}", load.images_path, load.responses_path);
  else
    spdlog::info("loading {} ({})", data::monkey_v1_file(load), load.layout);
  auto dataset = data::load_v1_dataset(load);
  std::optional<OutputFolder> folder;  // after the data loaded: a bad data file leaves no folder
  if (r.wrote_outputs) folder.emplace(r.output_dir);
  const int64_t repeats = dataset.test_responses.size(1);
  spdlog::info("{} images of {}x{}, {} training trials ({} validation), {} neurons ({})", dataset.images.size(0),
               dataset.images.size(1), dataset.images.size(2), dataset.train_responses.size(0),
               dataset.ival.numel(), dataset.n_neurons(),
               repeats >= eval::kMinRepeatsForNoiseCeiling
                   ? fmt::format("{} with FEV > {}", dataset.good_neurons.sum().item<int64_t>(), load.fev_threshold)
                   : eval::noise_ceiling_note(repeats));
  // minimodel's recipe always trains with a Poisson loss.
  const std::string warning =
      check_training_responses({{"", dataset.train_responses}}, "poisson", load.responses_path,
                               "minimodel's recipe trains with a Poisson loss: shift the responses to be >= 0 or drop "
                               "these neurons");
  if (!warning.empty()) spdlog::warn("{}: {}", load.responses_path, warning);
  auto run = train::train_v1(config, dataset, start_run_files(config, o, r, dp), !o.quiet && r.wrote_outputs, nullptr,
                             on_epoch);
  r.model = run.model;
  r.training = run.result;
  log_data_parallel(dp.get());
  if (!r.wrote_outputs) return;
  nn::save_model(r.model_path, *run.model);
  V1DataFiles truth;
  truth.truth = text_field(config, "data", "truth");
  r.evaluation = eval::evaluate_v1(*run.model, dataset, read_v1_truth(truth, dataset), o.device);
  r.fev_threshold = load.fev_threshold;
}

}  // namespace

TrainResult train(const TrainOptions& o) {
  check_device(o.device);
  // Read once; the known keys and their types are checked here.
  train::Json config = o.resume.empty() ? read_config(o) : resumed_config(o);
  const std::string config_name = o.resume.empty() ? o.config : (fs::path(o.resume) / kRunConfigFile).string();
  TrainResult r;
  r.seed = resolve_seed(config, o.seed);
  config["device"] = o.device;
  // Everything a run needs is checked before anything is read or written.
  train::validate_config(config, config_name, o.overrides, train::ConfigCheck::run);
  // How often to checkpoint changes no result, so a resumed run may change it too.
  if (o.checkpoint_every) {
    check(*o.checkpoint_every > 0, "--checkpoint-every", "must be a positive number of optimiser steps");
    config["training"]["checkpoint_every"] = *o.checkpoint_every;
  }
  r.output_dir = !o.resume.empty() ? o.resume : o.output.empty() ? text_field(config, "output", "dir") : o.output;
  if (r.output_dir.empty()) fail(o.config, "no output directory: set output.dir in the config or pass --output");
  const fs::path out(r.output_dir);
  r.model_path = (out / "model.safetensors").string();
  r.metrics_csv = (out / "metrics.csv").string();
  r.eval_csv = (out / "eval.csv").string();
  r.eval_json = (out / "eval.json").string();
  torch::manual_seed(r.seed);
  // A data-parallel worker joins its process group once the configuration is
  // known to be good (every worker checks the same one).
  const auto dp = train::DataParallel::from_environment(o.sync_batch_norm);
  if (dp) {
    r.wrote_outputs = dp->writes_outputs();
    if (!r.wrote_outputs) spdlog::set_level(spdlog::level::warn);  // rank 0 tells the progress
  }

  const train::EpochCallback on_epoch = [&](const train::EpochRecord& e) {
    r.epochs.push_back(e);
    if (!o.progress) return;
    o.progress({"epoch", e.epoch, e.max_epochs,
                {{"train_loss", e.train_loss}, {e.score_name, e.score}, {"best_" + e.score_name, e.best_score},
                 {"lr", e.lr}, {"seconds", e.seconds}}});
  };
  if (train::is_retina_config(config)) {
    r.family = "retina";
    std::optional<OutputFolder> folder;
    if (r.wrote_outputs) folder.emplace(r.output_dir);
    train_retina_run(config, o, r, on_epoch, dp);
  } else {
    r.family = "v1";
    train_v1_run(config, o, r, on_epoch, dp);
  }
  if (r.wrote_outputs) eval::write_report(r.evaluation, r.eval_csv, r.eval_json);
  return r;
}

}  // namespace fovea::api
