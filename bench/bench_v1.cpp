// bench_v1: a training epoch and inference of minimodel's V1 full model
// (16-320) and of a minimodel (16-64), in fovea and in the PyTorch baseline
// (bench/v1_baseline.py, the same architecture and training step), on the
// same data, in one run. Prints seconds, the speed-up (PyTorch / fovea), peak
// memory and GFLOP/s against the SGEMM peak measured in the same run.
//   bench_v1 [--images 500] [--neurons 500] [--threads 2] [--repeats 3] [--kernels fast|reference] [--bf16 0|1]
// --bf16 1 runs fovea's forward passes in bf16 autocast (training.precision: bf16).
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
#include "flops.h"
#include "measure.h"
#include "bench_options.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model.h"
#include "fovea/nn/predict.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_experiment.h"
#include "fovea/train/v1_task.h"

namespace {

using Json = nlohmann::json;

struct Timing {
  fovea::bench::Measurement epoch, inference;
  double setup = 0;  // building the task (with the fast kernels: caching a frozen first conv)
  bool first_conv_cached = false;  // the task trains on cached outputs of a frozen first conv
};

Timing time_model(std::shared_ptr<fovea::nn::Model> model, const at::Tensor& images, const at::Tensor& responses,
                  fovea::train::V1Recipe recipe, int repeats, fovea::train::Precision precision) {
  fovea::train::V1TrainingData data;  // every trial in training, the first 100 for validation
  data.images = images;
  data.responses = responses;
  data.image_index = data.train_trials = torch::arange(images.size(0));
  data.val_trials = torch::arange(100);
  Timing t;
  const auto start = std::chrono::steady_clock::now();
  fovea::train::V1Task task(model, data, recipe, torch::kCPU);
  t.setup = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.first_conv_cached = task.first_conv_cache() != nullptr;
  fovea::train::TrainerOptions options;
  options.show_progress = false;
  options.precision = precision;
  auto optimizer = fovea::train::make_optimizer(task, 1e-3, options);
  // Warm-up on one batch (allocations, oneDNN primitive caches).
  fovea::train::V1TrainingData warm = data;
  warm.train_trials = torch::arange(100);
  fovea::train::V1Task warm_task(model, warm, recipe, torch::kCPU);
  fovea::train::train_one_epoch(*model, warm_task, *optimizer, 0, options);
  int64_t epoch = 1;
  t.epoch = fovea::bench::measure(repeats, [&] { fovea::train::train_one_epoch(*model, task, *optimizer, epoch++, options); });
  fovea::train::AutocastRegion autocast(precision);  // inference: the whole prediction in the region
  fovea::nn::predict(*model, images.narrow(0, 0, 100));
  t.inference = fovea::bench::measure(repeats, [&] { fovea::nn::predict(*model, images); });
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--images", 500}, {"--neurons", 500}, {"--threads", 2}, {"--repeats", 3},
                                        {"--bf16", 0}};
  if (!fovea::bench::parse_options(argc, argv, opt)) return 2;
  const auto kernels = fovea::nn::kernel_set();
  const int64_t n = opt["--images"], neurons = opt["--neurons"];
  const int repeats = static_cast<int>(opt["--repeats"]);
  const auto precision = opt["--bf16"] ? fovea::train::Precision::bf16 : fovea::train::Precision::float32;
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);
  const double sgemm = fovea::bench::sgemm_peak_gflops(), fma = fovea::bench::fma_peak_gflops();

  // The same data for both sides: smooth random images and positive responses.
  at::Tensor images = torch::avg_pool2d(torch::randn({n, 1, 68, 132}), 3, 1).contiguous();
  at::Tensor responses = torch::rand({n, neurons}) * 2;
  const auto dir = std::filesystem::temp_directory_path() / ("fovea_bench_v1_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  fovea::io::write_npy((dir / "images.npy").string(), images.squeeze(1));
  fovea::io::write_npy((dir / "responses.npy").string(), responses);

  std::cout << "bench_v1: " << n << " images of 66x130, " << neurons << " neurons, batch 100, "
            << opt["--threads"] << " threads, best of " << repeats << ", fovea kernels: "
            << fovea::nn::to_string(kernels) << ", precision: " << fovea::train::to_string(precision) << "\n";
  fovea::train::V1Recipe full_recipe;
  auto full = fovea::nn::build_model(fovea::bench::v1_spec(neurons, false));
  Timing f_full = time_model(full, images, responses, full_recipe, repeats, precision);

  fovea::train::V1Recipe mini_recipe;
  mini_recipe.hoyer_square = 0.03;
  mini_recipe.wd_channels = 0.2;
  auto mini = fovea::nn::build_model(fovea::bench::v1_spec(1, true));
  fovea::train::copy_first_layer(*full, *mini, true);
  Timing f_mini = time_model(mini, images, responses.narrow(1, 0, 1).contiguous(), mini_recipe, repeats, precision);

  const std::string cmd = "/usr/bin/python3 " + std::string(FOVEA_SOURCE_DIR) + "/bench/v1_baseline.py " +
                          dir.string() + " " + std::to_string(opt["--threads"]) + " " + std::to_string(repeats);
  Json py;
  const bool ok = fovea::bench::run_baseline(cmd, py);
  std::filesystem::remove_all(dir);
  if (!ok) return 1;
  const double images_n = static_cast<double>(n);
  const auto full_flop = fovea::bench::v1_forward_flop(16, 320, 25, 9, true, neurons);
  const auto mini_flop = fovea::bench::v1_forward_flop(16, 64, 25, 9, false, 1);
  const bool cached = f_mini.first_conv_cached;
  const double full_train = images_n * fovea::bench::training_flop(full_flop, 2);
  const double full_infer = images_n * full_flop.total();
  const double mini_infer = images_n * mini_flop.total();
  fovea::bench::print_table(
      {fovea::bench::measured_row("full model: training epoch", f_full.epoch, "full_epoch", full_train, full_train),
       fovea::bench::measured_row("full model: inference", f_full.inference, "full_inference", full_infer, full_infer),
       fovea::bench::measured_row("minimodel: training epoch", f_mini.epoch, "mini_epoch",
           images_n * fovea::bench::training_flop(mini_flop, cached ? 0 : 1),
           images_n * fovea::bench::training_flop(mini_flop, 1)),
       fovea::bench::measured_row("minimodel: inference", f_mini.inference, "mini_inference", mini_infer, mini_infer)},
      py, {}, sgemm, fma);
  std::printf("fovea's minimodel task set-up (caching the frozen first conv's outputs, once per run): %.3f s\n",
              f_mini.setup);
  return 0;
}
