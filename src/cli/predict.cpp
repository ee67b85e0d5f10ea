// fovea predict --model M --input X.npy -o Y.npy: responses of a model to stimuli (api::predict).
#include <iostream>

#include "cli/commands.h"
#include "fovea/api/predict.h"

namespace fovea::cli {

void add_predict_command(CLI::App& app) {
  struct Args {
    api::PredictOptions predict;
    RuntimeOptions runtime;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->predict;
  auto* cmd = app.add_subcommand("predict", "run a model in eval mode on stimuli from an .npy file");
  cmd->add_option("--model,--model-path", o.model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_option("--input", o.input, "stimuli (.npy): images (n, [channels,] height, width) or movies (n, channels, frames, height, width)")->required();
  cmd->add_option("-o,--output", o.output, "responses (.npy): (n, neurons), or (n, frames, neurons) for movies")->required();
  cmd->add_option("--session", o.session, "session (data_key); all sessions if omitted");
  cmd->add_option("--batch-size", o.batch_size, "stimuli per batch")->capture_default_str()->check(CLI::PositiveNumber);
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    args->predict.device = args->runtime.device;
    const auto r = api::predict(args->predict);
    const auto& y = r.responses;
    if (r.movie)
      std::cout << "wrote " << r.output << " (" << y.size(0) << " movies x " << y.size(1) << " frames x " << y.size(2)
                << " neurons; the first " << r.lag << " input frames have no prediction)\n";
    else
      std::cout << "wrote " << r.output << " (" << y.size(0) << " stimuli x " << y.size(1) << " neurons)\n";
  });
}

}  // namespace fovea::cli
