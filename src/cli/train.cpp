// fovea train --config F [key=value ...]: fit a model, write the model file,
// the per-epoch metrics and the evaluation on the test set (api::train).
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "cli/print_report.h"
#include "fovea/api/train.h"
#include "fovea/train/distributed.h"

namespace fovea::cli {

namespace {
void print_result(const api::TrainResult& r) {
  std::cout << "model: " << r.model_path << " (" << r.model->n_parameters() << " parameters; ";
  if (r.family == "retina") {
    if (r.training.has_best())
      std::cout << "best " << r.training.score_name << " " << r.training.best_score << " at epoch "
                << r.training.best_epoch + 1;
    else
      std::cout << "no finite " << r.training.score_name;
    std::cout << "; " << r.training.stop_reason << ")\n";
    print_retina_summary(r.evaluation);
    return;
  }
  std::cout << r.training.stop_reason << ")\n";
  const auto& feve = r.evaluation.summary["mean"]["feve"];
  if (feve.is_null()) {  // no repeated test trials
    print_v1_summary(r.evaluation, r.fev_threshold);
    return;
  }
  std::cout << "FEVE: " << feve.get<double>() << " (mean over " << r.evaluation.summary["n_included"]
            << " neurons with FEV > " << r.fev_threshold << ")\n";
}
}  // namespace

// This process's command line without argv[0] and --nproc-per-node: what
// each worker of `--nproc-per-node N` runs.
std::vector<std::string> worker_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0, end; start < all.size(); start = end + 1) {
    end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(start, end - start));
  }
  std::vector<std::string> kept;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc-per-node") ++i;
    else if (args[i].rfind("--nproc-per-node=", 0) != 0) kept.push_back(args[i]);
  }
  return kept;
}

void add_train_command(CLI::App& app) {
  struct Args {
    api::TrainOptions train;
    RuntimeOptions runtime;
    int64_t nproc_per_node = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "fit a model from a YAML configuration");
  cmd->add_option("--config", args->train.config, "YAML run configuration (see configs/)");
  cmd->add_option("--resume", args->train.resume,
                  "continue a killed run from its output folder's last checkpoint (with the configuration it saved)");
  cmd->add_flag("!--no-checkpoint", args->train.checkpoint, "do not write checkpoint.pt after every epoch");
  cmd->add_option("--checkpoint-every", args->train.checkpoint_every,
                  "also write checkpoint.pt after every N optimiser steps inside epochs (training.checkpoint_every)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("overrides", args->train.overrides, "key=value overrides, e.g. training.lr=0.002 data.downsample=2");
  cmd->add_option("-o,--output", args->train.output, "output directory (default: output.dir of the config)");
  cmd->add_flag("-q,--quiet", args->train.quiet, "no progress bar");
  cmd->add_option("--nproc-per-node", args->nproc_per_node,
                  "data-parallel training with N worker processes on this machine (each with --threads threads); "
                  "across machines, launch with torchrun or srun instead");
  cmd->add_flag("!--no-sync-batch-norm", args->train.sync_batch_norm,
                "data-parallel: BatchNorm with each worker's batch statistics (DDP's default) instead of the global "
                "batch's (SyncBatchNorm)");
  add_runtime_options(cmd, args->runtime);
  cmd->callback([args, cmd] {
    if (args->train.config.empty() == args->train.resume.empty())
      throw CLI::ValidationError("train", "give either --config or --resume");
    // Without --seed, api::train seeds every generator with the config's seed.
    if (cmd->get_option("--seed")->count() > 0) args->train.seed = args->runtime.seed;
    args->train.device = args->runtime.device;
    apply_runtime_options(args->runtime);
    if (args->nproc_per_node > 0) {
      if (std::getenv("WORLD_SIZE"))
        throw CLI::ValidationError("--nproc-per-node", "this process is already a worker (WORLD_SIZE is set)");
      train::LaunchOptions launch;
      launch.nproc = args->nproc_per_node;
      launch.args = worker_arguments();
      train::launch_local_workers(launch);  // rank 0 printed the result
      return;
    }
    const auto result = api::train(args->train);
    if (result.wrote_outputs) print_result(result);
  });
}

}  // namespace fovea::cli
