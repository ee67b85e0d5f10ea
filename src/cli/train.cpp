// fovea train --config F [key=value ...]: fit a model, write the model file,
// the per-epoch metrics and the evaluation on the test set.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <exception>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/retina_run.h"
#include "fovea/data/simulate_v1.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/report.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_file.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_experiment.h"
#include "fovea/train/v1_experiment.h"

namespace fovea::cli {

namespace {
struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string output;
  RuntimeOptions runtime;
  bool quiet = false;
  bool seed_given = false;
};

namespace fs = std::filesystem;

// The run's output folder: made when the run starts writing, and removed again
// when the run fails before anything was written into it (a folder that
// existed before is left alone).
class OutputFolder {
 public:
  explicit OutputFolder(std::string dir) : dir_(std::move(dir)), made_(!fs::exists(dir_)) { io::make_directories(dir_); }
  ~OutputFolder() {
    if (!made_ || std::uncaught_exceptions() <= exceptions_) return;
    std::error_code ec;
    if (fs::is_empty(dir_, ec) && !ec) fs::remove(dir_, ec);
  }
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

 private:
  std::string dir_;
  bool made_;
  int exceptions_ = std::uncaught_exceptions();
};

// section.key of a checked config when it is a string, else "".
std::string text_field(const train::Json& config, const std::string& section, const std::string& key) {
  if (!config.contains(section) || !config.at(section).is_object()) return "";
  const auto& s = config.at(section);
  return s.contains(key) && s.at(key).is_string() ? s.at(key).get<std::string>() : "";
}

void run_train(const TrainArgs& a) {
  train::Json config = train::load_config(a.config, a.overrides);  // known keys and their types
  // --seed overrides the config's seed; without it the config's (or 0) is used.
  if (a.seed_given || !config.contains("seed") || config["seed"].is_null()) config["seed"] = a.runtime.seed;
  config["device"] = a.runtime.device;
  // Everything a run needs is checked before anything is read or written.
  train::validate_config(config, a.config, a.overrides, train::ConfigCheck::run);
  const std::string out = a.output.empty() ? text_field(config, "output", "dir") : a.output;
  if (out.empty()) fail(a.config, "no output directory: set output.dir in the config or pass --output");
  if (train::is_retina_config(config)) {
    OutputFolder folder(out);
    run_train_retina(config, out, a.quiet);
    return;
  }

  const auto load = train::v1_load_options(config);
  spdlog::info("loading {} and {}", load.images_path, load.responses_path);
  auto dataset = data::load_v1_dataset(load);
  OutputFolder folder(out);
  spdlog::info("{} images of {}x{}, {} training trials ({} validation), {} neurons ({} with FEV > {})",
               dataset.images.size(0), dataset.images.size(1), dataset.images.size(2),
               dataset.train_responses.size(0), dataset.ival.numel(), dataset.n_neurons(),
               dataset.good_neurons.sum().item<int64_t>(), load.fev_threshold);

  auto run = train::train_v1(config, dataset, (fs::path(out) / "metrics.csv").string(), !a.quiet);
  const std::string model_path = (fs::path(out) / "model.safetensors").string();
  nn::save_model(model_path, *run.model);

  const std::string truth_path = text_field(config, "data", "truth");
  at::Tensor truth;
  if (!truth_path.empty())
    truth = data::read_test_rates(truth_path, dataset.test_responses.size(0), dataset.n_neurons());
  auto report = eval::evaluate_v1(*run.model, dataset, truth, a.runtime.device);
  eval::write_report(report, (fs::path(out) / "eval.csv").string(), (fs::path(out) / "eval.json").string());
  std::cout << "model: " << model_path << " (" << run.model->n_parameters() << " parameters; "
            << run.result.stop_reason << ")\n";
  std::cout << "FEVE: " << report.summary["mean"]["feve"].get<double>() << " (mean over "
            << report.summary["n_included"] << " neurons with FEV > " << load.fev_threshold << ")\n";
}
}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "fit a model from a YAML configuration");
  cmd->add_option("--config", args->config, "YAML run configuration (see configs/)")->required();
  cmd->add_option("overrides", args->overrides, "key=value overrides, e.g. training.lr=0.002 data.downsample=2");
  cmd->add_option("-o,--output", args->output, "output directory (default: output.dir of the config)");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress bar");
  add_runtime_options(cmd, args->runtime);
  cmd->callback([args, cmd] {
    args->seed_given = cmd->get_option("--seed")->count() > 0;
    if (!args->seed_given && args->runtime.seed == 0) {
      // Seed every generator with the config's seed, as --seed would.
      try {
        auto config = train::load_config(args->config, args->overrides);
        if (config.contains("seed") && config["seed"].is_number_integer() && config["seed"].get<int64_t>() >= 0)
          args->runtime.seed = config["seed"].get<uint64_t>();
      } catch (const fovea::Error&) {
        // run_train reports a bad config with its own message.
      }
    }
    apply_runtime_options(args->runtime);
    run_train(*args);
  });
}

}  // namespace fovea::cli
