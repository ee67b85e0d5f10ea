// `fovea sweep` (issue 18): a grid of 4 tiny retina trainings run by 2
// worker processes trains each trial once and reports each trial's own
// metrics; a sweep killed with SIGKILL continues without retraining its
// finished trials; random search gives the same trial list for the same seed;
// bad input is one line and leaves no folder.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_runner.h"
#include "fovea/io/yaml.h"

using fovea::test::run_fovea;
using fovea::test::slurp;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& line, char sep = ',') {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == sep && !quoted) out.push_back(std::exchange(field, ""));
    else field += c;
  }
  out.push_back(field);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// Whether `pid` runs (a zombie that no one reaps yet counts as gone).
bool alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] != 'Z';
}

// The best val_correlation of a trial's metrics.csv and its 1-based epoch.
std::pair<double, int> best_of_metrics(const std::string& path, int* rows = nullptr) {
  const auto ls = lines(slurp(path));
  const auto header = split(ls.at(0));
  const auto col = std::find(header.begin(), header.end(), "val_correlation") - header.begin();
  double best = -INFINITY;
  int epoch = 0;
  for (size_t i = 1; i < ls.size(); ++i) {
    const double v = std::stod(split(ls[i])[col]);
    if (v > best) best = v, epoch = std::stoi(split(ls[i])[0]);
  }
  if (rows) *rows = static_cast<int>(ls.size()) - 1;
  return {best, epoch};
}

class SweepCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new fovea::test::TempDir;
    auto r = run_fovea("simulate retina " + data_->file("data") +
                           " --sessions 1 --neurons-per-session 5 --train-frames 1200 --test-frames 60 --height 12 "
                           "--width 10 --seed 1",
                       *data_);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete data_; }

  // A one-layer retina model small enough to train an epoch in a few
  // hundredths of a second.
  std::string config(int epochs) {
    const std::string path = dir_.file("tiny.yaml");
    std::ofstream(path) << "family: retina\n"
                        << "data: {layout: hdf5, dir: " << data_->file("data")
                        << ", test_names: [test], clip_length: 60, num_val_clips: 4, split_seed: 1}\n"
                        << "model:\n  hidden_channels: [4]\n"
                        << "  core: {type: simple_core_wrapper, temporal_kernel_sizes: [11], spatial_kernel_sizes: "
                           "[7], convolution_type: custom_separable, input_padding: 0, hidden_padding: 0, "
                           "gamma_temporal: 0.0, cut_first_n_frames: 0}\n"
                        << "  readout: {type: gaussian_mask, scale: true, bias: true, gaussian_mean_scale: 6.0, "
                           "gaussian_var_scale: 4.0, positive: true, mask_l1_reg: 0.1, feature_weights_l1_reg: 0.1}\n"
                        << "training: {batch_size: 16, chunk_size: 30, max_epochs: " << epochs
                        << ", lr_schedule: plateau}\noutput: {dir: " << dir_.file("unused") << "}\nseed: 1\n";
    return path;
  }

  static std::string grid_params() {
    return "--param 'model.hidden_channels=[[2],[4]]' --param 'training.lr=[0.01,0.003]'";
  }

  static fovea::test::TempDir* data_;
  fovea::test::TempDir dir_;
};

fovea::test::TempDir* SweepCli::data_ = nullptr;

