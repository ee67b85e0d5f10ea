// bench_mei: MEI optimisation (openretina's optimize_stimulus with the seed
// recipe: a start of randn·0.1, SGD with learning rate 100, IncreaseObjective
// on one neuron) for openretina's default retina model and minimodel's V1 full
// model, in fovea and in the PyTorch baseline (bench/mei_baseline.py: the same
// models, loop, objective and postprocessor in plain torch), from the same
// weights and the same start, in one run. Prints seconds, the speed-up
// (PyTorch / fovea), fovea's final objective, how far the two sides' final
// objectives and final stimuli differ (relative), each side's page faults and
// GFLOP/s (each side's own convolution algorithm: flops.h).
//   bench_mei [--neurons 100] [--v1-neurons 500] [--neuron 0] [--time-steps 40]
//             [--lr 100] [--threads 2] [--repeats 3]
//             [--freeze-weights 1] [--kernels fast|reference]
// Retina: hoefling_2024_base_low_res architecture, one session of --neurons
// cells, a stimulus of stimulus_shape(time_steps) = (1, 2, 40, 18, 16), the
// mean over output frames 10..19 (SliceMeanReducer(0, 10, 10)); without and
// with Höfling et al.'s norm-30 + per-channel clip postprocessor. With 40 input
// frames the model answers 10 output frames, so the window falls back to
// frames 0..9, as openretina's reducer does. V1: the 16-320 full model on one
// 66x130 image, MeanReducer(0). Each case runs 10 and 100 iterations.
// Each V1 iteration allocates and frees tens of MB; glibc's malloc gives much
// of it back to the OS, and a process on it pays ~15,000 page faults per
// iteration (the table shows them). fovea runs on tcmalloc, which keeps those
// blocks (include/fovea/nn/process_allocator.h), as does the tuned baseline.
// With --freeze-weights 1 (the default) fovea's side freezes the weights
// during each optimisation, as `fovea mei` does (FrozenForOptimisation): the
// stimulus's gradient, and so the result, is the same, without the weights'
// gradients that openretina's optimize_stimulus, and the baseline, compute on
// every step. --freeze-weights 0 times fovea computing them too.
// Weights are fovea's random initialisation with BatchNorm's running
// statistics set on white noise (see calibrate_batchnorm); the optimisation
// runs in eval mode, as on a trained model.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "baseline_runner.h"
#include "bench_models.h"
#include "bench_options.h"
#include "flops.h"
#include "fovea/insilico/frozen_for_optimisation.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/optimize.h"
#include "fovea/insilico/reducers.h"
#include "fovea/insilico/regularizers.h"
#include "fovea/insilico/stoppers.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model.h"
#include "fovea/nn/v1_readouts.h"
#include "measure.h"

