// profile_step: one training step (forward + backward) and one inference
// batch of a benchmarked model under LibTorch's profiler, summarised as the
// self time per operation, largest first: where fovea's time goes.
// `minimodel-epoch` profiles a whole training epoch of a minimodel as
// `fovea minimodels` trains it (V1Task: 300 trials, the frozen first conv
// cached with the fast kernels, batches of 100, 100 and 100) plus its
// validation on 30 trials. `mei-retina` profiles 10 steps of bench_mei's
// retina MEI (one stimulus of 40 frames, SGD lr 100, neuron 0, mean over
// output frames 10..19). `st-layers` times the retina core's two space-time
// separable convolutions alone on --frames input frames (forward with and
// without gradient, backward; median of --repeats calls) with their
// multiply-adds per second; bench_retina trains on batches of 128 chunks of
// 50 frames and infers on clips of 150.
//   profile_step v1|minimodel|minimodel-epoch|retina|mei-retina|st-layers [--kernels fast|reference] [--threads 2]
//                [--batch 100] [--repeats 7] [--frames 50]
#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "bench_models.h"
#include "bench_options.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/optimize.h"
#include "fovea/insilico/reducers.h"
#include "fovea/insilico/stoppers.h"
#include "fovea/nn/kernels/st_separable.h"
#include "fovea/nn/model.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_experiment.h"
#include "fovea/train/v1_task.h"

