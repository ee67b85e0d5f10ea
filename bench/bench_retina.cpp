// bench_retina: a training epoch and inference of openretina's default retina
// model (hoefling_2024_base_low_res architecture: 2→16→16 space-time separable
// core, Gaussian mask readouts), in fovea and in the PyTorch baseline
// (bench/retina_baseline.py, the same architecture and training step), on the
// same data, in one run. Prints seconds, the speed-up (PyTorch / fovea), peak
// memory and GFLOP/s (each side's own convolution algorithm: flops.h).
//   bench_retina [--frames 13950] [--sessions 4] [--neurons 100] [--batch 128]
//                [--chunk 50] [--clips 100] [--threads 2] [--repeats 3] [--kernels fast|reference]
//                [--bf16 0|1]   (1: fovea's forward passes in bf16 autocast, training.precision: bf16)
// The defaults follow Hoefling et al. 2024 at low resolution: 93 training clips
// of 150 frames (18x16 pixels, 2 colours), batch 128 chunks of 50 frames.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "fovea/io/atomic_file.h"
#include "baseline_runner.h"
#include "bench_models.h"
#include "bench_options.h"
#include "flops.h"
#include "measure.h"
#include "fovea/io/npy.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/model.h"
#include "fovea/nn/predict.h"
#include "fovea/train/retina_task.h"
#include "fovea/train/trainer.h"