namespace {

using Json = nlohmann::json;
namespace insilico = fovea::insilico;

// A model with the objective to optimise and the start both sides share.
struct Subject {
  std::string name;  // "retina" or "v1": the baseline's model and file names
  std::shared_ptr<fovea::nn::Model> model;
  std::shared_ptr<insilico::Objective> objective;
  at::Tensor start;
  Json description;  // what the baseline needs to rebuild the model and objective
  // Operations of one step (forward, the stimulus's gradient, and the
  // weights' unless frozen) on each side (flops.h).
  double fovea_step_flop = 0, baseline_step_flop = 0;
};

// One timed optimisation: a subject, an iteration count, with or without norm + clip.
struct Case {
  std::string key;  // the baseline's JSON key and the name of its final stimulus file
  std::string label;
  Subject* subject;
  int64_t iterations;
  bool norm_clip;
};

struct Outcome {
  double seconds;
  at::Tensor stimulus;
  double objective;
  double faults_per_step;  // minor page faults per iteration (see calibrate_batchnorm)
};

long minor_page_faults() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Höfling et al. 2024: norm 30; green [−0.654, 6.269], UV [−0.913, 6.269].
const insilico::ChannelRanges kHoeflingRanges = {{-0.654, 6.269}, {-0.913, 6.269}};
constexpr double kHoeflingNorm = 30.0;

// A freshly initialised model hardly responds: its conv weights are small and
// BatchNorm's initial running statistics (mean 0, variance 1) do not rescale
// them, so every response sits within ~1e-6 of its resting value and an MEI
// barely moves (float32 cannot even show the objective change). Running white
// noise through the core in train mode sets the running statistics as
// training would, so activations have unit scale, as in a trained model.
// `passes` covers the BatchNorm momentum (openretina 0.1, minimodel 0.9).
// The noise is one stimulus of the MEI's shape per pass, not a larger batch,
// so that fovea's process holds no more freed memory than the baseline's
// (which only loads the weights).
void calibrate_batchnorm(fovea::nn::Model& model, const std::vector<int64_t>& stimulus_shape, int passes) {
  torch::NoGradGuard no_grad;
  model.train();
  for (int i = 0; i < passes; ++i) model.core()->forward(torch::randn(stimulus_shape));
  model.eval();
}

Subject make_subject(const std::string& name, std::shared_ptr<fovea::nn::Model> model, const std::string& data_key,
                     int64_t neuron, std::shared_ptr<insilico::ResponseReducer> reducer, const Json& reducer_json,
                     int64_t time_steps) {
  Subject s;
  s.name = name;
  s.model = std::move(model);
  s.objective = std::make_shared<insilico::IncreaseObjective>(s.model, std::vector<int64_t>{neuron}, data_key,
                                                              std::move(reducer));
  s.start = torch::randn(s.model->stimulus_shape(time_steps)) * 0.1;
  s.description = {{"weights", name + "_weights.npz"},
                   {"start", name + "_start.npy"},
                   {"session", data_key},
                   {"neurons", s.model->readout()->n_neurons(data_key)},
                   {"neuron", neuron},
                   {"reducer", reducer_json}};
  return s;
}

// Writes the weights and the start where the baseline reads them.
void save_subject(const Subject& s, const std::filesystem::path& dir) {
  fovea::io::write_npz((dir / s.description["weights"].get<std::string>()).string(), s.model->state_dict());
  fovea::io::write_npy((dir / s.description["start"].get<std::string>()).string(), s.start);
}

// Writes each subject's weights and start, and plan.json: what the baseline
// runs (the models, their objectives, the cases, the optimiser and postprocessor).
void write_plan(const std::filesystem::path& dir, const std::vector<const Subject*>& subjects,
                const std::vector<Case>& cases, double lr) {
  Json plan = {{"lr", lr}, {"norm", kHoeflingNorm}, {"ranges", Json::array()}, {"models", Json::object()},
               {"cases", Json::array()}};
  for (const auto& [lo, hi] : kHoeflingRanges) plan["ranges"].push_back(Json::array({*lo, *hi}));
  for (const Subject* s : subjects) {
    save_subject(*s, dir);
    plan["models"][s->name] = s->description;
  }
  for (const auto& c : cases)
    plan["cases"].push_back(
        {{"key", c.key}, {"model", c.subject->name}, {"iterations", c.iterations}, {"norm_clip", c.norm_clip}});
  fovea::io::write_file_atomic((dir / "plan.json").string(), plan.dump(2));
}

// fovea's optimisation of one case, best of `repeats`, each from the start;
// with `freeze`, the weights frozen meanwhile, as `fovea mei` runs it.
Outcome run_fovea(const Case& c, double lr, int repeats, bool freeze) {
  std::vector<std::shared_ptr<insilico::StimulusPostprocessor>> post;
  if (c.norm_clip)
    post.push_back(std::make_shared<insilico::ChangeNormJointlyClipRangeSeparately>(kHoeflingRanges, kHoeflingNorm));
  const insilico::OptimizerFactory sgd = [lr](std::vector<at::Tensor> p) {
    return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(lr));
  };
  at::Tensor stimulus;
  const long faults = minor_page_faults();
  const double seconds = fovea::bench::best_of(repeats, [&] {
    std::optional<insilico::FrozenForOptimisation> frozen;
    if (freeze) frozen.emplace(*c.subject->model);
    stimulus = c.subject->start.clone().requires_grad_(true);
    insilico::OptimizationStopper stopper(c.iterations);
    insilico::optimize_stimulus(stimulus, sgd, *c.subject->objective, stopper, {}, post);
  });
  const double faults_per_step = static_cast<double>(minor_page_faults() - faults) / (repeats * c.iterations);
  torch::NoGradGuard no_grad;
  return {seconds, stimulus, c.subject->objective->forward(stimulus).item<double>(), faults_per_step};
}