namespace {

// Self time per op name from a Chrome trace: an event's duration minus that
// of the events nested in it on the same thread.
void print_self_times(const std::string& trace, const std::string& title) {
  auto events = nlohmann::json::parse(trace);
  if (events.is_object()) events = events["traceEvents"];
  std::map<int64_t, std::vector<nlohmann::json>> by_thread;
  for (auto& e : events)
    if (e.value("ph", "") == "X") by_thread[e.value("tid", int64_t(0))].push_back(e);
  std::map<std::string, std::pair<double, int>> self;  // name -> (µs, calls)
  double total = 0;
  for (auto& [tid, list] : by_thread) {
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a["ts"].template get<double>() < b["ts"].template get<double>(); });
    std::vector<std::pair<double, std::string>> stack;  // (end, name)
    for (const auto& e : list) {
      const double ts = e["ts"].get<double>(), dur = e["dur"].get<double>();
      while (!stack.empty() && stack.back().first <= ts) stack.pop_back();
      const std::string name = e.value("name", "?");
      if (!stack.empty()) self[stack.back().second].first -= dur;
      else total += dur;
      self[name].first += dur;
      self[name].second += 1;
      stack.push_back({ts + dur, name});
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(self.begin(), self.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("%s: %.3f s in profiled ops\n", title.c_str(), total / 1e6);
  for (size_t i = 0; i < std::min<size_t>(rows.size(), 18); ++i)
    std::printf("  %-44s %9.3f s %5.1f%% %6d calls\n", rows[i].first.c_str(), rows[i].second.first / 1e6,
                100 * rows[i].second.first / total, rows[i].second.second);
}

long minor_page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

template <typename F>
void profile(const std::string& title, F&& f) {
  f();  // warm-up
  // Unprofiled first: the wall time and the page faults of one call, which
  // the op table leaves out (time between ops, faults on fresh memory).
  const long faults = minor_page_faults();
  const auto start = std::chrono::steady_clock::now();
  f();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %.3f s wall, %ld page faults (unprofiled call)\n", title.c_str(), wall, minor_page_faults() - faults);
  std::ostringstream out;
  {
    torch::autograd::profiler::RecordProfile guard(out);
    f();
  }
  print_self_times(out.str(), title);
}

// Median seconds of `repeats` calls of f, after one warm-up call.
template <typename F>
double median_seconds(int repeats, F&& f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The retina core's layers (bench_models.h: 2→16, kt 21, 11×11, no padding;
// 16→16, kt 11, 5×5, padding (0, 2, 2)) on a training step's input
// (`frames` frames of 18×16), through nn::st_separable_conv3d.
void time_st_layers(int64_t batch, int64_t frames, int repeats) {
  struct Layer {
    const char* name;
    int64_t in, t, h, w, kt, ks, pad;
    bool need_dx;
  };
  const Layer layers[] = {{"layer 1 (2->16, 21x11x11)", 2, frames, 18, 16, 21, 11, 0, false},
                          {"layer 2 (16->16, 11x5x5, pad 2)", 16, frames - 20, 8, 6, 11, 5, 2, true}};
  std::printf("space-time separable layers, batch %lld of %lld frames, %d threads, median of %d\n",
              static_cast<long long>(batch), static_cast<long long>(frames), at::get_num_threads(), repeats);
  for (const auto& l : layers) {
    const at::Tensor x = torch::randn({batch, l.in, l.t, l.h, l.w}).requires_grad_(l.need_dx);
    const at::Tensor wt = (torch::randn({16, l.in, l.kt}) * 0.1).requires_grad_(true);
    const at::Tensor ws = (torch::randn({16, l.in, l.ks, l.ks}) * 0.1).requires_grad_(true);
    const at::Tensor bias = torch::zeros({16}).requires_grad_(true);
    const std::array<int64_t, 3> pad{0, l.pad, l.pad};
    auto run = [&] { return fovea::nn::st_separable_conv3d(x, wt, ws, bias, pad, pad); };
    const at::Tensor y = run();
    const at::Tensor g = torch::randn_like(y);
    // Multiply-adds per (batch element, i, o) of each pass and stage order, as
    // the kernel's cost model counts them: stage 1 at the field's positions
    // nf (n1 taps), stage 2 at the output's ny (n2 taps); the backward
    // recomputes stage 1, correlates twice per stage and (need_dx) convolves
    // K1 back over the input's nx positions. The first layer keeps its
    // stage-1 fields from the forward pass instead of recomputing them, so
    // its backward GFLOP/s count 44 % more work than it does.
    const double ny = double(y.size(2)) * y.size(3) * y.size(4), nx = double(l.t) * l.h * l.w;
    const double taps_s = double(l.ks) * l.ks;
    auto cost = [&](double nf, double n1, double n2, bool backward) {
      return backward ? nf * n2 + 2 * nf * n1 + ny * n2 + (l.need_dx ? nx * n1 : 0) : nf * n1 + ny * n2;
    };
    const double nf_s = double(l.t) * y.size(3) * y.size(4), nf_t = double(y.size(2)) * l.h * l.w;
    const double fwd = std::min(cost(nf_s, taps_s, l.kt, false), cost(nf_t, l.kt, taps_s, false));
    const double bwd = std::min(cost(nf_s, taps_s, l.kt, true), cost(nf_t, l.kt, taps_s, true));
    const double pairs = double(batch) * l.in * 16;
    const double fwd_mac = pairs * fwd, bwd_mac = pairs * bwd;
    double t_inf, t_fwd, t_bwd;
    {
      torch::NoGradGuard no_grad;
      t_inf = median_seconds(repeats, run);
    }
    t_fwd = median_seconds(repeats, run);
    const at::Tensor yg = run();
    t_bwd = median_seconds(repeats, [&] {
      auto grads = torch::autograd::grad({yg}, l.need_dx ? std::vector<at::Tensor>{x, wt, ws, bias}
                                                         : std::vector<at::Tensor>{wt, ws, bias},
                                         {g}, /*retain_graph=*/true);
    });
    std::printf("  %-34s forward %.4f s (%.1f GFLOP/s), with grad %.4f s, backward %.4f s (%.1f GFLOP/s)\n", l.name,
                t_inf, 2 * fwd_mac / t_inf / 1e9, t_fwd, t_bwd, 2 * bwd_mac / t_bwd / 1e9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: profile_step v1|minimodel|minimodel-epoch|retina|mei-retina|st-layers [--kernels fast|reference] "
                 "[--threads 2] [--batch 100] [--repeats 7] [--frames 50]\n";
    return 2;
  }
  const std::string which = argv[1];
  std::map<std::string, int64_t> opt = {{"--threads", 2}, {"--batch", 100}, {"--repeats", 7}, {"--frames", 50}};
  if (!fovea::bench::parse_options(argc - 1, argv + 1, opt)) return 2;
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);
  const int64_t batch = opt["--batch"];
  nlohmann::json spec;
  at::Tensor x;
  if (which == "minimodel-epoch") {
    auto full = fovea::nn::build_model(fovea::bench::v1_spec(1, false));
    auto mini = fovea::nn::build_model(fovea::bench::v1_spec(1, true));
    fovea::train::copy_first_layer(*full, *mini, true);
    fovea::train::V1TrainingData data;
    data.images = torch::randn({330, 1, 66, 130});
    data.responses = torch::rand({330, 1}) + 0.1;
    data.image_index = torch::arange(330);
    data.train_trials = torch::arange(300);
    data.val_trials = torch::arange(300, 330);
    fovea::train::V1Recipe recipe;
    recipe.batch_size = batch;
    recipe.hoyer_square = 0.03;
    fovea::train::V1Task task(mini, data, recipe, torch::kCPU);
    std::cout << "minimodel epoch, batch " << batch << ", kernels " << fovea::nn::to_string(fovea::nn::kernel_set())
              << ", first conv cached: " << (task.first_conv_cache() ? "yes" : "no") << "\n";
    fovea::train::TrainerOptions options;
    options.show_progress = false;
    auto optimizer = fovea::train::make_optimizer(task, 1e-3, options);
    int64_t epoch = 0;
    profile("training epoch + validation", [&] {
      fovea::train::train_one_epoch(*mini, task, *optimizer, epoch++, options);
      mini->eval();
      task.validation_score();
    });
    return 0;
  }
  if (which == "st-layers") {
    time_st_layers(batch, opt["--frames"], static_cast<int>(opt["--repeats"]));
    return 0;
  }
  if (which == "mei-retina") {
    namespace insilico = fovea::insilico;
    auto model = fovea::nn::build_model(fovea::bench::retina_spec({{"session_0", 100}}, 40));
    model->eval();
    insilico::IncreaseObjective objective(model, {0}, "session_0",
                                          std::make_shared<insilico::SliceMeanReducer>(0, 10, 10));
    const at::Tensor start = torch::randn(model->stimulus_shape(40)) * 0.1;
    const insilico::OptimizerFactory sgd = [](std::vector<at::Tensor> p) {
      return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(100));
    };
    spdlog::set_level(spdlog::level::err);  // the reducer's fallback warning, every step (see bench_mei)
    std::cout << "retina MEI, kernels " << fovea::nn::to_string(fovea::nn::kernel_set()) << "\n";
    profile("10 MEI steps", [&] {
      at::Tensor stimulus = start.clone().requires_grad_(true);
      insilico::OptimizationStopper stopper(10);
      insilico::optimize_stimulus(stimulus, sgd, objective, stopper, {}, {});
    });
    return 0;
  }
  if (which == "v1" || which == "minimodel") {
    spec = fovea::bench::v1_spec(which == "v1" ? 500 : 1, which == "minimodel");
    x = torch::randn({batch, 1, 66, 130});
  } else if (which == "retina") {
    spec = fovea::bench::retina_spec({{"s0", 100}}, 50 + 30);
    x = torch::randn({batch, 2, 80, 18, 16});
  } else {
    std::cerr << "unknown model " << which << "\n";
    return 2;
  }
  auto model = fovea::nn::build_model(spec);
  if (which == "minimodel") {
    auto full = fovea::nn::build_model(fovea::bench::v1_spec(1, false));
    fovea::train::copy_first_layer(*full, *model, true);
  }
  std::cout << which << ", batch " << batch << ", kernels " << fovea::nn::to_string(fovea::nn::kernel_set()) << "\n";
  model->train();
  profile("training step", [&] { model->forward(x).sum().backward(); });
  model->eval();
  profile("inference", [&] {
    torch::NoGradGuard no_grad;
    model->forward(x);
  });
  return 0;
}
