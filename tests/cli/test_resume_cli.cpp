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

#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include "cli_runner.h"
#include "fovea/io/safetensors.h"
#include "fovea/nn/model_file.h"
#include "insilico/small_models.h"

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

// Starts `fovea train ...` in the background (output to /dev/null).
pid_t start_fovea(const std::vector<std::string>& args) {
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
  return pid;
}

// Starts `fovea train ...`, waits until metrics.csv has `rows` epochs, kills
// it with SIGKILL and returns whether it was still running then.
bool train_and_kill(const std::vector<std::string>& args, const std::string& metrics, size_t rows) {
  const pid_t pid = start_fovea(args);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool running = true;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      running = false;
      break;
    }
    // + the header; the checkpoint follows the epoch's row
    if (std::filesystem::exists(metrics) && metric_rows(metrics).size() >= rows + 1 &&
        std::filesystem::exists(std::filesystem::path(metrics).parent_path() / "checkpoint.pt"))
      break;
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

// The batch a checkpoint inside an epoch goes on with (0: one at an epoch's end).
int64_t checkpoint_in_epoch(const std::string& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  c10::IValue batch;
  return archive.try_read("in_epoch", batch) ? batch.toInt() : 0;
}

// --checkpoint-every 1 with accumulation over 2 batches: the run is stopped
// (SIGSTOP) at each new checkpoint, and killed with SIGKILL at a random one
// of those inside an epoch; resumed, it goes on with that batch and ends
// where a run without checkpoints ends.
TEST(ResumeCli, ARunKilledInsideAnEpochGoesOnFromItsBatch) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  ASSERT_EQ(run_fovea("simulate retina " + data + " --sessions 2 --neurons-per-session 10 --seed 3", dir).code, 0);
  auto args = [&](const std::string& out, bool checkpoints) {
    auto a = train_args(data, out);
    a.insert(a.end(), {"training.batch_size=8", "training.accumulate_grad_batches=2"});
    if (checkpoints) a.insert(a.end(), {"--checkpoint-every", "1"});
    else a.push_back("--no-checkpoint");
    return a;
  };
  auto whole = run_fovea(join(args(dir.file("whole"), false)), dir);
  ASSERT_EQ(whole.code, 0) << whole.err;

  std::random_device rd;
  const int wanted = 1 + static_cast<int>(rd() % 4);
  const std::string out = dir.file("killed");
  const std::string checkpoint = out + "/checkpoint.pt";
  const pid_t pid = start_fovea(args(out, true));
  std::filesystem::file_time_type seen_time{};
  int seen = 0;
  int64_t killed_at = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (killed_at == 0 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) break;  // it finished first: fails below
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(checkpoint, ec);
    if (!ec && t != seen_time) {
      kill(pid, SIGSTOP);  // hold it at this checkpoint while it is read
      seen_time = std::filesystem::last_write_time(checkpoint);
      const int64_t batch = checkpoint_in_epoch(checkpoint);
      if (batch > 0 && ++seen == wanted) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        killed_at = batch;
        break;
      }
      kill(pid, SIGCONT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (killed_at == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ASSERT_GT(killed_at, 0) << "the run ended before its checkpoint number " << wanted << " inside an epoch";
  ASSERT_FALSE(std::filesystem::exists(out + "/model.safetensors"));

  auto resumed = run_fovea("train --resume " + out + " --threads 1 -q", dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("at batch " + std::to_string(killed_at + 1)), std::string::npos) << resumed.out;
  const auto a = fovea::io::read_safetensors(dir.file("whole/model.safetensors"));
  const auto b = fovea::io::read_safetensors(out + "/model.safetensors");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i)
    EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second))
        << a.tensors[i].first << " differs after a kill at in-epoch checkpoint " << wanted;
  EXPECT_EQ(metric_rows(out + "/metrics.csv"), metric_rows(dir.file("whole/metrics.csv")))
      << "killed at in-epoch checkpoint " << wanted;
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
// uninterrupted run writes (one minimodel after another, the default; in one
// pass, a refitted neuron shares it with other neurons than before and agrees
// within float rounding only: test_minimodel_batch.cpp).
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

