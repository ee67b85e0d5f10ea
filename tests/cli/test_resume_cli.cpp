// `fovea train --resume` after SIGKILL (issue 18): a retina training run
// (dropout on, so the random generator matters; two sessions, so each
// session's readout sits out the other's batches) is killed at a random
// moment after its first epoch and continued; the model's tensors equal an
// uninterrupted run's bit for bit and metrics.csv has each epoch once with
// the same values.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"
#include "fovea/io/safetensors.h"

using fovea::test::run_fovea;

namespace {

constexpr int kEpochs = 5;

std::vector<std::string> train_args(const std::string& data, const std::string& out) {
  return {"train", "--config", std::string(FOVEA_SOURCE_DIR) + "/configs/retina_demo.yaml", "data.dir=" + data,
          "output.dir=" + out, "training.max_epochs=" + std::to_string(kEpochs), "model.core.dropout_rate=0.2",
          "training.plateau_patience=0", "--threads", "1", "-q"};
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// metrics.csv's rows without the seconds column.
std::vector<std::string> metric_rows(const std::string& path) {
  std::istringstream in(fovea::test::slurp(path));
  std::vector<std::string> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

// Starts `fovea train ...`, waits until metrics.csv has `rows` epochs, kills
// it with SIGKILL and returns whether it was still running then.
bool train_and_kill(const std::vector<std::string>& args, const std::string& metrics, size_t rows) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string binary = FOVEA_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    setenv("OMP_NUM_THREADS", "1", 1);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool running = true;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      running = false;
      break;
    }
    if (std::filesystem::exists(metrics) && metric_rows(metrics).size() >= rows + 1) break;  // + the header
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (running) {
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    running = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  return running;
}

TEST(ResumeCli, ARunKilledWithSigkillContinuesToTheSameModel) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  ASSERT_EQ(run_fovea("simulate retina " + data + " --sessions 2 --neurons-per-session 10 --seed 3", dir).code, 0);

  auto whole = run_fovea(join(train_args(data, dir.file("whole"))), dir);
  ASSERT_EQ(whole.code, 0) << whole.err;

  // Killed after a random number of finished epochs (1 .. kEpochs - 2), at
  // whatever point of the next epoch the poll lands.
  std::random_device rd;
  const size_t after = 1 + rd() % (kEpochs - 2);
  const std::string out = dir.file("killed");
  ASSERT_TRUE(train_and_kill(train_args(data, out), out + "/metrics.csv", after))
      << "the run ended before it could be killed";
  ASSERT_FALSE(std::filesystem::exists(out + "/model.safetensors"));
  ASSERT_TRUE(std::filesystem::exists(out + "/checkpoint.pt"));

  auto resumed = run_fovea("train --resume " + out + " --threads 1 -q", dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;

  const auto a = fovea::io::read_safetensors(dir.file("whole/model.safetensors"));
  const auto b = fovea::io::read_safetensors(out + "/model.safetensors");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second))
        << a.tensors[i].first << " differs after a kill after epoch " << after;
  }
  const auto rows = metric_rows(out + "/metrics.csv");
  EXPECT_EQ(rows, metric_rows(dir.file("whole/metrics.csv"))) << "killed after epoch " << after;
  ASSERT_EQ(rows.size(), static_cast<size_t>(kEpochs + 1));
  for (int e = 1; e <= kEpochs; ++e) EXPECT_EQ(rows[e].rfind(std::to_string(e) + ",", 0), 0u) << rows[e];
}

TEST(ResumeCli, ResumeNeedsATrainingOutputFolderAndNoOtherConfig) {
  fovea::test::TempDir dir;
  std::filesystem::create_directories(dir.file("empty"));
  auto r = run_fovea("train --resume " + dir.file("empty"), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("run_config.json"), std::string::npos) << r.err;
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;

  r = run_fovea("train --resume " + dir.file("empty") + " training.lr=0.1", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;

  r = run_fovea("train", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--config or --resume"), std::string::npos) << r.err;
}

}  // namespace

namespace {

// `fovea minimodels --resume`: the minimodels a killed run finished are kept
// (their files untouched), the rest are fitted, and every one equals what one
// uninterrupted run writes.
TEST(ResumeCli, MinimodelsKeepTheFinishedNeuronsAndFitTheRest) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  ASSERT_EQ(run_fovea("simulate v1 " + data + " --neurons 6 --train-images 300 --test-images 20 --seed 5", dir).code, 0);
  auto full = run_fovea("train --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/v1_demo.yaml output.dir=" +
                            dir.file("full") + " model.core.n_conv_mid=16 training.period_epochs=[2] data.images=" +
                            data + "/images.npy data.responses=" + data + "/responses.npz --quiet --threads 1",
                        dir);
  ASSERT_EQ(full.code, 0) << full.err;
  const std::string common = "minimodels --full-model " + dir.file("full/model.safetensors") + " --data " + data +
                             " training.period_epochs=[3,1] --quiet --threads 1 -o ";
  auto whole = run_fovea(common + dir.file("whole") + " --neurons 1,3", dir);
  ASSERT_EQ(whole.code, 0) << whole.err;

  // A run killed after neuron 1: only its file is there.
  const std::string out = dir.file("resumed");
  std::filesystem::create_directories(out);
  std::filesystem::copy_file(dir.file("whole/minimodel_n1.safetensors"), out + "/minimodel_n1.safetensors");
  const auto kept_time = std::filesystem::last_write_time(out + "/minimodel_n1.safetensors");
  auto resumed = run_fovea(common + out + " --neurons 1,3 --resume", dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(std::filesystem::last_write_time(out + "/minimodel_n1.safetensors"), kept_time);
  for (const std::string n : {"1", "3"}) {
    const auto a = fovea::io::read_safetensors(dir.file("whole/minimodel_n" + n + ".safetensors"));
    const auto b = fovea::io::read_safetensors(out + "/minimodel_n" + n + ".safetensors");
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i)
      EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second)) << "neuron " << n << ": " << a.tensors[i].first;
  }
  // The summary's rows agree but for the output folder in the file column.
  auto rows = [](std::string text, const std::string& folder) {
    for (size_t p; (p = text.find(folder)) != std::string::npos;) text.replace(p, folder.size(), "OUT");
    return text;
  };
  EXPECT_EQ(rows(fovea::test::slurp(out + "/summary.csv"), out),
            rows(fovea::test::slurp(dir.file("whole/summary.csv")), dir.file("whole")));

  // A file of another neuron under a kept name is refused, not used.
  std::filesystem::copy_file(dir.file("whole/minimodel_n1.safetensors"), out + "/minimodel_n5.safetensors");
  auto wrong = run_fovea(common + out + " --neurons 5 --resume", dir);
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("minimodel_n5.safetensors"), std::string::npos) << wrong.err;
}

}  // namespace
