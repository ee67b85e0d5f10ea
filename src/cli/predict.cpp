// fovea predict --model M --input X.npy -o Y.npy: responses of a model to stimuli.
#include <torch/torch.h>

#include <iostream>

#include "cli/commands.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/predict.h"

namespace fovea::cli {

namespace {
struct PredictArgs {
  std::string model, input, output, session;
  int64_t batch_size = 100;
  RuntimeOptions runtime;
};

void run_predict(const PredictArgs& a) {
  auto model = nn::load_any_model(a.model);
  at::Tensor x = io::read_npy(a.input);
  const auto shape = model->input_shape();  // without batch
  // Accept stimuli without the channel axis when the model has one channel.
  if (x.dim() == static_cast<int64_t>(shape.size()) && shape[0] == 1) x = x.unsqueeze(1);
  std::vector<int64_t> expected = {-1};
  expected.insert(expected.end(), shape.begin(), shape.end());
  // Movies (retina models: channels, time, height, width) may have any number of frames.
  const bool movie = shape.size() == 4;
  if (movie) expected[2] = -1;
  bool ok = x.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 1; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || x.size(static_cast<int64_t>(i)) == expected[i];
  if (!ok) {
    std::string want = "(n";
    for (size_t i = 1; i < expected.size(); ++i) want += ", " + (expected[i] < 0 ? std::string("frames") : std::to_string(expected[i]));
    std::string got = "(";
    for (int64_t i = 0; i < x.dim(); ++i) got += (i ? ", " : "") + std::to_string(x.size(i));
    fail(a.input, "stimuli have shape " + got + "), the model expects " + want + ")");
  }
  if (!x.is_floating_point()) x = x.to(torch::kFloat32);
  if (!torch::isfinite(x).all().item<bool>()) fail(a.input, "stimuli contain NaN or infinite values");
  // Checked here, before the model runs, so that the messages name the files.
  nn::check_session(*model, a.session, a.model + " (--session)");
  nn::check_movie_length(*model, x, a.input);
  auto y = nn::predict(*model, x, a.batch_size, a.session, torch::Device(a.runtime.device));
  io::write_npy(a.output, y);
  if (movie)
    std::cout << "wrote " << a.output << " (" << y.size(0) << " movies x " << y.size(1) << " frames x " << y.size(2)
              << " neurons; the first " << x.size(2) - y.size(1) << " input frames have no prediction)\n";
  else
    std::cout << "wrote " << a.output << " (" << y.size(0) << " stimuli x " << y.size(1) << " neurons)\n";
}
}  // namespace

void add_predict_command(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "run a model in eval mode on stimuli from an .npy file");
  cmd->add_option("--model,--model-path", args->model, "model: .safetensors, checkpoint (.pt, .ckpt), URL or pretrained name")->required();
  cmd->add_option("--input", args->input, "stimuli (.npy): images (n, [channels,] height, width) or movies (n, channels, frames, height, width)")->required();
  cmd->add_option("-o,--output", args->output, "responses (.npy): (n, neurons), or (n, frames, neurons) for movies")->required();
  cmd->add_option("--session", args->session, "session (data_key); all sessions if omitted");
  cmd->add_option("--batch-size", args->batch_size, "stimuli per batch")->capture_default_str()->check(CLI::PositiveNumber);
  add_runtime_options(cmd, args->runtime, false);
  cmd->callback([args] {
    apply_runtime_options(args->runtime);
    run_predict(*args);
  });
}

}  // namespace fovea::cli
