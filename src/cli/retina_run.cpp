// Retina training and evaluation for the train and eval commands.
#include "cli/retina_run.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>

#include "fovea/error.h"
#include "fovea/eval/retina_data_check.h"
#include "fovea/eval/retina_report.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model_file.h"
#include "fovea/train/retina_experiment.h"

namespace fovea::cli {

namespace fs = std::filesystem;

namespace {

// The noise-free test responses that `fovea simulate retina` writes next to
// the data (ground_truth/<session>.npy, (neurons, frames)); empty for recorded data.
std::map<std::string, at::Tensor> read_ground_truth(const std::string& dir, const std::vector<std::string>& sessions) {
  std::map<std::string, at::Tensor> truth;
  for (const auto& s : sessions) {
    const fs::path p = fs::path(dir) / "ground_truth" / (s + ".npy");
    if (!fs::exists(p)) return {};
    truth[s] = io::read_npy(p.string()).to(torch::kFloat32);
  }
  return truth;
}

void print_summary(const eval::EvaluationReport& report) {
  const auto& m = report.summary["mean"];
  std::cout << "neurons: " << report.summary["n_neurons"] << " in " << report.summary["n_sessions"]
            << " sessions, included (" << report.summary["criterion"].get<std::string>() << " >= "
            << report.summary["threshold"] << "): " << report.summary["n_included"] << "\n";
  for (const auto& c : report.columns) std::cout << "  " << c << ": " << m[c] << "\n";
}

}  // namespace

void run_train_retina(nlohmann::json config, const std::string& out, bool quiet) {
  auto options = train::retina_data_options(config.value("data", nlohmann::json::object()));
  spdlog::info("loading {}", options.dir);
  auto dataset = train::load_retina_data(options);
  spdlog::info("{} sessions, {} neurons; stimulus normalised with mean {:.4g}, std {:.4g}", dataset.sessions().size(),
               [&] {
                 int64_t n = 0;
                 for (const auto& [k, v] : dataset.n_neurons_dict()) n += v;
                 return n;
               }(),
               *options.norm_mean, *options.norm_std);
  auto run = train::train_retina(config, dataset, options, (fs::path(out) / "metrics.csv").string(), !quiet);
  const std::string model_path = (fs::path(out) / "model.safetensors").string();
  nn::save_model(model_path, *run.model);

  auto sessions = train::split_sessions(dataset, options.split, /*test_only=*/true);
  eval::RetinaEvalOptions eo;
  eo.test_name = options.test_names.size() == 1 ? options.test_names[0] : "";
  auto report = eval::evaluate_retina(*run.model, sessions, eo, read_ground_truth(options.dir, dataset.sessions()));
  eval::write_report(report, (fs::path(out) / "eval.csv").string(), (fs::path(out) / "eval.json").string());
  std::cout << "model: " << model_path << " (" << run.model->n_parameters() << " parameters; ";
  if (run.result.has_best())
    std::cout << "best validation correlation " << run.result.best_score << " at epoch " << run.result.best_epoch + 1;
  else
    std::cout << "no finite validation correlation";
  std::cout << "; " << run.result.stop_reason << ")\n";
  print_summary(report);
}

RetinaEvaluation evaluate_retina_dataset(nn::Model& model, const RetinaEvalArgs& a) {
  if (a.data_dir.empty()) fail("--data", "a retina model needs the dataset directory (--data DIR)");
  nlohmann::json data = model.spec().value("data", nlohmann::json::object());
  data["dir"] = a.data_dir;
  auto options = train::retina_data_options(data);
  auto dataset = train::load_retina_data(options);
  eval::check_dataset_fits_model(model, dataset, a.data_dir);
  RetinaEvaluation out;
  out.sessions = train::split_sessions(dataset, options.split, /*test_only=*/true);
  eval::RetinaEvalOptions eo;
  eo.test_name = !a.test_name.empty() ? a.test_name : (options.test_names.size() == 1 ? options.test_names[0] : "");
  eo.var_ratio_cutoff = a.var_ratio_cutoff;
  eo.device = a.device;
  out.test_name = eo.test_name;
  out.report = eval::evaluate_retina(model, out.sessions, eo, read_ground_truth(a.data_dir, dataset.sessions()));
  return out;
}

void run_eval_retina(nn::Model& model, const RetinaEvalArgs& a) {
  const auto evaluation = evaluate_retina_dataset(model, a);
  io::make_directories(a.output);
  const auto csv = (fs::path(a.output) / "eval.csv").string(), json = (fs::path(a.output) / "eval.json").string();
  eval::write_report(evaluation.report, csv, json);
  print_summary(evaluation.report);
  std::cout << "wrote " << csv << " and " << json << "\n";
}

}  // namespace fovea::cli
