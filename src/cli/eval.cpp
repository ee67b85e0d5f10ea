// fovea eval --model M --data D: per-neuron CSV and JSON summary (api::evaluate).
#include <iostream>

#include "cli/commands.h"
#include "cli/print_report.h"
#include "cli/v1_data_options.h"
#include "fovea/api/evaluate.h"

namespace fovea::cli {

void add_eval_command(CLI::App& app) {
  struct Args {
    api::EvaluateOptions eval;
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->eval;
  auto* cmd = app.add_subcommand("eval", "evaluate a model on a dataset's repeated test stimuli");
  cmd->add_option("--model,--model-path", o.model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  add_v1_data_options(cmd, o.data);
  cmd->add_option("--fev-threshold,--var-ratio-cutoff", o.threshold,
                  "include neurons with FEV above this (V1; default: the model's, 0.15) or with an "
                  "explainable/total variance ratio of at least this (retina; default 0.15)");
  cmd->add_option("--test-name", o.test_name, "retina: the test stimulus to evaluate on (default: the model's)");
  cmd->add_option("-o,--output", o.output, "output directory for eval.csv and eval.json")->capture_default_str();
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    args->eval.device = args->runtime.device;
    const auto r = api::evaluate(args->eval);
    if (r.family == "retina")
      print_retina_summary(r.report);
    else
      print_v1_summary(r.report, r.threshold);
    std::cout << "wrote " << r.csv << " and " << r.json << "\n";
  });
}

}  // namespace fovea::cli