namespace {

using Json = nlohmann::json;

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--frames", 13950}, {"--sessions", 4}, {"--neurons", 100},
                                        {"--batch", 128},    {"--chunk", 50},     {"--clips", 100},
                                        {"--threads", 2},    {"--repeats", 3},    {"--bf16", 0}};
  if (!fovea::bench::parse_options(argc, argv, opt)) return 2;
  const int64_t frames = opt["--frames"], batch = opt["--batch"], chunk = opt["--chunk"];
  const int repeats = static_cast<int>(opt["--repeats"]);
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);
  const double sgemm = fovea::bench::sgemm_peak_gflops(), fma = fovea::bench::fma_peak_gflops();

  // The same data for both sides: a smooth random movie, positive responses.
  at::Tensor movie = torch::avg_pool3d(torch::randn({1, 2, frames + 2, 20, 18}), 3, 1).squeeze(0).contiguous();
  // Inference clips: 150-frame pieces of the movie, repeated when the movie is shorter.
  const int64_t n_clips = opt["--clips"], movie_clips = frames / 150;
  if (movie_clips < 1) {
    std::cerr << "--frames must be at least 150\n";
    return 2;
  }
  at::Tensor clips = movie.narrow(1, 0, 150 * movie_clips).reshape({2, movie_clips, 150, 18, 16}).transpose(0, 1);
  clips = clips.repeat({(n_clips + movie_clips - 1) / movie_clips, 1, 1, 1, 1}).narrow(0, 0, n_clips).contiguous();
  std::map<std::string, at::Tensor> responses;
  std::map<std::string, int64_t> neurons;
  for (int64_t s = 0; s < opt["--sessions"]; ++s) {
    const std::string key = "session_" + std::to_string(s);
    responses[key] = torch::rand({frames, opt["--neurons"]}) * 2;
    neurons[key] = opt["--neurons"];
  }
  const auto dir = std::filesystem::temp_directory_path() / ("fovea_bench_retina_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  fovea::io::write_npy((dir / "movie.npy").string(), movie);
  fovea::io::write_npy((dir / "clips.npy").string(), clips);
  Json keys = Json::array();
  for (const auto& [k, r] : responses) {
    fovea::io::write_npy((dir / ("responses_" + k + ".npy")).string(), r);
    keys.push_back(k);
  }
  fovea::io::write_file_atomic((dir / "sessions.json").string(), keys.dump());

  std::cout << "bench_retina: " << opt["--sessions"] << " sessions x " << opt["--neurons"] << " neurons, a movie of "
            << frames << " frames (2x18x16), batch " << batch << " chunks of " << chunk << " frames; inference on "
            << opt["--clips"] << " clips of 150 frames; " << opt["--threads"] << " threads, best of " << repeats
            << "\n";
  auto model = fovea::nn::build_model(fovea::bench::retina_spec(neurons));
  std::map<std::string, fovea::data::SessionClips> sessions;
  for (const auto& [k, r] : responses) {
    fovea::data::SessionClips s;
    s.train_movie = movie;
    s.train_responses = r;
    s.val_movie = movie.narrow(1, 0, 150);
    s.val_responses = r.narrow(0, 0, 150);
    s.val_clip_indices = {0};
    s.mean_response = r.mean(0);
    std::dynamic_pointer_cast<fovea::nn::MultiGaussianMaskReadout>(model->readout())->session(k)->initialize_bias(
        s.mean_response);
    sessions[k] = s;
  }
  fovea::train::RetinaRecipe recipe;
  recipe.batch_size = batch;
  recipe.chunk_size = chunk;
  fovea::train::TrainerOptions options;
  options.show_progress = false;
  options.grad_clip_norm = 1.0;
  options.precision = opt["--bf16"] ? fovea::train::Precision::bf16 : fovea::train::Precision::float32;
  // Warm-up: one epoch on a short piece of the movie.
  {
    auto warm = sessions;
    const int64_t warm_frames = std::min(frames, batch * chunk + chunk);
    for (auto& [k, s] : warm) {
      s.train_movie = movie.narrow(1, 0, warm_frames);
      s.train_responses = s.train_responses.narrow(0, 0, warm_frames);
    }
    fovea::train::RetinaTask warm_task(model, warm, recipe, torch::kCPU);
    auto optimizer = fovea::train::make_optimizer(warm_task, 0.01, options);
    fovea::train::train_one_epoch(*model, warm_task, *optimizer, 0, options);
  }
  fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
  auto optimizer = fovea::train::make_optimizer(task, 0.01, options);
  int64_t epoch = 1;
  int64_t chunks_per_epoch = 0;  // the same count each epoch and on the baseline's side (full batches only)
  for (const auto& b : task.epoch_batches(epoch)) chunks_per_epoch += b.indices.size(0);
  const auto f_epoch =
      fovea::bench::measure(repeats, [&] { fovea::train::train_one_epoch(*model, task, *optimizer, epoch++, options); });
  fovea::train::AutocastRegion autocast(options.precision);  // inference: the whole prediction in the region
  fovea::nn::predict(*model, clips.narrow(0, 0, 4));
  const auto f_infer = fovea::bench::measure(repeats, [&] { fovea::nn::predict(*model, clips, clips.size(0)); });

  const std::string cmd = "/usr/bin/python3 " + std::string(FOVEA_SOURCE_DIR) + "/bench/retina_baseline.py " +
                          dir.string() + " " + std::to_string(opt["--threads"]) + " " + std::to_string(repeats) + " " +
                          std::to_string(batch) + " " + std::to_string(chunk);
  Json py;
  const bool ok = fovea::bench::run_baseline(cmd, py);
  std::filesystem::remove_all(dir);
  if (!ok) return 1;
  // Training: one session's readout per batch, and the movie needs no
  // gradient. Inference: the core once per clip, then every session's readout.
  const auto layers = fovea::bench::retina_core_layers(*model);
  // fovea's reference kernels run openretina's dense conv3d.
  const bool fast = fovea::nn::kernel_set() == fovea::nn::KernelSet::fast;
  const int64_t cells = opt["--neurons"], all_cells = cells * opt["--sessions"];
  auto epoch_flop = [&](bool separable) {
    const auto f = fovea::bench::retina_forward_flop(layers, cells, chunk, 18, 16, separable);
    return chunks_per_epoch * fovea::bench::training_flop(f, 2);
  };
  auto inference_flop = [&](bool separable) {
    return n_clips * fovea::bench::retina_forward_flop(layers, all_cells, 150, 18, 16, separable).total();
  };
  std::cout << "fovea kernels: " << fovea::nn::to_string(fovea::nn::kernel_set())
            << ", precision: " << fovea::train::to_string(options.precision) << "\n";
  fovea::bench::print_table({fovea::bench::measured_row("retina default: training epoch", f_epoch, "epoch",
                                                        epoch_flop(fast), epoch_flop(false)),
                             fovea::bench::measured_row("retina default: inference", f_infer, "inference",
                                                        inference_flop(fast), inference_flop(false))},
                            py, {}, sgemm, fma);
  return 0;
}
