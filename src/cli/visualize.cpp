// fovea visualize --model-path M --save-folder DIR: weight figures and MEIs of
// every inner channel and output neuron, and DIR/index.html to browse them.
#include <torch/torch.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/visualize_evaluation.h"
#include "fovea/error.h"
#include "fovea/nn/model_loader.h"
#include "fovea/viz/visualize.h"

namespace fovea::cli {

namespace {
struct VisualizeArgs {
  std::string model, save_folder, data;
  viz::VisualizeOptions options;
  bool no_weights = false, no_meis = false;
  RuntimeOptions runtime;
};

void run_visualize(VisualizeArgs& a) {
  auto model = nn::load_any_model(a.model);
  model->to(torch::Device(a.runtime.device));
  a.options.weights = !a.no_weights;
  a.options.meis = !a.no_meis;
  a.options.recipe.seed = a.runtime.seed;
  viz::ModelEvaluation evaluation;
  const bool with_data = !a.data.empty();
  if (with_data) evaluation = evaluate_for_visualize(*model, a.data, a.save_folder, a.options.format, a.runtime.device);
  const auto page = viz::visualize_model(model, a.model, a.save_folder, a.options, with_data ? &evaluation : nullptr);
  std::cout << "wrote " << page.string() << "\n";
}
}  // namespace

void add_visualize_command(CLI::App& app) {
  auto args = std::make_shared<VisualizeArgs>();
  auto* cmd = app.add_subcommand(
      "visualize", "weight figures and MEIs of every inner channel and output neuron, and an HTML page to browse them");
  cmd->add_option("--model-path,--model", args->model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_option("--save-folder", args->save_folder, "output folder")->required();
  cmd->add_option("--time-steps-stimulus", args->options.time_steps, "MEI movie length (frames)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--image-file-format", args->options.format, "figure format: png, jpg, svg or pdf")->capture_default_str()->check(CLI::IsMember({"png", "jpg", "svg", "pdf"}));
  cmd->add_option("--data", args->data, "dataset folder: adds each neuron's evaluation (metrics and figures) to the page");
  cmd->add_option("--steps", args->options.recipe.steps, "MEI optimisation steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", args->options.recipe.lr, "MEI learning rate (SGD)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", args->options.recipe.batch_size, "MEIs optimised together")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--no-weights", args->no_weights, "skip the weight figures");
  cmd->add_flag("--no-meis", args->no_meis, "skip the MEIs");
  add_runtime_options(cmd, args->runtime, true);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_visualize(*args);
  });
}

}  // namespace fovea::cli
