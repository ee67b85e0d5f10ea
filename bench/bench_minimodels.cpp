// bench_minimodels: fitting per-neuron minimodels from one full model, in
// fovea (fovea::train::fit_minimodels, what `fovea minimodels` runs) and in the
// PyTorch baseline (bench/minimodels_baseline.py: one model after another, as
// minimodel's pipeline fits them), on the same data, in one run. Each fit
// trains --epochs epochs (validation after each, best state kept) and
// predicts the test images. Prints seconds, the speed-up, peak memory and
// GFLOP/s (each side's own work: flops.h).
//   bench_minimodels [--minimodels 100] [--images 300] [--epochs 1] [--threads 2]
//                    [--kernels fast|reference] [--batch-minimodels 8]
// (--batch-minimodels: fovea's minimodels per pass, minimodel_batch.h; 1: one after another.
// --profile 1: no timing and no baseline; fovea's fit under LibTorch's profiler, as a Chrome trace.)
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "baseline_runner.h"
#include "bench_models.h"
#include "bench_options.h"
#include "flops.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/train/minimodels.h"
#include "measure.h"

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--minimodels", 100},
                                        {"--images", 300},
                                        {"--epochs", 1},
                                        {"--threads", 2},
                                        {"--batch-minimodels", fovea::train::kDefaultBatchMinimodels},
                                        {"--profile", 0}};
  if (!fovea::bench::parse_options(argc, argv, opt)) return 2;
  const int64_t n = opt["--images"], neurons = opt["--minimodels"], epochs = opt["--epochs"];
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);
  const double sgemm = fovea::bench::sgemm_peak_gflops(), fma = fovea::bench::fma_peak_gflops();

  // The same data for both sides: smooth random images, positive responses,
  // 50 test images shown twice; minimodel's 90/10 train/validation split.
  fovea::data::V1Dataset data;
  data.images = torch::avg_pool2d(torch::randn({n + 50, 1, 68, 132}), 3, 1).squeeze(1).contiguous();
  data.train_responses = torch::rand({n, neurons}) * 2;
  data.train_image_index = torch::arange(n);
  data.test_image_index = torch::arange(n, n + 50);
  data.test_responses = torch::rand({50, 2, neurons}) * 2;
  data.fev = torch::full({neurons}, 0.5, torch::kFloat64);
  data.good_neurons = torch::ones({neurons}, torch::kBool);
  data.response_std = torch::ones({neurons});
  data.xpos = torch::rand({neurons}) * 130;
  data.ypos = torch::rand({neurons}) * 66;
  fovea::data::split_train_val(n, 0.9, data.itrain, data.ival);
  data.origin = "bench data";

  const auto dir = std::filesystem::temp_directory_path() / ("fovea_bench_minimodels_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto full = fovea::nn::build_model(fovea::bench::v1_spec(neurons, false));
  full->eval();
  const std::string full_path = (dir / "full.safetensors").string();
  fovea::nn::save_model(full_path, *full);
  fovea::io::write_npy((dir / "images.npy").string(), data.images.narrow(0, 0, n));
  fovea::io::write_npy((dir / "test_images.npy").string(), data.images.narrow(0, n, 50));
  fovea::io::write_npy((dir / "responses.npy").string(), data.train_responses);
  fovea::io::write_npy((dir / "itrain.npy").string(), data.itrain);
  fovea::io::write_npy((dir / "ival.npy").string(), data.ival);
  fovea::io::write_npy((dir / "neurons.npy").string(), torch::tensor(neurons));
  auto core = std::dynamic_pointer_cast<fovea::nn::MinimodelCore>(full->core());
  fovea::io::write_npy((dir / "first_conv.npy").string(), core->layer(0)->conv->weight.detach());

  nlohmann::json config = fovea::train::default_minimodel_config(*full);
  // The data are in memory; train_v1 records the files' names in the model's spec.
  config["data"] = {{"images", (dir / "images.npy").string()}, {"responses", "in memory"}};
  config["training"]["period_epochs"] = {epochs};
  config["training"]["patience"] = epochs + 1;
  std::vector<int64_t> list;
  for (int64_t i = 0; i < neurons; ++i) list.push_back(i);
  std::cout << "bench_minimodels: " << neurons << " minimodels (16-64) from a 16-320 full model, " << n
            << " images of 66x130 (" << data.itrain.size(0) << " train, " << data.ival.size(0)
            << " validation), 50 test images, " << epochs << " epoch(s) each, " << opt["--threads"]
            << " threads, fovea kernels: " << fovea::nn::to_string(fovea::nn::kernel_set()) << ", "
            << opt["--batch-minimodels"] << " minimodels per pass\n";
  auto fit_all = [&] {
    fovea::train::fit_minimodels(*full, full_path, data, list, config, (dir / "out").string(), false, {}, false,
                                 opt["--batch-minimodels"]);
  };
  if (opt["--profile"]) {
    // LibTorch's profiler over one more fit (after the timed one), as a
    // Chrome trace in the working directory.
    fit_all();
    std::filesystem::remove_all(dir / "out");
    std::ofstream trace("bench_minimodels_profile.json");
    {
      torch::autograd::profiler::RecordProfile guard(trace);
      fit_all();
    }
    std::filesystem::remove_all(dir);
    std::cout << "wrote bench_minimodels_profile.json\n";
    return 0;
  }
  const auto fit = fovea::bench::measure(1, fit_all);

  const std::string cmd = "/usr/bin/python3 " + std::string(FOVEA_SOURCE_DIR) + "/bench/minimodels_baseline.py " +
                          dir.string() + " " + std::to_string(opt["--threads"]) + " " + std::to_string(epochs);
  nlohmann::json py;
  const bool ok = fovea::bench::run_baseline(cmd, py);
  std::filesystem::remove_all(dir);
  if (!ok) return 1;
  // Per minimodel and epoch, both sides train on the training images and
  // score the validation images, then predict the test images once. fovea
  // computes the frozen first conv of the training and validation images once
  // for all minimodels (V1Task's cache) and predicts the full model on the
  // test images once; the baseline recomputes the first conv at every step.
  const auto mini = fovea::bench::v1_forward_flop(16, 64, 25, 9, false, 1);
  const auto full_model = fovea::bench::v1_forward_flop(16, 320, 25, 9, true, neurons);
  const double n_train = static_cast<double>(data.itrain.size(0)), n_val = static_cast<double>(data.ival.size(0));
  // With --kernels reference fovea caches nothing (V1Task), as the baseline.
  const bool cached = fovea::nn::kernel_set() == fovea::nn::KernelSet::fast;
  const double fovea_flop =
      (cached ? n * mini.first_layer : 0) + 50 * full_model.total() +
      neurons * (epochs * (n_train * fovea::bench::training_flop(mini, cached ? 0 : 1) +
                           n_val * (cached ? mini.rest : mini.total())) +
                 50 * mini.total());
  const double baseline_flop =
      neurons * (epochs * (n_train * fovea::bench::training_flop(mini, 1) + n_val * mini.total()) + 50 * mini.total());
  fovea::bench::print_table(
      {fovea::bench::measured_row("minimodels: fit " + std::to_string(neurons), fit, "fit", fovea_flop, baseline_flop)},
      py, {}, sgemm, fma);
  return 0;
}
