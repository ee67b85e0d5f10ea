#pragma once
// `fovea sweep`: a hyperparameter search over any config keys, each trial a
// full training run (api::train) in its own folder of the sweep folder DIR:
//
//   DIR/sweep.json          the sweep: base configuration, axes, search, seed,
//                           objective and the trial list (written once)
//   DIR/trial_0003/         the trial's training output (run_config.json,
//                           checkpoint.pt, metrics.csv, model, eval), its
//                           claim (train/sweep_claim.h) and result.json
//   DIR/results.csv         one row per trial, once every trial has a result
//   DIR/best_config.yaml    the configuration of the best trial
//
// Workers coordinate only through DIR: each claims the next unclaimed trial
// by creating its claim file, so any number of worker processes on any
// machines sharing DIR run one sweep, and a killed sweep, started again,
// continues: finished trials are kept, a trial whose worker died is taken
// over and its training resumed from its checkpoint.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "fovea/train/sweep_space.h"

namespace fovea::api {

struct SweepOptions {
  std::string out;                     // --out DIR: the sweep folder
  // --config: the base configuration; "" continues the sweep in `out` as its
  // sweep.json describes it (then give no overrides, params or search options).
  std::string config;
  std::vector<std::string> overrides;  // key=value set in every trial (as `fovea train`)
  std::vector<std::string> params;     // --param key=[a,b,...] | key=uniform(a,b) | loguniform(a,b) | int(a,b)
  std::string search;                  // "grid", "random", or "": grid when every axis is a list
  int64_t trials = 0;                  // random search: the number of trials (required); grid: leave 0
  uint64_t seed = 0;                   // random search's seed (trial i depends only on seed and i)
  // The validation score to optimise, as the training reports it
  // (val_correlation, val_poisson_loss, val_varexp); "" : the trials' own.
  // A score named *_loss is minimised, the others maximised.
  std::string objective;
};

struct SweepTrial {
  int64_t index = 0;
  std::string dir;                     // DIR/trial_0003
  train::TrialParams params;           // (key, value) in the axes' order
};

// A sweep as DIR/sweep.json holds it.
struct SweepPlan {
  std::string dir;
  std::string config_name;             // the base configuration's file, for messages
  nlohmann::json config;               // the base configuration, overrides applied
  std::vector<std::string> keys;       // the axes' keys, in order
  std::string search;                  // grid | random
  std::string objective;               // e.g. val_correlation
  bool maximize = true;
  std::vector<SweepTrial> trials;
};

// Reads the configuration and the axes and checks every trial's
// configuration as `fovea train` would (an unknown key, a wrong type, a
// missing data file: fovea::Error before anything is written); then writes
// DIR/sweep.json, or, when DIR already holds a sweep, checks that it is this
// one (fovea::Error naming what differs) and continues it.
SweepPlan prepare_sweep(const SweepOptions& options);

struct TrialResult {
  int64_t trial = 0;
  train::TrialParams params;
  std::string status = "pending";      // done | failed (training threw; `error` says why) | pending
  double objective = std::numeric_limits<double>::quiet_NaN();  // the best validation score (NaN: none)
  int64_t best_epoch = 0;              // 1-based; 0: none
  int64_t epochs = 0;                  // epochs trained
  double seconds = 0;                  // wall time of the trial's training and evaluation (its last attempt's)
  int attempts = 0;                    // times claimed (> 1: resumed after its worker died)
  std::string stop_reason, error, worker;  // worker: "host pid"
};

struct SweepEvent {
  std::string what;                    // "started", "resumed" or "finished"
  TrialResult trial;                   // for "finished": the result
  int64_t n_trials = 0;
};
using SweepCallback = std::function<void(const SweepEvent&)>;

struct SweepWorkerOptions {
  std::string device = "cpu";
  // > 0: this worker was started by that process (run_sweep) and dies with it
  // (PR_SET_PDEATHSIG), leaving its trial to be resumed.
  int64_t parent_pid = 0;
  bool log_training = false;           // the trainings' info lines (per epoch); off: warnings only
  SweepCallback on_trial;
};

// Claims and runs trials until every trial is finished or held by another
// live worker; returns how many this worker ran. Each trial trains with
// api::train into its folder (resuming from the folder's checkpoint when an
// earlier worker died in it) and gets result.json, written atomically. When
// the worker ends and every trial has a result, it writes the results
// (collect_sweep).
int64_t run_sweep_worker(const SweepPlan& plan, const SweepWorkerOptions& options);

struct SweepSummary {
  std::vector<TrialResult> trials;     // in trial order; "pending" where no result yet
  int64_t best = -1;                   // index into trials of the best finished one; -1: none
  bool complete = false;               // every trial has a result
  std::string results_csv, best_config;  // written when complete ("" otherwise; best_config "" without a best)
};

// Reads the trials' results; when every trial has one, writes DIR/results.csv
// (trial, each parameter, the objective, best_epoch, epochs, seconds, status)
// and DIR/best_config.yaml (the best trial's configuration), atomically.
SweepSummary collect_sweep(const SweepPlan& plan);

struct LocalWorkers {
  std::string executable;              // the `fovea` binary the workers run (`fovea sweep --worker`)
  int64_t workers = 1;
  int threads = 0;                     // CPU threads of all workers together (0: all cores), shared evenly
  std::string device = "cpu", kernels = "fast";
  bool log_training = false;           // SweepWorkerOptions::log_training
};

// Runs the sweep with `workers` local worker processes (each trial trains in
// a worker process, never in the caller's), waits for them and returns
// collect_sweep. fovea::Error when a worker failed and trials are left.
SweepSummary run_sweep(const SweepPlan& plan, const LocalWorkers& workers);

struct SlurmArray {
  std::string executable;              // the `fovea` binary on the cluster's nodes
  int64_t tasks = 0;                   // array tasks (workers); 0: one per trial
  int cpus_per_task = 4;
  std::string time, partition;         // #SBATCH --time / --partition when given
  std::string device = "cpu";          // cuda: each task asks for one GPU
};

// An sbatch script whose array tasks are workers of the sweep in plan.dir
// (`fovea sweep --worker --out DIR`): submit it once, or again to continue.
std::string slurm_array_script(const SweepPlan& plan, const SlurmArray& options);

}  // namespace fovea::api
