// bench_v1: a training epoch and inference of minimodel's V1 full model
// (16-320) and of a minimodel (16-64), in fovea and in the PyTorch baseline
// (bench/v1_baseline.py, the same architecture and training step), on the
// same data, in one run. Prints seconds and the speed-up (PyTorch / fovea).
//   bench_v1 [--images 500] [--neurons 500] [--threads 2] [--repeats 3]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "baseline_runner.h"
#include "bench_models.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model.h"
#include "fovea/nn/predict.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_experiment.h"
#include "fovea/train/v1_task.h"

namespace {

using Json = nlohmann::json;


struct Timing {
  double epoch, inference;
};

Timing time_model(std::shared_ptr<fovea::nn::Model> model, const at::Tensor& images, const at::Tensor& responses,
                  fovea::train::V1Recipe recipe, int repeats) {
  fovea::train::V1TrainingData data{images, responses, torch::arange(images.size(0)), torch::arange(images.size(0)),
                                    torch::arange(100)};
  fovea::train::V1Task task(model, data, recipe, torch::kCPU);
  fovea::train::TrainerOptions options;
  options.show_progress = false;
  auto optimizer = fovea::train::make_optimizer(task, 1e-3, options);
  // Warm-up on one batch (allocations, oneDNN primitive caches).
  fovea::train::V1TrainingData warm = data;
  warm.train_trials = torch::arange(100);
  fovea::train::V1Task warm_task(model, warm, recipe, torch::kCPU);
  fovea::train::train_one_epoch(*model, warm_task, *optimizer, 0, options);
  Timing t;
  int64_t epoch = 1;
  t.epoch = fovea::bench::best_of(repeats, [&] { fovea::train::train_one_epoch(*model, task, *optimizer, epoch++, options); });
  fovea::nn::predict(*model, images.narrow(0, 0, 100));
  t.inference = fovea::bench::best_of(repeats, [&] { fovea::nn::predict(*model, images); });
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--images", 500}, {"--neurons", 500}, {"--threads", 2}, {"--repeats", 3}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!opt.count(argv[i])) {
      std::cerr << "unknown option " << argv[i] << "\n";
      return 2;
    }
    opt[argv[i]] = std::stoll(argv[i + 1]);
  }
  const int64_t n = opt["--images"], neurons = opt["--neurons"];
  const int repeats = static_cast<int>(opt["--repeats"]);
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);

  // The same data for both sides: smooth random images and positive responses.
  at::Tensor images = torch::avg_pool2d(torch::randn({n, 1, 68, 132}), 3, 1).contiguous();
  at::Tensor responses = torch::rand({n, neurons}) * 2;
  const auto dir = std::filesystem::temp_directory_path() / ("fovea_bench_v1_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  fovea::io::write_npy((dir / "images.npy").string(), images.squeeze(1));
  fovea::io::write_npy((dir / "responses.npy").string(), responses);

  std::cout << "bench_v1: " << n << " images of 66x130, " << neurons << " neurons, batch 100, "
            << opt["--threads"] << " threads, best of " << repeats << "\n";
  fovea::train::V1Recipe full_recipe;
  auto full = fovea::nn::build_model(fovea::bench::v1_spec(neurons, false));
  Timing f_full = time_model(full, images, responses, full_recipe, repeats);

  fovea::train::V1Recipe mini_recipe;
  mini_recipe.hoyer_square = 0.03;
  mini_recipe.wd_channels = 0.2;
  auto mini = fovea::nn::build_model(fovea::bench::v1_spec(1, true));
  fovea::train::copy_first_layer(*full, *mini, true);
  Timing f_mini = time_model(mini, images, responses.narrow(1, 0, 1).contiguous(), mini_recipe, repeats);

  const std::string cmd = "/usr/bin/python3 " + std::string(FOVEA_SOURCE_DIR) + "/bench/v1_baseline.py " +
                          dir.string() + " " + std::to_string(opt["--threads"]) + " " + std::to_string(repeats);
  Json py;
  const bool ok = fovea::bench::run_baseline(cmd, py);
  std::filesystem::remove_all(dir);
  if (!ok) return 1;
  fovea::bench::print_table({
      {"full model: training epoch", {f_full.epoch, "full_epoch"}},
      {"full model: inference", {f_full.inference, "full_inference"}},
      {"minimodel: training epoch", {f_mini.epoch, "mini_epoch"}},
      {"minimodel: inference", {f_mini.inference, "mini_inference"}}},
                            py);
  return 0;
}