namespace {

namespace fs = std::filesystem;

// A video's frame count, height and width (decoded).
std::vector<int> video_shape(const std::string& path) {
  cv::VideoCapture cap(path);
  cv::Mat frame;
  int n = 0, h = 0, w = 0;
  while (cap.read(frame)) ++n, h = frame.rows, w = frame.cols;
  return {n, h, w};
}

// Every file under `root` by its path relative to it.
std::map<std::string, fs::file_time_type> files_under(const fs::path& root) {
  std::map<std::string, fs::file_time_type> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = e.last_write_time();
  return files;
}

// `fovea visualize --resume`: a run killed with SIGKILL once its record lists
// a random number of finished MEI batches keeps every file finished before
// the kill (same modification time), makes the rest, and its folder equals an
// uninterrupted run's byte for byte; a resume with other options is refused.
TEST(ResumeCli, VisualizeKilledAfterItsFirstFilesKeepsThemAndMakesTheRest) {
  fovea::test::TempDir dir;
  const std::string model = dir.file("retina.safetensors");
  fovea::nn::save_model(model, *fovea::testing::retina_model());
  const std::vector<std::string> common = {"visualize", "--model-path", model, "--steps", "2", "--time-steps-stimulus",
                                           "30", "--image-file-format", "png", "--batch-size", "2", "--threads", "1"};
  auto args = [&](const std::string& folder) {
    auto a = common;
    a.insert(a.end(), {"--save-folder", folder});
    return a;
  };
  auto whole = run_fovea(join(args(dir.file("whole"))), dir);
  ASSERT_EQ(whole.code, 0) << whole.err;

  // Stopped at each new record, killed at a random one with 1..4 MEI batches done.
  std::random_device rd;
  const size_t wanted = 1 + rd() % 4;
  const fs::path out = dir.file("killed");
  const fs::path record = out / "visualize_record.json";
  auto kill_args = args(out.string());
  kill_args.push_back("--resume");  // into a folder without a record: a fresh run
  const pid_t pid = start_fovea(kill_args);
  // The record's text, read every millisecond (modification times are too
  // coarse: several records can be written within one tick).
  std::string seen;
  nlohmann::json last_record;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (fs::exists(record) && fovea::test::slurp(record.string()) != seen) {
      kill(pid, SIGSTOP);
      seen = fovea::test::slurp(record.string());  // replaced atomically: whole
      last_record = nlohmann::json::parse(seen);
      size_t batches = 0;
      for (const auto& [folder, list] : last_record["mei_batches"].items()) batches += list.size();
      if (batches >= wanted) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        killed = true;
        break;
      }
      kill(pid, SIGCONT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!killed) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ASSERT_TRUE(killed) << "the run ended before " << wanted << " MEI batches were recorded";
  ASSERT_FALSE(fs::exists(out / "index.html"));
  // The files the record lists as finished: every weight figure, and the
  // .npy, .mp4 and .png of each MEI of its batches.
  std::vector<std::string> listed;
  ASSERT_TRUE(last_record.contains("weights"));
  for (const auto& layer : last_record["weights"]["layers"])
    for (const auto& out_files : layer["files"])
      for (const auto& f : out_files) listed.push_back(f);
  for (const auto& [session, files] : last_record["weights"]["neurons"].items())
    for (const auto& f : files) listed.push_back(f);
  for (const auto& [folder, batches] : last_record["mei_batches"].items())
    for (const auto& [first, objectives] : batches.items())
      for (size_t k = std::stoul(first); k < std::stoul(first) + objectives.size(); ++k)
        for (const char* ext : {".npy", ".mp4", ".png"}) listed.push_back(folder + "/" + std::to_string(k) + ext);
  const auto before = files_under(out);
  std::map<std::string, fs::file_time_type> finished;
  for (const auto& name : listed) {
    ASSERT_TRUE(before.count(name)) << name << " is in the record but not in the folder";
    finished[name] = before.at(name);
  }
  ASSERT_GE(finished.size(), 3u * wanted);

  // Other options are refused, naming the record and the option; nothing changes.
  std::string other_args = join(args(out.string())) + " --resume";
  other_args.replace(other_args.find("--steps 2"), 9, "--steps 3");
  auto other = run_fovea(other_args, dir);
  EXPECT_EQ(other.code, 1);
  EXPECT_EQ(fovea::test::line_count(other.err), 1) << other.err;
  EXPECT_NE(other.err.find("visualize_record.json"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find("steps"), std::string::npos) << other.err;

  auto resumed = run_fovea(join(args(out.string())) + " --resume", dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const auto after = files_under(out);
  for (const auto& [name, time] : finished) {
    ASSERT_TRUE(after.count(name)) << name;
    EXPECT_EQ(after.at(name), time) << name << " was written again";
  }
  // The same files as the uninterrupted run's, byte for byte, but for the
  // videos: x264 (threads=3) encodes the same frames of these small movies to
  // different bytes in different processes, so those are compared by their
  // frames' number and size (their content is the .npy next to them).
  const auto expected = files_under(dir.file("whole"));
  ASSERT_EQ(after.size(), expected.size());
  for (const auto& [name, time] : expected) {
    ASSERT_TRUE(after.count(name)) << name;
    if (fs::path(name).extension() == ".mp4") {
      EXPECT_EQ(video_shape(dir.file("whole/" + name)), video_shape((out / name).string())) << name;
      continue;
    }
    std::string a = fovea::test::slurp(dir.file("whole/" + name)), b = fovea::test::slurp((out / name).string());
    for (size_t p; (p = b.find(out.string())) != std::string::npos;) b.replace(p, out.string().size(), dir.file("whole"));
    EXPECT_TRUE(a == b) << name << " differs from the uninterrupted run's";
  }
}

}  // namespace
