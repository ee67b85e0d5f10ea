// bench_checkpoint: what a training checkpoint (src/train/checkpoint.h) costs
// for minimodel's V1 full model (16-320, rank-1 readout): the time to write
// one, as fit() does after an epoch (model, best state, AdamW's state, the
// generators, the metrics so far), against one optimiser step on a batch of
// 100 images, timed alternately in one run. An epoch is (training trials /
// 100) such steps; `--checkpoint-every N` adds one checkpoint per N steps.
//   bench_checkpoint [--neurons 4792] [--threads 2] [--repeats 5]
// 4,792 neurons: minimodel's FX10 mouse (2,151,960 parameters).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "../src/train/checkpoint.h"  // fit()'s own writer (internal to the library)
#include "bench_models.h"
#include "bench_options.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_task.h"

namespace {

double seconds_of(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--neurons", 4792}, {"--threads", 2}, {"--repeats", 5}};
  if (!fovea::bench::parse_options(argc, argv, opt)) return 2;
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);
  const int64_t neurons = opt["--neurons"], repeats = opt["--repeats"];

  auto model = fovea::nn::build_model(fovea::bench::v1_spec(neurons, false));
  // One batch of 100 trials per "epoch": train_one_epoch is one optimiser step.
  fovea::train::V1TrainingData data;
  data.images = torch::avg_pool2d(torch::randn({100, 1, 68, 132}), 3, 1).contiguous();
  data.responses = torch::rand({100, neurons}) * 2;
  data.image_index = data.train_trials = data.val_trials = torch::arange(100);
  fovea::train::V1Task task(model, data, fovea::train::V1Recipe{}, torch::kCPU);
  fovea::train::TrainerOptions options;
  options.show_progress = false;
  auto optimizer = fovea::train::make_optimizer(task, 1e-3, options);
  fovea::train::train_one_epoch(*model, task, *optimizer, 0, options);  // warm-up; AdamW's state exists

  // What fit() writes after an epoch of a 100-epoch run so far.
  fovea::train::FitProgress p;
  p.next_epoch = p.next_epoch_in_period = 100;
  p.best = fovea::train::copy_state(*model);
  std::string csv = "epoch,period,lr,train_loss,val_score,best_val_score,seconds\n";
  for (int e = 1; e <= 100; ++e) csv += std::to_string(e) + ",1,0.001,1234.5678,0.31234567,0.31234567,123.4\n";
  p.metrics_csv = csv;
  const auto dir = std::filesystem::temp_directory_path() / ("fovea_bench_checkpoint_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "checkpoint.pt").string();

  std::vector<double> step, write;
  for (int64_t r = 0; r < repeats; ++r) {  // alternately, so that a busy machine slows both alike
    step.push_back(seconds_of([&] { fovea::train::train_one_epoch(*model, task, *optimizer, r + 1, options); }));
    write.push_back(seconds_of([&] {
      p.model = fovea::train::state_view(*model);
      p.params_with_grad = fovea::train::params_with_grad(*model);
      fovea::train::write_checkpoint(path, p, optimizer.get(), nullptr);
    }));
  }
  const double mb = static_cast<double>(std::filesystem::file_size(path)) / (1 << 20);
  std::filesystem::remove_all(dir);
  const double s = median(step), w = median(write);
  std::printf("bench_checkpoint: V1 full model 16-320, %lld neurons (%lld parameters), %lld threads, median of %lld\n",
              static_cast<long long>(neurons), static_cast<long long>(model->n_parameters()),
              static_cast<long long>(opt["--threads"]), static_cast<long long>(repeats));
  std::printf("  optimiser step (batch 100, forward + backward + AdamW): %.3f s\n", s);
  std::printf("  checkpoint write (%.1f MB, fsync'd, renamed): %.3f s = %.1f%% of a step\n", mb, w, 100.0 * w / s);
  for (int64_t trials : {5000, 30000})
    std::printf("  an epoch of %lld training trials (%lld steps, ~%.0f s): checkpoint %.3f%% of it\n",
                static_cast<long long>(trials), static_cast<long long>(trials / 100), s * (trials / 100),
                100.0 * w / (s * (trials / 100)));
  return 0;
}
