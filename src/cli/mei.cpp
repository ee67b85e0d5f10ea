// fovea mei --model M --neuron N: most exciting inputs of model neurons or of
// inner core channels; writes the stimulus (.npy), a video (.mp4) and a figure (api::mei).
#include <iostream>

#include "cli/commands.h"
#include "cli/index_list.h"
#include "fovea/api/mei.h"

namespace fovea::cli {

void add_mei_command(CLI::App& app) {
  struct Args {
    api::MeiOptions mei;
    std::string neurons, channels;  // index lists: 3, 0,4,7 or 0-9
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->mei;
  auto* cmd = app.add_subcommand(
      "mei", "optimise the most exciting input (MEI) of model neurons or inner channels; writes .npy, .mp4 and a figure");
  cmd->add_option("--model,--model-path", o.model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_option("--neuron", args->neurons, "output neuron(s) of --session: 3, 0,4,7 or 0-9");
  cmd->add_option("--session", o.session, "session (data_key) of the neurons; may be omitted for single-session models");
  cmd->add_option("--layer", o.layer, "inner core layer, e.g. features.layer0 (with --channel)");
  cmd->add_option("--channel", args->channels, "channel(s) of --layer: the activation at the spatial centre");
  cmd->add_option("-o,--output", o.output, "output folder")->capture_default_str();
  auto& r = o.recipe;
  cmd->add_option("--time-steps", r.time_steps, "movie length of retina MEIs (frames)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--steps", r.steps, "optimisation steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--optimizer", r.optimizer, "sgd or adam")->capture_default_str()->check(CLI::IsMember({"sgd", "adam"}));
  cmd->add_option("--lr", r.lr, "learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--init-scale", r.init_scale, "start = randn * this")->capture_default_str();
  cmd->add_option("--response-start", r.response_start, "first response frame of the objective (retina)")->capture_default_str();
  cmd->add_option("--response-length", r.response_length, "response frames averaged (retina)")->capture_default_str();
  cmd->add_flag("--decrease", r.decrease, "find the most depressing input instead");
  cmd->add_option("--norm", o.norm, "rescale the stimulus to this L2 norm after every step");
  cmd->add_option("--clip", o.clip, "per-channel value ranges after every step, e.g. -0.654:6.269,-0.913:6.269");
  cmd->add_flag("--hoefling-constraints", o.hoefling_constraints, "openretina's Hoefling 2024 norm (30) and ranges");
  cmd->add_option("--lowpass-sigma", r.lowpass_sigma, "temporal Gaussian low-pass after every step (frames)");
  cmd->add_option("--lowpass-kernel", r.lowpass_kernel_size, "its kernel size (frames)")->capture_default_str();
  cmd->add_option("--patience", r.patience, "stop early after this many steps without a new best loss");
  cmd->add_option("--min-delta", r.min_delta, "loss change below which a step counts as no change")->capture_default_str();
  cmd->add_option("--batch-size", r.batch_size, "neurons optimised together")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--format", o.out.format, "figure format: png, svg, pdf or jpg")->capture_default_str()->check(CLI::IsMember({"png", "svg", "pdf", "jpg"}));
  cmd->add_option("--fps", o.out.fps, "video frame rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--video-scale", o.out.video_upscale, "enlarge video frames this many times")->capture_default_str()->check(CLI::PositiveNumber);
  add_runtime_options(cmd, args->runtime, true);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    auto& o = args->mei;
    if (!args->neurons.empty()) o.neurons = parse_index_list(args->neurons, "--neuron");
    if (!args->channels.empty()) o.channels = parse_index_list(args->channels, "--channel");
    o.device = args->runtime.device;
    o.seed = args->runtime.seed;
    const auto r = api::mei(o);
    for (const auto& m : r.meis)
      std::cout << m.stem << ": objective " << m.result.start_objective << " -> " << m.result.final_objective << "\n";
    std::cout << "wrote " << r.meis.size() << " MEIs to " << r.output << "/\n";
  });
}

}  // namespace fovea::cli
