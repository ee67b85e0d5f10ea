// fovea eval --model M --data D: per-neuron CSV and JSON summary.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/v1_data_options.h"
#include "fovea/error.h"
#include "fovea/eval/report.h"
#include "fovea/io/atomic_file.h"
#include "fovea/data/simulate_v1.h"
#include "fovea/nn/model_file.h"

namespace fovea::cli {

namespace {
struct EvalArgs {
  std::string model, output = "eval";
  V1DataOptions data;
  double threshold = -1;
  RuntimeOptions runtime;
};

void run_eval(EvalArgs& a) {
  auto model = nn::load_model(a.model);
  a.data.resolve();
  auto load = a.data.load_options_for(*model);
  if (a.threshold >= 0) {
    load.fev_threshold = a.threshold;
    model->spec()["data"]["fev_threshold"] = a.threshold;
  }
  auto dataset = data::load_v1_dataset(load);
  at::Tensor truth;
  if (!a.data.truth.empty())
    truth = data::read_test_rates(a.data.truth, dataset.test_responses.size(0), dataset.n_neurons());
  auto report = eval::evaluate_v1(*model, dataset, truth, a.runtime.device);
  io::make_directories(a.output);
  namespace fs = std::filesystem;
  const auto csv = (fs::path(a.output) / "eval.csv").string(), json = (fs::path(a.output) / "eval.json").string();
  eval::write_report(report, csv, json);
  const auto& m = report.summary["mean"];
  std::cout << "neurons: " << report.summary["n_neurons"] << ", included (FEV > " << load.fev_threshold
            << "): " << report.summary["n_included"] << "\n";
  for (const auto& c : report.columns) std::cout << "  " << c << ": " << m[c] << "\n";
  std::cout << "wrote " << csv << " and " << json << "\n";
}
}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "evaluate a model on a dataset's repeated test stimuli");
  cmd->add_option("--model", args->model, "model file (.safetensors)")->required();
  args->data.add_to(cmd);
  cmd->add_option("--fev-threshold", args->threshold, "include neurons with FEV above this (default: the model's, 0.15)");
  cmd->add_option("-o,--output", args->output, "output directory for eval.csv and eval.json")->capture_default_str();
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_eval(*args);
  });
}

}  // namespace fovea::cli
