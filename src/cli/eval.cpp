// fovea eval --model M --data D: per-neuron CSV and JSON summary.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/retina_run.h"
#include "cli/v1_data_options.h"
#include "fovea/error.h"
#include "fovea/eval/report.h"
#include "fovea/io/atomic_file.h"
#include "fovea/data/simulate_v1.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"

namespace fovea::cli {

namespace {
struct EvalArgs {
  std::string model, output = "eval";
  V1DataOptions data;
  double threshold = -1;
  std::string test_name;  // retina: which test stimulus
  RuntimeOptions runtime;
};

void run_eval(EvalArgs& a) {
  auto model = nn::load_any_model(a.model);
  if (model->spec().value("family", "") == "retina") {
    RetinaEvalArgs r;
    r.data_dir = a.data.dir;
    r.output = a.output;
    r.test_name = a.test_name;
    r.device = a.runtime.device;
    if (a.threshold >= 0) r.var_ratio_cutoff = a.threshold;
    run_eval_retina(*model, r);
    return;
  }
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
  cmd->add_option("--model,--model-path", args->model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  args->data.add_to(cmd);
  cmd->add_option("--fev-threshold,--var-ratio-cutoff", args->threshold,
                  "include neurons with FEV above this (V1; default: the model's, 0.15) or with an "
                  "explainable/total variance ratio of at least this (retina; default 0.15)");
  cmd->add_option("--test-name", args->test_name, "retina: the test stimulus to evaluate on (default: the model's)");
  cmd->add_option("-o,--output", args->output, "output directory for eval.csv and eval.json")->capture_default_str();
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_eval(*args);
  });
}

}  // namespace fovea::cli