// Warm-up (allocations, oneDNN primitive caches): two untimed iterations.
void warm_up(Subject& s, double lr, bool freeze) {
  Case warm{"", "", &s, 2, false};
  run_fovea(warm, lr, 1, freeze);
}

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).norm().item<double>() /
         b.to(torch::kFloat64).norm().item<double>();
}

std::string format(const char* pattern, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, pattern, value);
  return buf;
}

// The case's row: times, fovea's final objective, how far its stimulus moved,
// and how far the baseline's final objective and stimulus (read from `dir`)
// are from fovea's.
fovea::bench::Row table_row(const Case& c, const Outcome& f, const Json& py, const std::filesystem::path& dir) {
  fovea::bench::Row row{c.label, f.seconds, c.key, {format("%.6g", f.objective),
                                                    format("%.3g", relative_difference(f.stimulus, c.subject->start))}};
  if (py.contains(c.key + "_objective")) {  // not when the baselines are skipped (FOVEA_BENCH_BASELINE=0)
    const double p_objective = py[c.key + "_objective"].get<double>();
    const at::Tensor p_stimulus = fovea::io::read_npy((dir / ("final_" + c.key + ".npy")).string());
    row.extra.push_back(format("%.2e", std::abs(f.objective - p_objective) / std::abs(p_objective)));
    row.extra.push_back(format("%.2e", relative_difference(f.stimulus, p_stimulus)));
    row.extra.push_back(format("%.0f", f.faults_per_step) + "/" + format("%.0f", py[c.key + "_faults"].get<double>()));
  } else {
    row.extra.insert(row.extra.end(), {"-", "-", format("%.0f", f.faults_per_step)});
  }
  row.fovea_flop = c.iterations * c.subject->fovea_step_flop;
  row.baseline_flop = c.iterations * c.subject->baseline_step_flop;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--neurons", 100}, {"--v1-neurons", 500}, {"--neuron", 0},
                                        {"--time-steps", 40}, {"--lr", 100},       {"--threads", 2},
                                        {"--repeats", 3},     {"--freeze-weights", 1}};
  if (!fovea::bench::parse_options(argc, argv, opt)) return 2;
  const int repeats = static_cast<int>(opt["--repeats"]);
  const double lr = static_cast<double>(opt["--lr"]);
  const int64_t neuron = opt["--neuron"], time_steps = opt["--time-steps"];
  const bool freeze = opt["--freeze-weights"] != 0;
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  torch::manual_seed(0);
  // The reducer's fallback warning would print on every iteration (see the top).
  spdlog::set_level(spdlog::level::err);

  auto retina_model = fovea::nn::build_model(fovea::bench::retina_spec({{"session_0", opt["--neurons"]}}, time_steps));
  calibrate_batchnorm(*retina_model, retina_model->stimulus_shape(time_steps), 50);
  Subject retina = make_subject("retina", retina_model, "session_0", neuron,
                                std::make_shared<insilico::SliceMeanReducer>(0, 10, 10),
                                {{"type", "slice_mean"}, {"axis", 0}, {"start", 10}, {"length", 10}}, time_steps);
  {
    // fovea's reference kernels run openretina's dense conv3d.
    const bool separable = fovea::nn::kernel_set() == fovea::nn::KernelSet::fast;
    const auto layers = fovea::bench::retina_core_layers(*retina_model);
    auto forward = [&](bool separable_conv) {
      return fovea::bench::retina_forward_flop(layers, opt["--neurons"], time_steps, 18, 16, separable_conv);
    };
    retina.fovea_step_flop = fovea::bench::mei_step_flop(forward(separable), !freeze);
    retina.baseline_step_flop = fovea::bench::mei_step_flop(forward(false), true);
  }
  auto v1_model = fovea::nn::build_model(fovea::bench::v1_spec(opt["--v1-neurons"]));
  calibrate_batchnorm(*v1_model, v1_model->stimulus_shape(1), 5);
  // Training keeps the rank-1 readout's spatial weights non-negative (minimodel clamps after every step).
  std::dynamic_pointer_cast<fovea::nn::Rank1Readout>(v1_model->readout())->clamp_spatial();
  Subject v1 = make_subject("v1", v1_model, "", neuron, std::make_shared<insilico::MeanReducer>(0),
                            {{"type", "mean"}, {"axis", 0}}, time_steps);
  const auto v1_flop = fovea::bench::v1_forward_flop(16, 320, 25, 9, true, opt["--v1-neurons"]);
  v1.fovea_step_flop = fovea::bench::mei_step_flop(v1_flop, !freeze);
  v1.baseline_step_flop = fovea::bench::mei_step_flop(v1_flop, true);
  const std::vector<Case> cases = {
      {"retina_10", "retina default: 10 steps", &retina, 10, false},
      {"retina_100", "retina default: 100 steps", &retina, 100, false},
      {"retina_norm_clip_10", "retina + norm/clip: 10 steps", &retina, 10, true},
      {"retina_norm_clip_100", "retina + norm/clip: 100 steps", &retina, 100, true},
      {"v1_10", "V1 full model: 10 steps", &v1, 10, false},
      {"v1_100", "V1 full model: 100 steps", &v1, 100, false}};

  const auto dir = std::filesystem::temp_directory_path() / ("fovea_bench_mei_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  write_plan(dir, {&retina, &v1}, cases, lr);

  std::cout << "fovea kernels: " << fovea::nn::to_string(fovea::nn::kernel_set()) << "\n";
  std::cout << "bench_mei: SGD lr " << lr << ", neuron " << neuron << "; retina (1, 2, " << time_steps
            << ", 18, 16), " << opt["--neurons"] << " neurons, mean over output frames 10..19; V1 (1, 1, 66, 130), "
            << opt["--v1-neurons"] << " neurons; " << opt["--threads"] << " threads, best of " << repeats
            << (freeze ? "; fovea freezes the weights (as fovea mei), the baseline does not (as openretina)"
                       : "; neither side freezes the weights")
            << "\n";
  warm_up(retina, lr, freeze);
  warm_up(v1, lr, freeze);
  std::vector<Outcome> outcomes;
  for (const auto& c : cases) outcomes.push_back(run_fovea(c, lr, repeats, freeze));

  const std::string cmd = "/usr/bin/python3 " + std::string(FOVEA_SOURCE_DIR) +
                          "/bench/mei_baseline.py " + dir.string() + " " + std::to_string(opt["--threads"]) + " " +
                          std::to_string(repeats);
  Json py;
  const bool ok = fovea::bench::run_baseline(cmd, py);
  // Last, so that its large blocks do not change malloc's thresholds, and with
  // them the page faults, of the timed optimisations (see calibrate_batchnorm).
  const double sgemm = ok ? fovea::bench::sgemm_peak_gflops() : 0, fma = ok ? fovea::bench::fma_peak_gflops() : 0;
  std::vector<fovea::bench::Row> rows;
  if (ok)
    for (size_t i = 0; i < cases.size(); ++i) rows.push_back(table_row(cases[i], outcomes[i], py, dir));
  std::filesystem::remove_all(dir);
  if (!ok) return 1;
  for (const Subject* s : {&retina, &v1}) {
    torch::NoGradGuard no_grad;
    std::cout << s->name << ": objective at the start " << s->objective->forward(s->start).item<double>() << "\n";
  }
  fovea::bench::print_table(rows, py, {"objective", "moved", "obj. diff", "stim. diff", "faults/step"}, sgemm, fma);
  std::cout << "objective: fovea's, at its final stimulus; moved: |final - start| / |start| (L2 norms);\n"
               "diff: |fovea - PyTorch| / |PyTorch| of the final objective and of the final stimulus;\n"
               "faults/step: minor page faults per iteration, fovea/PyTorch (malloc returning memory to the OS)\n";
  return 0;
}
