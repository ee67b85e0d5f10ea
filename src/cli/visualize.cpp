// fovea visualize --model-path M | --is-hoefling-ensemble-model [--model-id N]
//   --save-folder DIR: weight figures and MEIs of every inner channel and
// output neuron, and DIR/index.html to browse them (openretina's visualize).
#include <torch/torch.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/visualize_evaluation.h"
#include "fovea/error.h"
#include "fovea/nn/hoefling_ensemble.h"
#include "fovea/nn/model_loader.h"
#include "fovea/viz/visualize.h"

namespace fovea::cli {

namespace {
struct VisualizeArgs {
  std::string model, save_folder, data;
  bool ensemble = false;
  int64_t model_id = -1;  // openretina's default: the last member
  viz::VisualizeOptions options;
  bool no_weights = false, no_meis = false, no_constraints = false;
  RuntimeOptions runtime;
};

void run_visualize(VisualizeArgs& a) {
  std::shared_ptr<nn::Model> model, weights_model;
  std::string name = a.model;
  if (a.ensemble) {
    // As openretina: MEIs of the member with centred readouts, weight
    // figures of the same member as stored.
    name = std::string(nn::kHoeflingEnsembleName) + ":" + std::to_string(a.model_id);
    model = nn::load_hoefling_ensemble(a.model_id, /*center=*/true);
    weights_model = nn::load_hoefling_ensemble(a.model_id, /*center=*/false);
    a.options.weight_layout = viz::WeightLayout::legacy_ensemble;
  } else {
    model = nn::load_any_model(a.model);
  }
  const torch::Device device(a.runtime.device);
  model->to(device);
  if (weights_model) weights_model->to(device);
  a.options.weights = !a.no_weights;
  a.options.meis = !a.no_meis;
  a.options.constraints = !a.no_constraints;
  a.options.seed = a.runtime.seed;
  viz::ModelEvaluation evaluation;
  const bool with_data = !a.data.empty();
  if (with_data) evaluation = evaluate_for_visualize(*model, a.data, a.save_folder, a.options.format, a.runtime.device);
  const auto result = viz::visualize_model(model, name, a.save_folder, a.options, with_data ? &evaluation : nullptr,
                                           weights_model);
  for (const auto& note : result.notes) std::cerr << "visualize: " << note << "\n";
  std::cout << "wrote " << result.meis << " MEIs and " << result.weight_figures << " weight figures; "
            << result.page.string() << "\n";
}
}  // namespace

void add_visualize_command(CLI::App& app) {
  auto args = std::make_shared<VisualizeArgs>();
  auto* cmd = app.add_subcommand(
      "visualize",
      "Visualize most exciting stimuli for each neuron in the model and visualize the weights of the model "
      "(openretina's visualize), with an HTML page to browse them");
  auto* model = cmd->add_option("--model-path,--model", args->model,
                                "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name");
  auto* ensemble = cmd->add_flag("--is-hoefling-ensemble-model", args->ensemble,
                                 "the Höfling et al. 2024 ensemble (downloaded from GIN): MEIs of member "
                                 "--model-id with centred readouts, its weights as stored");
  model->excludes(ensemble);
  ensemble->excludes(model);
  cmd->add_option("--model-id", args->model_id,
                  "ensemble member (0..4; negative counts from the end, -1 = the last, as openretina; ignored with --model-path)")
      ->capture_default_str();
  cmd->add_option("--save-folder", args->save_folder, "Path were to save outputs")->required();
  cmd->add_option("--time-steps-stimulus", args->options.time_steps, "MEI movie length (frames)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--image-file-format", args->options.format, "figure format: png, jpg, svg or pdf")->capture_default_str()->check(CLI::IsMember({"png", "jpg", "svg", "pdf"}));
  cmd->add_option("--data", args->data, "dataset folder: adds each neuron's evaluation (metrics and figures) to the page");
  cmd->add_option("--steps", args->options.steps, "MEI optimisation steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", args->options.lr, "MEI learning rate (SGD)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", args->options.batch_size, "MEIs optimised together")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--no-constraints", args->no_constraints,
                "optimise green/UV MEIs without openretina's norm and clip constraints");
  cmd->add_flag("--no-weights", args->no_weights, "skip the weight figures");
  cmd->add_flag("--no-meis", args->no_meis, "skip the MEIs");
  add_runtime_options(cmd, args->runtime, true);
  cmd->callback([args, model, ensemble] {
    if (model->count() == 0 && ensemble->count() == 0)
      throw CLI::RequiredError("one of --model-path and --is-hoefling-ensemble-model");
    apply_runtime_options(args->runtime);
    run_visualize(*args);
  });
}

}  // namespace fovea::cli