TEST_F(SweepCli, GridOfFourWithTwoWorkersTrainsEachTrialOnceAndReportsItsOwnMetrics) {
  constexpr int kEpochs = 2;
  const std::string out = dir_.file("sweep");
  auto r = run_fovea("sweep --config " + config(kEpochs) + " " + grid_params() + " --workers 2 --threads 2 --out " + out,
                     dir_);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("4 of 4 trials done"), std::string::npos) << r.out;

  // Grid order: the last axis varies fastest.
  const std::vector<std::pair<Json, double>> grid = {{{2}, 0.01}, {{2}, 0.003}, {{4}, 0.01}, {{4}, 0.003}};
  const auto rows = lines(slurp(out + "/results.csv"));
  ASSERT_EQ(rows.size(), 5u) << slurp(out + "/results.csv");
  EXPECT_EQ(rows[0], "trial,model.hidden_channels,training.lr,val_correlation,best_epoch,epochs,seconds,status");
  int best_row = -1;
  double best_value = -INFINITY;
  for (int i = 0; i < 4; ++i) {
    const std::string trial = out + "/trial_000" + std::to_string(i);
    // Trained once: one claim, one row per epoch, the trial's own values in its run configuration.
    EXPECT_EQ(fovea::test::line_count(slurp(trial + "/claim")), 1) << trial;
    int metric_rows = 0;
    const auto [best, epoch] = best_of_metrics(trial + "/metrics.csv", &metric_rows);
    EXPECT_EQ(metric_rows, kEpochs) << trial;
    const Json run = Json::parse(slurp(trial + "/run_config.json"));
    EXPECT_EQ(run["model"]["hidden_channels"], grid[i].first) << trial;
    EXPECT_DOUBLE_EQ(run["training"]["lr"].get<double>(), grid[i].second) << trial;

    const auto f = split(rows[i + 1]);
    ASSERT_EQ(f.size(), 8u) << rows[i + 1];
    EXPECT_EQ(f[0], std::to_string(i));
    EXPECT_EQ(Json::parse(f[1]), grid[i].first);
    EXPECT_DOUBLE_EQ(std::stod(f[2]), grid[i].second);
    EXPECT_NEAR(std::stod(f[3]), best, 1e-6 * std::max(1.0, std::fabs(best))) << rows[i + 1];
    EXPECT_EQ(std::stoi(f[4]), epoch);
    EXPECT_EQ(std::stoi(f[5]), kEpochs);
    EXPECT_EQ(f[7], "done");
    if (best > best_value) best_value = best, best_row = i;
  }
  // best_config.yaml: the base configuration with the best trial's values.
  const Json best = fovea::io::parse_yaml(slurp(out + "/best_config.yaml"), "best_config.yaml");
  const Json base = fovea::io::parse_yaml(slurp(dir_.file("tiny.yaml")), "tiny.yaml");
  Json expected = base;
  expected["model"]["hidden_channels"] = grid[best_row].first;
  expected["training"]["lr"] = grid[best_row].second;
  EXPECT_EQ(best, expected) << slurp(out + "/best_config.yaml");
  EXPECT_NE(slurp(out + "/best_config.yaml").find("trial " + std::to_string(best_row)), std::string::npos);
}

// Starts `fovea sweep ...` and kills it with SIGKILL once `finished` trials
// have results and before all have; returns the finished trials' result
// paths at the moment of the kill.
std::vector<std::string> sweep_and_kill(const std::string& args, const std::string& out, int n, size_t finished) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    setenv("OMP_NUM_THREADS", "1", 1);
    execl("/bin/sh", "sh", "-c", ("exec " + std::string(FOVEA_BINARY) + " " + args).c_str(), (char*)nullptr);
    _exit(127);
  }
  std::vector<std::string> done;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    done.clear();
    for (int i = 0; i < n; ++i) {
      const std::string result = out + "/trial_000" + std::to_string(i) + "/result.json";
      if (fs::exists(result)) done.push_back(result);
    }
    if (done.size() >= finished) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return done;
}

TEST_F(SweepCli, AKilledSweepContinuesWithoutRetrainingFinishedTrials) {
  constexpr int kEpochs = 8;
  const std::string out = dir_.file("sweep");
  const std::string args =
      "sweep --config " + config(kEpochs) + " " + grid_params() + " --workers 2 --threads 2 --out " + out;
  const auto finished = sweep_and_kill(args, out, 4, 1);
  ASSERT_GE(finished.size(), 1u);
  ASSERT_LT(finished.size(), 4u) << "the sweep ended before it could be killed";
  // The workers die with the sweep (their claims' flocks go with them).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < 4; ++i) {
    const std::string claim = out + "/trial_000" + std::to_string(i) + "/claim";
    if (!fs::exists(claim)) continue;
    std::istringstream last(lines(slurp(claim)).back());
    std::string host;
    pid_t pid = 0;
    last >> host >> pid;
    while (alive(pid) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(alive(pid)) << "worker " << pid << " outlived its sweep";
  }
  std::map<std::string, fs::file_time_type> before;
  for (const auto& result : finished) {
    const fs::path trial = fs::path(result).parent_path();
    for (const char* f : {"result.json", "metrics.csv", "model.safetensors", "claim"})
      before[(trial / f).string()] = fs::last_write_time(trial / f);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a rewrite would show in the mtimes

  auto r = run_fovea(args, dir_);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("4 of 4 trials done"), std::string::npos) << r.out;
  for (const auto& [path, time] : before) EXPECT_EQ(fs::last_write_time(path), time) << path << " was rewritten";
  for (const auto& result : finished)
    EXPECT_EQ(fovea::test::line_count(slurp(fs::path(result).parent_path().string() + "/claim")), 1) << result;
  const auto rows = lines(slurp(out + "/results.csv"));
  ASSERT_EQ(rows.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    const std::string trial = out + "/trial_000" + std::to_string(i);
    // Each epoch once, also in a trial resumed from its checkpoint.
    int metric_rows = 0;
    const auto [best, epoch] = best_of_metrics(trial + "/metrics.csv", &metric_rows);
    EXPECT_EQ(metric_rows, kEpochs) << trial;
    const auto f = split(rows[i + 1]);
    EXPECT_NEAR(std::stod(f[3]), best, 1e-6 * std::max(1.0, std::fabs(best))) << rows[i + 1];
    EXPECT_EQ(f[7], "done");
  }
}

