// fovea top-images --model M --data D --neuron N: a V1 neuron's preferred
// training images and those of each readout channel it uses (the tutorial's
// section 8, "maximum stimuli"), as a figure and a JSON list of image indices (api::top_images).
#include <iostream>

#include "cli/commands.h"
#include "cli/index_list.h"
#include "cli/v1_data_options.h"
#include "fovea/api/top_images.h"

namespace fovea::cli {

void add_top_images_command(CLI::App& app) {
  struct Args {
    api::TopImagesOptions top;
    std::string neurons;
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->top;
  auto* cmd = app.add_subcommand(
      "top-images", "a V1 neuron's preferred training images and those of each readout channel it uses");
  cmd->add_option("--model,--model-path", o.model, "V1 model with a rank-1 readout")->required();
  add_v1_data_options(cmd, o.data);
  cmd->add_option("--neuron", args->neurons, "neuron(s): 3, 0,4,7 or 0-9")->required();
  cmd->add_option("--threshold", o.threshold, "channels with |Wc| above this are shown (the tutorial uses 0.3)")->capture_default_str();
  cmd->add_option("--n-top", o.n_top, "top images of the neuron")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--n-channel-top", o.n_channel_top, "top images per channel")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--format", o.format, "figure format: png, svg, pdf or jpg")->capture_default_str()->check(CLI::IsMember({"png", "svg", "pdf", "jpg"}));
  cmd->add_option("-o,--output", o.output, "output folder")->capture_default_str();
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    auto& o = args->top;
    o.device = args->runtime.device;
    o.neurons = parse_index_list(args->neurons, "--neuron");
    const auto r = api::top_images(o);
    for (const auto& n : r.neurons)
      std::cout << "neuron " << n.neuron << ": " << n.channels.size() << " channels with |Wc| > " << o.threshold
                << "; wrote " << n.figure << "\n";
  });
}

}  // namespace fovea::cli
