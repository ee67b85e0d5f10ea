// fovea visualize --model-path M | --is-hoefling-ensemble-model [--model-id N]
//   --save-folder DIR: weight figures and MEIs of every inner channel and
// output neuron, and DIR/index.html to browse them (openretina's visualize; api::visualize).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/visualize.h"

namespace fovea::cli {

void add_visualize_command(CLI::App& app) {
  struct Args {
    api::VisualizeOptions visualize;
    bool no_weights = false, no_meis = false, no_constraints = false;
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->visualize;
  auto* cmd = app.add_subcommand(
      "visualize",
      "Visualize most exciting stimuli for each neuron in the model and visualize the weights of the model "
      "(openretina's visualize), with an HTML page to browse them");
  auto* model = cmd->add_option("--model-path,--model", o.model_path,
                                "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name");
  auto* ensemble = cmd->add_flag("--is-hoefling-ensemble-model", o.is_hoefling_ensemble_model,
                                 "the Höfling et al. 2024 ensemble (downloaded from GIN): MEIs of member "
                                 "--model-id with centred readouts, its weights as stored");
  model->excludes(ensemble);
  ensemble->excludes(model);
  cmd->add_option("--model-id", o.model_id,
                  "ensemble member (0..4; negative counts from the end, -1 = the last, as openretina; ignored with --model-path)")
      ->capture_default_str();
  cmd->add_option("--save-folder", o.save_folder, "Path were to save outputs")->required();
  cmd->add_option("--time-steps-stimulus", o.time_steps, "MEI movie length (frames)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--image-file-format", o.format, "figure format: png, jpg, svg or pdf")->capture_default_str()->check(CLI::IsMember({"png", "jpg", "svg", "pdf"}));
  cmd->add_option("--data", o.data, "dataset folder: adds each neuron's evaluation (metrics and figures) to the page");
  cmd->add_option("--mouse", o.mouse,
                  "V1: minimodel's mouse (L1_A5, L1_A1, FX9, FX10, FX8, FX20) whose published files --data holds, "
                  "read by their names as eval --mouse reads them (default: the mouse the model records)");
  cmd->add_option("--steps", o.steps, "MEI optimisation steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", o.lr, "MEI learning rate (SGD)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", o.batch_size, "MEIs optimised together")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--no-constraints", args->no_constraints,
                "optimise green/UV MEIs without openretina's norm and clip constraints");
  cmd->add_flag("--no-weights", args->no_weights, "skip the weight figures");
  cmd->add_flag("--no-meis", args->no_meis, "skip the MEIs");
  cmd->add_flag("--resume", o.resume,
                "continue a killed run in the same --save-folder: keep the figures and MEI batches it finished "
                "(its visualize_record.json), make the rest, rewrite the page");
  add_runtime_options(cmd, args->runtime, true);
  cmd->callback([args, model, ensemble] {
    if (model->count() == 0 && ensemble->count() == 0)
      throw CLI::RequiredError("one of --model-path and --is-hoefling-ensemble-model");
    apply_runtime_options(args->runtime);
    auto& o = args->visualize;
    o.weights = !args->no_weights;
    o.meis = !args->no_meis;
    o.constraints = !args->no_constraints;
    o.seed = args->runtime.seed;
    o.device = args->runtime.device;
    const auto r = api::visualize(o).result;
    for (const auto& note : r.notes) std::cerr << "visualize: " << note << "\n";
    std::cout << "wrote " << r.meis << " MEIs and " << r.weight_figures << " weight figures; " << r.page.string()
              << "\n";
  });
}

}  // namespace fovea::cli