TEST_F(SweepCli, RandomSearchGivesTheSameTrialsForTheSameSeedInsideTheirRanges) {
  const std::string base = "sweep --config " + config(1) +
                           " --param 'model.core.gamma_input=loguniform(1e-5,1e-2)' --param "
                           "'model.hidden_channels=[[2],[4]]' --param 'training.batch_size=int(8,16)' --trials 6 "
                           "--print-slurm-array --workers 3 --out ";
  auto a = run_fovea(base + dir_.file("a") + " --seed 7", dir_);
  ASSERT_EQ(a.code, 0) << a.err;
  auto b = run_fovea(base + dir_.file("b") + " --seed 7", dir_);
  ASSERT_EQ(b.code, 0) << b.err;
  auto c = run_fovea(base + dir_.file("c") + " --seed 8", dir_);
  ASSERT_EQ(c.code, 0) << c.err;
  const Json ta = Json::parse(slurp(dir_.file("a/sweep.json")))["trial_list"];
  const Json tb = Json::parse(slurp(dir_.file("b/sweep.json")))["trial_list"];
  const Json tc = Json::parse(slurp(dir_.file("c/sweep.json")))["trial_list"];
  ASSERT_EQ(ta.size(), 6u);
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  for (const auto& t : ta) {
    const auto& p = t["params"];
    ASSERT_EQ(p.size(), 3u);
    const double g = p[0][1].get<double>();
    EXPECT_TRUE(g >= 1e-5 && g <= 1e-2) << t;
    EXPECT_TRUE(p[1][1] == Json{2} || p[1][1] == Json{4}) << t;
    EXPECT_TRUE(p[2][1].is_number_integer() && p[2][1] >= 8 && p[2][1] <= 16) << t;
  }
  // The array job: 3 workers of that folder; nothing trained yet.
  EXPECT_NE(a.out.find("#SBATCH --array=0-2\n"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find(" sweep --worker --out '" + fs::absolute(dir_.file("a")).string() + "'"), std::string::npos)
      << a.out;
  EXPECT_FALSE(fs::exists(dir_.file("a/trial_0000")));
  // Another seed in the same folder is refused (the same sweep again continues it).
  auto other = run_fovea(base + dir_.file("a") + " --seed 8", dir_);
  EXPECT_EQ(other.code, 1);
  EXPECT_NE(other.err.find("holds a different sweep (its 'seed' differs)"), std::string::npos) << other.err;
}

TEST_F(SweepCli, BadInputIsOneLineAndLeavesNoFolder) {
  const std::string cfg = config(1), out = dir_.file("bad");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--param 'model.hidden_chanels=[[2],[4]]'", "unknown key 'model.hidden_chanels'"},
      {"--param 'training.lr=uniform(1)'", "two numbers"},
      {"--param 'training.lr=[]'", "the list of values is empty"},
      {"--param 'training.lr=[fast,slow]'", "'training.lr' has the wrong type"},
      {"--param 'training.lr=[0.01]' --objective val_poisson_loss", "reports val_correlation"},
  };
  for (const auto& [params, message] : cases) {
    auto r = run_fovea("sweep --config " + cfg + " " + params + " --out " + out, dir_);
    EXPECT_EQ(r.code, 1) << params << ": " << r.err;
    EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << params << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << params;
  }
  auto usage = run_fovea("sweep --config " + cfg + " --param 'training.lr=[0.01]' --search tpe --out " + out, dir_);
  EXPECT_EQ(usage.code, 2) << usage.err;
  auto none = run_fovea("sweep --out " + dir_.file("nothing_here"), dir_);
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("no sweep.json"), std::string::npos) << none.err;
}

}  // namespace
