// fovea eval --model M --data D: per-neuron CSV and JSON summary (api::evaluate).
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/print_report.h"
#include "cli/v1_data_options.h"
#include "fovea/api/evaluate.h"

namespace fovea::cli {

namespace {

// The lines of openretina's EvaluationSummary.print_report that fovea's
// summary does not already print: split, lag, per-trial means, dataset statistics.
void print_openretina_summary(const nlohmann::json& s) {
  const auto number = [](const nlohmann::json& v) {
    std::ostringstream out;
    if (v.is_number())
      out << std::fixed << std::setprecision(3) << v.get<double>();
    else
      out << "n/a";
    return out.str();
  };
  std::cout << "data split: " << s.value("data_split", std::string("test")) << ", temporal lag: "
            << s.value("temporal_lag", int64_t(0)) << " frames\n";
  if (s.value("n_test_repeats_max", 0.0) > 1)
    std::cout << "per trial: correlation " << number(s["corr_by_trial_mean"]) << " (+/-"
              << number(s["corr_by_trial_std"]) << "), MSE " << number(s["mse_by_trial_mean"]) << " (+/-"
              << number(s["mse_by_trial_std"]) << ")\n";
  if (!s.contains("unique_train_frames")) return;
  std::cout << "dataset: " << s["n_sessions"] << " sessions; unique frames (transitions): train "
            << s["unique_train_frames"] << " (" << s["unique_train_transitions"] << "), validation "
            << s["unique_val_frames"] << " (" << s["unique_val_transitions"] << "), train+validation "
            << s["unique_train_val_frames"];
  for (const auto& [name, n] : s["unique_test_frames"].items())
    std::cout << ", test " << name << " " << n << " (" << s["unique_test_transitions"].value(name, 0) << ")";
  std::cout << "\n";
}

}  // namespace

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
  cmd->add_option("--data-split", o.data_split,
                  "retina: train, validation, test or a test stimulus's name (openretina's evaluation.data_split)")
      ->capture_default_str();
  cmd->add_flag("--dataset-statistics", o.dataset_statistics,
                "retina: count the unique frames and frame transitions of every split (openretina's "
                "compute_dataset_statistics)");
  cmd->add_option("-o,--output", o.output, "output directory for eval.csv and eval.json")->capture_default_str();
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    args->eval.device = args->runtime.device;
    const auto r = api::evaluate(args->eval);
    if (r.family == "retina") {
      print_retina_summary(r.report);
      print_openretina_summary(r.report.summary);
    }
    else
      print_v1_summary(r.report, r.threshold);
    std::cout << "wrote " << r.csv << " and " << r.json << "\n";
  });
}

}  // namespace fovea::cli
