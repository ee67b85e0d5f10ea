// fovea top-images --model M --data D --neuron N: a V1 neuron's preferred
// training images and those of each readout channel it uses (the tutorial's
// section 8, "maximum stimuli"), as a figure and a JSON list of image indices.
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/index_list.h"
#include "cli/v1_data_options.h"
#include "fovea/error.h"
#include "fovea/insilico/top_images.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/viz/top_images_figure.h"

namespace fs = std::filesystem;

namespace fovea::cli {

namespace {
struct TopImagesArgs {
  std::string model, neurons, output = "top_images", format = "png";
  V1DataOptions data;
  insilico::TopImagesOptions options;
  RuntimeOptions runtime;
};

void run_top_images(TopImagesArgs& a) {
  auto model = nn::load_any_model(a.model);
  if (model->spec().value("family", "") == "retina")
    fail(a.model, "top images need a V1 model with a rank-1 readout; this is a retina model");
  a.data.resolve();
  const auto dataset = data::load_v1_dataset(a.data.load_options_for(*model));
  // The training images, as the tutorial ranks them; indices below are into the dataset's images.
  const at::Tensor train_index = std::get<0>(at::_unique(dataset.train_image_index.reshape({-1})));
  const at::Tensor images = dataset.images.index_select(0, train_index);
  a.options.device = torch::Device(a.runtime.device);
  model->to(a.options.device);
  const auto neurons = parse_index_list(a.neurons, "--neuron");
  for (int64_t k : neurons)
    check(k < dataset.n_neurons(), "--neuron",
          "neuron " + std::to_string(k) + " is out of range: the model has " + std::to_string(dataset.n_neurons()) +
              " neurons");
  nlohmann::json summary = nlohmann::json::array();
  auto original = [&](int64_t i) { return train_index[i].item<int64_t>(); };
  for (int64_t k : neurons) {
    const auto top = insilico::top_images(*model, images, k, a.options);
    const std::string file = "neuron_" + std::to_string(k) + "_top_images." + a.format;
    viz::top_images_figure(top, images, "neuron " + std::to_string(k) + ": preferred images")
        .save(fs::path(a.output) / file);
    nlohmann::json entry = {{"neuron", k}, {"figure", file}, {"top_images", nlohmann::json::array()},
                            {"channels", nlohmann::json::array()}};
    for (int64_t i : top.top_images) entry["top_images"].push_back(original(i));
    for (size_t c = 0; c < top.channels.size(); ++c) {
      nlohmann::json images_of_channel = nlohmann::json::array();
      for (int64_t i : top.channel_top_images[c]) images_of_channel.push_back(original(i));
      entry["channels"].push_back({{"channel", top.channels[c]}, {"wc", top.channel_wc[c]}, {"top_images", images_of_channel}});
    }
    summary.push_back(entry);
    std::cout << "neuron " << k << ": " << top.channels.size() << " channels with |Wc| > " << a.options.wc_threshold
              << "; wrote " << (fs::path(a.output) / file).string() << "\n";
  }
  io::write_file_atomic((fs::path(a.output) / "top_images.json").string(), summary.dump(2) + "\n");
}
}  // namespace

void add_top_images_command(CLI::App& app) {
  auto args = std::make_shared<TopImagesArgs>();
  auto* cmd = app.add_subcommand(
      "top-images", "a V1 neuron's preferred training images and those of each readout channel it uses");
  cmd->add_option("--model,--model-path", args->model, "V1 model with a rank-1 readout")->required();
  args->data.add_to(cmd);
  cmd->add_option("--neuron", args->neurons, "neuron(s): 3, 0,4,7 or 0-9")->required();
  cmd->add_option("--threshold", args->options.wc_threshold, "channels with |Wc| above this are shown (the tutorial uses 0.3)")->capture_default_str();
  cmd->add_option("--n-top", args->options.n_top, "top images of the neuron")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--n-channel-top", args->options.n_channel_top, "top images per channel")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--format", args->format, "figure format: png, svg, pdf or jpg")->capture_default_str()->check(CLI::IsMember({"png", "svg", "pdf", "jpg"}));
  cmd->add_option("-o,--output", args->output, "output folder")->capture_default_str();
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_top_images(*args);
  });
}

}  // namespace fovea::cli
