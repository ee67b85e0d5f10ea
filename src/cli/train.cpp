// fovea train --config F [key=value ...]: fit a model, write the model file,
// the per-epoch metrics and the evaluation on the test set (api::train).
#include <iostream>

#include "cli/commands.h"
#include "cli/print_report.h"
#include "fovea/api/train.h"

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

void add_train_command(CLI::App& app) {
  struct Args {
    api::TrainOptions train;
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "fit a model from a YAML configuration");
  cmd->add_option("--config", args->train.config, "YAML run configuration (see configs/)");
  cmd->add_option("--resume", args->train.resume,
                  "continue a killed run from its output folder's last checkpoint (with the configuration it saved)");
  cmd->add_flag("!--no-checkpoint", args->train.checkpoint, "do not write checkpoint.pt after every epoch");
  cmd->add_option("overrides", args->train.overrides, "key=value overrides, e.g. training.lr=0.002 data.downsample=2");
  cmd->add_option("-o,--output", args->train.output, "output directory (default: output.dir of the config)");
  cmd->add_flag("-q,--quiet", args->train.quiet, "no progress bar");
  add_runtime_options(cmd, args->runtime);
  cmd->callback([args, cmd] {
    if (args->train.config.empty() == args->train.resume.empty())
      throw CLI::ValidationError("train", "give either --config or --resume");
    // Without --seed, api::train seeds every generator with the config's seed.
    if (cmd->get_option("--seed")->count() > 0) args->train.seed = args->runtime.seed;
    args->train.device = args->runtime.device;
    apply_runtime_options(args->runtime);
    print_result(api::train(args->train));
  });
}

}  // namespace fovea::cli
