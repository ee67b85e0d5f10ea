#include "fovea/api/sweep.h"

#include <c10/util/Exception.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>
#include <thread>

#include "fovea/api/runtime.h"
#include "fovea/api/train.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/yaml.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_experiment.h"
#include "fovea/train/sweep_claim.h"

extern char** environ;

namespace fovea::api {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kSweepFile = "sweep.json";
constexpr const char* kResultFile = "result.json";
constexpr int kSweepFormat = 1;

std::string trial_dir(const std::string& dir, int64_t index, int64_t n) {
  const int width = std::max<int>(4, static_cast<int>(std::to_string(std::max<int64_t>(n - 1, 0)).size()));
  std::ostringstream name;
  name << "trial_" << std::setw(width) << std::setfill('0') << index;
  return (fs::path(dir) / name.str()).string();
}

// The validation score a training run with this configuration reports
// (TrainingTask::score_name: retina_task.cpp, v1_task.h).
std::string reported_score(const Json& config) {
  if (!train::is_retina_config(config)) return "val_varexp";
  const Json& t = config.contains("training") ? config["training"] : Json::object();
  return t.value("validation_score", std::string("correlation")) == "poisson_loss" ? "val_poisson_loss"
                                                                                    : "val_correlation";
}

// A trial's configuration as api::train will read it, checked as `fovea
// train` checks it: messages name the configuration and the override.
Json trial_config(const SweepPlan& plan, const std::vector<std::string>& overrides) {
  Json config = train::config_from_yaml(plan.config.dump(), plan.config_name, overrides);
  Json run = config;
  if (!run.contains("seed") || run["seed"].is_null()) run["seed"] = 0;
  run["device"] = "cpu";
  train::validate_config(run, plan.config_name, overrides, train::ConfigCheck::run);
  return config;
}

// The part of sweep.json that makes a sweep what it is: a folder continues a
// sweep only when these agree.
Json definition_of(const SweepPlan& plan, const std::vector<std::string>& params, int64_t n_trials, uint64_t seed) {
  Json d = {{"config", plan.config}, {"params", params}, {"search", plan.search}, {"trials", n_trials},
            {"objective", plan.objective}};
  if (plan.search == "random") d["seed"] = seed;
  return d;
}

Json params_json(const train::TrialParams& params) {
  Json o = Json::array();
  for (const auto& [key, value] : params) o.push_back({key, value});
  return o;
}

// The sweep stored in DIR/sweep.json, for `fovea sweep --out DIR` without --config.
SweepOptions stored_options(const std::string& dir) {
  const std::string path = (fs::path(dir) / kSweepFile).string();
  if (!fs::exists(path)) fail(dir, "no sweep.json: not a sweep folder (start a sweep with --config and --param)");
  Json s;
  try {
    s = Json::parse(io::read_file(path));
  } catch (const Json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
  SweepOptions o;
  o.out = dir;
  try {
    const Json& d = s.at("definition");
    o.params = d.at("params").get<std::vector<std::string>>();
    o.search = d.at("search").get<std::string>();
    o.trials = d.at("trials").get<int64_t>();
    o.seed = d.value("seed", uint64_t{0});
    o.objective = d.at("objective").get<std::string>();
  } catch (const Json::exception& e) {
    fail(path, std::string("not a fovea sweep file: ") + e.what());
  }
  return o;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number_text(double x) {
  if (std::isnan(x)) return "nan";
  std::ostringstream s;
  s << std::setprecision(10) << x;
  return s.str();
}

// JSON as block YAML (yaml-cpp's emitter): numbers and booleans as nlohmann
// prints them (the shortest text that reads back exactly; the emitter's own
// double formatting rounds), strings quoted when they would read back as
// another type ("1e-3", "true", "null").
void emit_yaml(YAML::Emitter& out, const Json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, value] : j.items()) {
      out << YAML::Key << key << YAML::Value;
      emit_yaml(out, value);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    const bool flat = std::all_of(j.begin(), j.end(), [](const Json& x) { return x.is_primitive(); });
    out << (flat ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
    for (const auto& x : j) emit_yaml(out, x);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    Json back;
    try {
      back = io::parse_yaml(s, "string");
    } catch (const Error&) {
    }
    if (back == j) out << s;
    else out << YAML::DoubleQuoted << s;
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

std::string to_yaml(const Json& j) {
  YAML::Emitter out;
  emit_yaml(out, j);
  return std::string(out.c_str()) + "\n";
}

Json result_json(const TrialResult& r, const std::string& objective) {
  Json params = Json::object();
  for (const auto& [key, value] : r.params) params[key] = value;
  return {{"trial", r.trial},
          {"params", params},
          {"status", r.status},
          {"objective", objective},
          {"value", std::isnan(r.objective) ? Json(nullptr) : Json(r.objective)},
          {"best_epoch", r.best_epoch},
          {"epochs", r.epochs},
          {"seconds", r.seconds},
          {"attempts", r.attempts},
          {"stop_reason", r.stop_reason},
          {"error", r.error},
          {"worker", r.worker}};
}

TrialResult read_result(const SweepTrial& t, const std::string& path) {
  TrialResult r;
  r.trial = t.index;
  r.params = t.params;
  Json j;
  try {
    j = Json::parse(io::read_file(path));
    r.status = j.at("status").get<std::string>();
    r.objective = j.at("value").is_null() ? std::nan("") : j.at("value").get<double>();
    r.best_epoch = j.at("best_epoch").get<int64_t>();
    r.epochs = j.at("epochs").get<int64_t>();
    r.seconds = j.at("seconds").get<double>();
    r.attempts = j.at("attempts").get<int>();
    r.stop_reason = j.at("stop_reason").get<std::string>();
    r.error = j.at("error").get<std::string>();
    r.worker = j.at("worker").get<std::string>();
  } catch (const Json::exception& e) {
    fail(path, std::string("not a fovea trial result: ") + e.what());
  }
  return r;
}

// Runs one claimed trial; its result.json appears only when it finished.
TrialResult run_trial(const SweepPlan& plan, const SweepTrial& t, const train::TrialClaim& claim,
                      const SweepWorkerOptions& options) {
  TrialResult r;
  r.trial = t.index;
  r.params = t.params;
  r.attempts = claim.attempts();
  r.worker = train::host_name() + " " + std::to_string(getpid());
  TrainOptions o;
  o.output = t.dir;
  o.device = options.device;
  o.quiet = true;
  if (fs::exists(fs::path(t.dir) / "run_config.json")) {
    o.resume = t.dir;  // an earlier worker died in this trial: continue from its checkpoint
    o.output.clear();
  } else {
    o.config = plan.config_name;
    o.config_text = plan.config.dump();
    o.overrides = train::trial_overrides(t.params);
  }
  const auto level = spdlog::get_level();
  if (!options.log_training) spdlog::set_level(spdlog::level::warn);
  const auto start = std::chrono::steady_clock::now();
  try {
    const TrainResult run = train(o);
    r.status = "done";
    r.stop_reason = run.training.stop_reason;
    r.epochs = run.training.epochs_run;
    if (run.training.score_name != plan.objective) {
      r.status = "failed";
      r.error = "the training reports " + run.training.score_name + ", not the objective " + plan.objective;
    } else if (run.training.has_best()) {
      r.objective = run.training.best_score;
      r.best_epoch = run.training.best_epoch + 1;
    }
  } catch (const c10::Error& e) {
    r.status = "failed";
    r.error = e.what_without_backtrace();
  } catch (const std::exception& e) {  // fovea::Error, bad_alloc, ...: this trial's settings failed
    r.status = "failed";
    r.error = e.what();
  }
  spdlog::set_level(level);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  io::write_file_atomic((fs::path(t.dir) / kResultFile).string(), result_json(r, plan.objective).dump(2) + "\n");
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

SweepPlan prepare_sweep(const SweepOptions& given) {
  if (given.out.empty()) fail_option("--out", "give the sweep folder");
  SweepOptions o = given;
  const bool continuing = o.config.empty();
  if (continuing) {
    if (!o.params.empty() || !o.overrides.empty() || !o.search.empty() || o.trials != 0 || !o.objective.empty())
      fail_option("--config", "without --config, fovea sweep continues the sweep in " + o.out +
                                  " as its sweep.json describes it; give --param, overrides, --search, --trials and "
                                  "--objective only with --config");
    o = stored_options(o.out);
  }
  SweepPlan plan;
  plan.dir = o.out;
  const std::string sweep_file = (fs::path(o.out) / kSweepFile).string();
  if (continuing) {
    const Json s = Json::parse(io::read_file(sweep_file));
    plan.config = s.at("definition").at("config");
    plan.config_name = s.value("config_name", sweep_file);
    if (!plan.config.is_object()) fail(sweep_file, "'definition.config' is not a configuration");
  } else {
    plan.config = train::load_config(o.config, o.overrides);
    plan.config_name = o.config;
  }

  if (o.params.empty()) fail_option("--param", "give at least one axis, e.g. --param 'training.lr=[0.001,0.01]'");
  std::vector<train::SearchAxis> axes;
  for (const auto& p : o.params) {
    axes.push_back(train::parse_search_axis(p));
    if (std::count(plan.keys.begin(), plan.keys.end(), axes.back().key))
      fail("--param '" + p + "'", "'" + axes.back().key + "' is already an axis");
    plan.keys.push_back(axes.back().key);
  }
  const bool all_lists = std::all_of(axes.begin(), axes.end(),
                                     [](const auto& a) { return a.kind == train::SearchAxis::Kind::choice; });
  plan.search = o.search.empty() ? (all_lists ? "grid" : "random") : o.search;
  std::vector<train::TrialParams> params;
  if (plan.search == "grid") {
    params = train::grid_trials(axes);
    if (o.trials != 0 && o.trials != static_cast<int64_t>(params.size()))
      fail_option("--trials", "a grid runs every combination of its axes (" + std::to_string(params.size()) +
                                  " here); --trials is for --search random");
  } else if (plan.search == "random") {
    if (o.trials <= 0) fail_option("--trials", "random search needs the number of trials, e.g. --trials 20");
    for (int64_t i = 0; i < o.trials; ++i) params.push_back(train::random_trial(axes, o.seed, i));
  } else {
    fail_option("--search", "must be grid or random, got '" + plan.search + "'");
  }

  // Every trial's configuration is checked before anything is written.
  std::set<std::string> scores;
  for (size_t i = 0; i < params.size(); ++i) {
    const Json config = trial_config(plan, train::trial_overrides(params[i]));
    scores.insert(reported_score(config));
    plan.trials.push_back({static_cast<int64_t>(i), trial_dir(plan.dir, static_cast<int64_t>(i), params.size()),
                           params[i]});
  }
  if (scores.size() > 1)
    fail_option("--param", "the trials would report different validation scores; keep training.validation_score "
                           "out of the search");
  const std::string reported = *scores.begin();
  plan.objective = o.objective.empty() ? reported : o.objective;
  if (plan.objective != reported)
    fail_option("--objective", "the trials' training reports " + reported + ", not '" + plan.objective +
                                   "' (retina: training.validation_score correlation -> val_correlation, "
                                   "poisson_loss -> val_poisson_loss; V1: val_varexp)");
  plan.maximize = plan.objective.size() < 5 || plan.objective.compare(plan.objective.size() - 5, 5, "_loss") != 0;

  const Json definition = definition_of(plan, o.params, static_cast<int64_t>(params.size()), o.seed);
  if (fs::exists(sweep_file)) {
    Json stored;
    try {
      stored = Json::parse(io::read_file(sweep_file)).at("definition");
    } catch (const Json::exception& e) {
      fail(sweep_file, std::string("not a fovea sweep file: ") + e.what());
    }
    for (const auto& [key, value] : definition.items())
      if (!stored.contains(key) || stored[key] != value)
        fail(sweep_file, "this folder holds a different sweep (its '" + key +
                             "' differs); continue it with `fovea sweep --out " + plan.dir +
                             "` or choose another --out");
  } else {
    if (fs::exists(plan.dir) && !fs::is_directory(plan.dir)) fail(plan.dir, "exists and is not a folder");
    if (fs::is_directory(plan.dir) && !fs::is_empty(plan.dir))
      fail(plan.dir, "is not empty and holds no sweep.json: choose a new or empty folder for the sweep");
    Json trials = Json::array();
    for (const auto& t : plan.trials) trials.push_back({{"trial", t.index}, {"params", params_json(t.params)}});
    const Json file = {{"fovea_sweep", kSweepFormat},   {"config_name", plan.config_name},
                       {"definition", definition},      {"direction", plan.maximize ? "maximize" : "minimize"},
                       {"trial_list", trials}};
    io::make_directories(plan.dir);
    io::write_file_atomic(sweep_file, file.dump(2) + "\n");
  }
  return plan;
}

int64_t run_sweep_worker(const SweepPlan& plan, const SweepWorkerOptions& options) {
  if (options.parent_pid > 0) {
    // Die with the `fovea sweep` that started this worker; its trial's claim
    // lock goes with it, so the trial is taken over when the sweep restarts.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != static_cast<pid_t>(options.parent_pid)) return 0;
  }
  const auto n = static_cast<int64_t>(plan.trials.size());
  int64_t ran = 0;
  // Passes over the trials until one claims nothing: a trial whose worker
  // died during a pass is taken over by the next.
  for (bool claimed = true; claimed;) {
    claimed = false;
    for (const auto& t : plan.trials) {
      const std::string result = (fs::path(t.dir) / kResultFile).string();
      if (fs::exists(result)) continue;
      const auto claim = train::TrialClaim::acquire(t.dir, result);
      if (!claim) continue;
      claimed = true;
      if (options.on_trial) {
        SweepEvent e{claim->attempts() > 1 ? "resumed" : "started", {}, n};
        e.trial.trial = t.index;
        e.trial.params = t.params;
        e.trial.attempts = claim->attempts();
        options.on_trial(e);
      }
      TrialResult r = run_trial(plan, t, *claim, options);
      ++ran;
      if (options.on_trial) options.on_trial({"finished", std::move(r), n});
    }
  }
  collect_sweep(plan);
  return ran;
}

SweepSummary collect_sweep(const SweepPlan& plan) {
  SweepSummary s;
  s.complete = true;
  for (const auto& t : plan.trials) {
    const std::string path = (fs::path(t.dir) / kResultFile).string();
    if (fs::exists(path)) {
      s.trials.push_back(read_result(t, path));
    } else {
      TrialResult r;
      r.trial = t.index;
      r.params = t.params;
      s.trials.push_back(r);
      s.complete = false;
    }
  }
  for (size_t i = 0; i < s.trials.size(); ++i) {
    const auto& r = s.trials[i];
    if (r.status != "done" || !std::isfinite(r.objective)) continue;
    if (s.best < 0) s.best = static_cast<int64_t>(i);
    const double best = s.trials[s.best].objective;
    if (plan.maximize ? r.objective > best : r.objective < best) s.best = static_cast<int64_t>(i);
  }
  if (!s.complete) return s;

  std::ostringstream csv;
  csv << "trial";
  for (const auto& key : plan.keys) csv << "," << csv_field(key);
  csv << "," << plan.objective << ",best_epoch,epochs,seconds,status\n";
  for (const auto& r : s.trials) {
    csv << r.trial;
    for (const auto& [key, value] : r.params) csv << "," << csv_field(value.dump());
    csv << "," << number_text(r.objective) << "," << r.best_epoch << "," << r.epochs << "," << number_text(r.seconds)
        << "," << r.status << "\n";
  }
  s.results_csv = (fs::path(plan.dir) / "results.csv").string();
  io::write_file_atomic(s.results_csv, csv.str());
  if (s.best >= 0) {
    const auto& best = s.trials[s.best];
    const Json config = train::config_from_yaml(plan.config.dump(), plan.config_name,
                                                train::trial_overrides(best.params));
    s.best_config = (fs::path(plan.dir) / "best_config.yaml").string();
    io::write_file_atomic(s.best_config, "# fovea sweep " + plan.dir + ": the best of " +
                                             std::to_string(s.trials.size()) + " trials, trial " +
                                             std::to_string(best.trial) + " (" + plan.objective + " " +
                                             number_text(best.objective) + ")\n" + to_yaml(config));
  }
  return s;
}

SweepSummary run_sweep(const SweepPlan& plan, const LocalWorkers& w) {
  if (w.workers < 1) fail_option("--workers", "must be at least 1");
  if (w.executable.empty()) fail_option("executable", "run_sweep needs the fovea binary that runs the workers");
  // No more workers than trials; the threads are shared evenly among them.
  const int64_t n_workers = std::min<int64_t>(w.workers, std::max<int64_t>(1, static_cast<int64_t>(plan.trials.size())));
  const int cores = w.threads > 0 ? w.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max<int>(1, cores / static_cast<int>(n_workers));
  const std::string parent = std::to_string(getpid());
  std::vector<pid_t> children;
  for (int64_t i = 0; i < n_workers; ++i) {
    std::vector<std::string> args = {w.executable, "sweep",     "--worker",  "--out",        plan.dir,
                                     "--threads",  std::to_string(threads), "--device", w.device,
                                     "--kernels",  w.kernels,   "--parent-pid", parent};
    if (w.log_training) args.push_back("--log-training");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, w.executable.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) {
      for (pid_t c : children) kill(c, SIGTERM);
      for (pid_t c : children) waitpid(c, nullptr, 0);
      fail(w.executable, std::string("cannot start a sweep worker: ") + std::strerror(rc));
    }
    children.push_back(pid);
  }
  int failed = 0, first_status = 0;
  for (pid_t c : children) {
    int status = 0;
    while (waitpid(c, &status, 0) < 0 && errno == EINTR) {
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && failed++ == 0) first_status = code;
  }
  SweepSummary s = collect_sweep(plan);
  if (!s.complete && failed > 0)
    fail(plan.dir, std::to_string(failed) + " of " + std::to_string(n_workers) + " workers failed (exit status " +
                       std::to_string(first_status) + "; see their messages above) and trials are left; " +
                       "continue with `fovea sweep --out " + plan.dir + "`");
  return s;
}

std::string slurm_array_script(const SweepPlan& plan, const SlurmArray& o) {
  const int64_t n = static_cast<int64_t>(plan.trials.size());
  const int64_t tasks = o.tasks > 0 ? std::min(o.tasks, n) : n;
  if (o.cpus_per_task < 1) fail_option("--slurm-cpus-per-task", "must be at least 1");
  const std::string dir = fs::absolute(plan.dir).lexically_normal().string();
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "#SBATCH --job-name=fovea-sweep\n"
    << "#SBATCH --array=0-" << tasks - 1 << "\n"
    << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n"
    << "#SBATCH --output=" << dir << "/slurm-%A_%a.out\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (o.device.rfind("cuda", 0) == 0) s << "#SBATCH --gres=gpu:1\n";
  s << "# fovea sweep: " << n << " trials (" << plan.search << " search, objective " << plan.objective << ", "
    << (plan.maximize ? "maximised" : "minimised") << ") in " << dir << ".\n"
    << "# Every array task is a worker that claims trials in the shared folder until none is left, so each\n"
    << "# trial runs once; submit the script again to continue after a task was killed (its trial resumes\n"
    << "# from its checkpoint). The folder needs a file system shared by the nodes, with flock (NFSv4, Lustre\n"
    << "# mounted with -o flock, GPFS). When all trials are done, results.csv and best_config.yaml appear there.\n"
    << "exec " << shell_quote(o.executable) << " sweep --worker --out " << shell_quote(dir)
    << " --threads \"${SLURM_CPUS_PER_TASK:-1}\" --device " << shell_quote(o.device) << "\n";
  return s.str();
}

}  // namespace fovea::api
