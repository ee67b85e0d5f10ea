// fovea sweep --config F --param key=SPEC ... --out DIR: a hyperparameter
// search, each trial a training run (api/sweep.h); --worker runs one worker
// of a sweep, --print-slurm-array prints the array job of such workers.
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/sweep.h"
#include "fovea/train/trainer.h"

namespace fovea::cli {

namespace {

std::string params_text(const train::TrialParams& params) {
  std::string s;
  for (const auto& [key, value] : params) s += (s.empty() ? "" : " ") + key + "=" + value.dump();
  return s;
}

void print_event(const api::SweepEvent& e) {
  const auto& t = e.trial;
  std::cout << "trial " << t.trial << " (of " << e.n_trials << ") ";
  if (e.what != "finished") {
    std::cout << e.what << ": " << params_text(t.params);
    if (e.what == "resumed") std::cout << " (attempt " << t.attempts << ")";
  } else if (t.status == "done") {
    std::cout << "done: " << train::score_text(t.objective);
    if (t.best_epoch > 0) std::cout << " at epoch " << t.best_epoch;
    std::cout << " (" << std::fixed << std::setprecision(1) << t.seconds << std::defaultfloat << " s)";
  } else {
    std::cout << "failed: " << t.error;
  }
  std::cout << std::endl;
}

void print_summary(const api::SweepPlan& plan, const api::SweepSummary& s) {
  int64_t done = 0, failed = 0;
  for (const auto& t : s.trials) {
    done += t.status == "done";
    failed += t.status == "failed";
  }
  std::cout << plan.dir << ": " << done << " of " << s.trials.size() << " trials done";
  if (failed) std::cout << ", " << failed << " failed";
  if (!s.complete) std::cout << ", " << s.trials.size() - done - failed << " running or left";
  std::cout << "\n";
  if (s.best >= 0) {
    const auto& b = s.trials[s.best];
    std::cout << "best: trial " << b.trial << " " << plan.objective << " " << train::score_text(b.objective) << " ("
              << params_text(b.params) << ")\n";
  }
  if (!s.results_csv.empty()) std::cout << "results: " << s.results_csv << "\n";
  if (!s.best_config.empty()) std::cout << "best configuration: " << s.best_config << "\n";
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  struct Args {
    api::SweepOptions sweep;
    RuntimeOptions runtime;
    int64_t workers = 1;
    bool worker = false, slurm = false, log_training = false;
    int64_t parent_pid = 0;
    api::SlurmArray slurm_options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "sweep", "hyperparameter search: grid or seeded random search over config keys, one training run per trial");
  cmd->add_option("--config", args->sweep.config,
                  "YAML run configuration every trial starts from (without it: continue the sweep in --out)");
  cmd->add_option("overrides", args->sweep.overrides, "key=value overrides set in every trial, as in fovea train");
  cmd->add_option("--param", args->sweep.params,
                  "an axis: key=[a,b,...] (grid axis or choice) or key=uniform(a,b) | loguniform(a,b) | int(a,b) "
                  "(random search); repeatable")
      ->take_all();
  cmd->add_option("--search", args->sweep.search, "grid or random (default: grid when every axis is a list)")
      ->check(CLI::IsMember({"grid", "random"}));
  cmd->add_option("--trials", args->sweep.trials, "random search: number of trials")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->sweep.seed, "random search: seed of the trial list (trial i depends on seed and i)")
      ->capture_default_str();
  cmd->add_option("--objective", args->sweep.objective,
                  "validation score to optimise: val_correlation, val_poisson_loss (minimised) or val_varexp "
                  "(default: the one the training reports)");
  cmd->add_option("--out", args->sweep.out, "sweep folder: one folder per trial, results.csv, best_config.yaml")
      ->required();
  cmd->add_option("--workers", args->workers,
                  "local worker processes (or, with --print-slurm-array, array tasks; default there: one per trial)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--worker", args->worker,
                "run as one worker of the sweep in --out (as the Slurm array tasks do): claim and train trials "
                "until none is left");
  cmd->add_flag("--print-slurm-array", args->slurm,
                "check the sweep, write its sweep.json and print an sbatch array script whose tasks are its workers");
  cmd->add_option("--slurm-cpus-per-task", args->slurm_options.cpus_per_task, "Slurm: CPUs of each array task")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--slurm-time", args->slurm_options.time, "Slurm: time limit of each task (e.g. 24:00:00)");
  cmd->add_option("--slurm-partition", args->slurm_options.partition, "Slurm: partition");
  cmd->add_flag("--log-training", args->log_training, "show each training's per-epoch log lines");
  // run_sweep's workers die with the sweep that started them.
  cmd->add_option("--parent-pid", args->parent_pid)->group("");
  add_runtime_options(cmd, args->runtime, /*with_seed=*/false);
  cmd->callback([args, cmd] {
    if (args->worker && args->slurm) throw CLI::ValidationError("sweep", "give --worker or --print-slurm-array, not both");
    const auto plan = api::prepare_sweep(args->sweep);
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    if (args->slurm) {
      args->slurm_options.executable = self;
      args->slurm_options.device = args->runtime.device;
      args->slurm_options.tasks = cmd->get_option("--workers")->count() ? args->workers : 0;
      std::cout << api::slurm_array_script(plan, args->slurm_options);
      return;
    }
    if (args->worker) {
      apply_runtime_options(args->runtime);
      api::SweepWorkerOptions w;
      w.device = args->runtime.device;
      w.parent_pid = args->parent_pid;
      w.log_training = args->log_training;
      w.on_trial = print_event;
      api::run_sweep_worker(plan, w);
      if (args->parent_pid == 0) print_summary(plan, api::collect_sweep(plan));
      return;
    }
    if (args->runtime.device != "cpu" && args->runtime.device.rfind("cuda", 0) != 0)
      throw CLI::ValidationError("--device", "must be cpu or cuda, got '" + args->runtime.device + "'");
    api::LocalWorkers local;
    local.executable = self;
    local.workers = args->workers;
    local.threads = args->runtime.threads;
    local.device = args->runtime.device;
    local.kernels = args->runtime.kernels;
    local.log_training = args->log_training;
    const int64_t n_workers = std::min<int64_t>(local.workers, static_cast<int64_t>(plan.trials.size()));
    std::cout << "sweep " << plan.dir << ": " << plan.trials.size() << " trials (" << plan.search << " search, "
              << (plan.maximize ? "maximising " : "minimising ") << plan.objective << "), " << n_workers
              << " worker" << (n_workers > 1 ? "s" : "") << std::endl;
    print_summary(plan, api::run_sweep(plan, local));
  });
}

}  // namespace fovea::cli
