// fovea mei --model M --neuron N: most exciting inputs of model neurons or of
// inner core channels; writes the stimulus (.npy), a video (.mp4) and a figure.
#include <torch/torch.h>

#include <filesystem>
#include <sstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/index_list.h"
#include "fovea/error.h"
#include "fovea/insilico/mei.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/predict.h"
#include "fovea/viz/mei_outputs.h"

namespace fs = std::filesystem;

namespace fovea::cli {

namespace {
struct MeiArgs {
  std::string model, output = "mei", neurons, session, layer, channels, clip;
  insilico::MeiRecipe recipe;
  std::optional<double> norm;
  bool hoefling = false;
  viz::MeiOutputOptions out;
  RuntimeOptions runtime;
};

// "lo:hi,lo:hi" (either bound may be empty) -> one range per channel.
insilico::ChannelRanges parse_ranges(const std::string& text) {
  insilico::ChannelRanges ranges;
  std::stringstream parts(text);
  std::string part;
  auto bound = [&](const std::string& s) -> std::optional<double> {
    if (s.empty()) return std::nullopt;
    try {
      size_t used = 0;
      const double v = std::stod(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    fail("--clip", "'" + text + "' is not a list of ranges (expected e.g. -0.654:6.269,-0.913:6.269)");
  };
  while (std::getline(parts, part, ',')) {
    const auto colon = part.find(':');
    if (colon == std::string::npos) fail("--clip", "range '" + part + "' has no ':' (expected min:max)");
    ranges.emplace_back(bound(part.substr(0, colon)), bound(part.substr(colon + 1)));
  }
  return ranges;
}

void run_mei(MeiArgs& a) {
  const bool inner = !a.layer.empty();
  if (inner == !a.neurons.empty()) fail("fovea mei", "give either --neuron (output neurons) or --layer with --channel");
  if (inner && a.channels.empty()) fail("--channel", "--layer needs --channel (e.g. --channel 0-7)");
  auto model = nn::load_any_model(a.model);
  model->to(torch::Device(a.runtime.device));
  insilico::MeiRecipe recipe = a.recipe;
  if (a.hoefling) {
    const auto h = insilico::hoefling_2024_recipe();
    recipe.norm = h.norm, recipe.ranges = h.ranges;
  }
  if (a.norm) recipe.norm = a.norm;
  if (!a.clip.empty()) recipe.ranges = parse_ranges(a.clip);
  recipe.seed = a.runtime.seed;

  std::vector<insilico::MeiResult> results;
  std::string prefix;
  if (inner) {
    // A core with per-session parameters runs with --session's, else (as
    // openretina's visualize) with the first session's.
    if (!a.session.empty()) nn::check_session(*model, a.session, a.model + " (--session)");
    const std::string session = a.session.empty() ? model->readout_keys().front() : a.session;
    results = insilico::optimize_channel_meis(model, a.layer, parse_index_list(a.channels, "--channel"), recipe, session);
    prefix = a.layer + "_channel_";
  } else {
    nn::check_session(*model, a.session, a.model + " (--session)");
    results = insilico::optimize_neuron_meis(model, a.session, parse_index_list(a.neurons, "--neuron"), recipe);
    prefix = (a.session.empty() ? std::string() : a.session + "_") + "neuron_";
  }

  nlohmann::json summary = {{"model", a.model}, {"session", a.session}, {"layer", a.layer}, {"steps", recipe.steps},
                            {"optimizer", recipe.optimizer}, {"lr", recipe.lr}, {"seed", recipe.seed},
                            {"decrease", recipe.decrease}, {"meis", nlohmann::json::array()}};
  for (const auto& r : results) {
    const std::string stem = prefix + std::to_string(r.target);
    const std::string title = (inner ? a.layer + " channel " : (a.session.empty() ? "" : a.session + " ") + "neuron ") +
                              std::to_string(r.target) + (recipe.decrease ? ": most depressing input" : ": MEI");
    const auto files = viz::save_mei(r, a.output, stem, title, a.out);
    summary["meis"].push_back({{"target", r.target},
                               {"start_objective", r.start_objective},
                               {"final_objective", r.final_objective},
                               {"stimulus", files.stimulus},
                               {"video", files.video},
                               {"figure", files.figure}});
    std::cout << stem << ": objective " << r.start_objective << " -> " << r.final_objective << "\n";
  }
  io::write_file_atomic((fs::path(a.output) / "mei.json").string(), summary.dump(2) + "\n");
  std::cout << "wrote " << results.size() << " MEIs to " << a.output << "/\n";
}
}  // namespace

void add_mei_command(CLI::App& app) {
  auto args = std::make_shared<MeiArgs>();
  auto* cmd = app.add_subcommand(
      "mei", "optimise the most exciting input (MEI) of model neurons or inner channels; writes .npy, .mp4 and a figure");
  cmd->add_option("--model,--model-path", args->model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_option("--neuron", args->neurons, "output neuron(s) of --session: 3, 0,4,7 or 0-9");
  cmd->add_option("--session", args->session, "session (data_key) of the neurons; may be omitted for single-session models");
  cmd->add_option("--layer", args->layer, "inner core layer, e.g. features.layer0 (with --channel)");
  cmd->add_option("--channel", args->channels, "channel(s) of --layer: the activation at the spatial centre");
  cmd->add_option("-o,--output", args->output, "output folder")->capture_default_str();
  auto& r = args->recipe;
  cmd->add_option("--time-steps", r.time_steps, "movie length of retina MEIs (frames)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--steps", r.steps, "optimisation steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--optimizer", r.optimizer, "sgd or adam")->capture_default_str()->check(CLI::IsMember({"sgd", "adam"}));
  cmd->add_option("--lr", r.lr, "learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--init-scale", r.init_scale, "start = randn * this")->capture_default_str();
  cmd->add_option("--response-start", r.response_start, "first response frame of the objective (retina)")->capture_default_str();
  cmd->add_option("--response-length", r.response_length, "response frames averaged (retina)")->capture_default_str();
  cmd->add_flag("--decrease", r.decrease, "find the most depressing input instead");
  cmd->add_option("--norm", args->norm, "rescale the stimulus to this L2 norm after every step");
  cmd->add_option("--clip", args->clip, "per-channel value ranges after every step, e.g. -0.654:6.269,-0.913:6.269");
  cmd->add_flag("--hoefling-constraints", args->hoefling, "openretina's Hoefling 2024 norm (30) and ranges");
  cmd->add_option("--lowpass-sigma", r.lowpass_sigma, "temporal Gaussian low-pass after every step (frames)");
  cmd->add_option("--lowpass-kernel", r.lowpass_kernel_size, "its kernel size (frames)")->capture_default_str();
  cmd->add_option("--patience", r.patience, "stop early after this many steps without a new best loss");
  cmd->add_option("--min-delta", r.min_delta, "loss change below which a step counts as no change")->capture_default_str();
  cmd->add_option("--batch-size", r.batch_size, "neurons optimised together")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--format", args->out.format, "figure format: png, svg, pdf or jpg")->capture_default_str()->check(CLI::IsMember({"png", "svg", "pdf", "jpg"}));
  cmd->add_option("--fps", args->out.fps, "video frame rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--video-scale", args->out.video_upscale, "enlarge video frames this many times")->capture_default_str()->check(CLI::PositiveNumber);
  add_runtime_options(cmd, args->runtime, true);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_mei(*args);
  });
}

}  // namespace fovea::cli
