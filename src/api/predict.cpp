#include "fovea/api/predict.h"

#include <torch/torch.h>

#include "fovea/api/runtime.h"
#include "fovea/error.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/predict.h"

namespace fovea::api {

namespace {
std::string shape_text(const std::vector<int64_t>& dims, const char* unknown) {
  std::string s = "(n";
  for (size_t i = 1; i < dims.size(); ++i) s += ", " + (dims[i] < 0 ? std::string(unknown) : std::to_string(dims[i]));
  return s + ")";
}
}  // namespace

PredictResult predict(const PredictOptions& options) {
  if (options.batch_size < 1) fail_option("--batch-size", "must be at least 1, got " + std::to_string(options.batch_size));
  check_device(options.device);
  auto model = nn::load_any_model(options.model);
  return predict(*model, io::read_npy(options.input), options);
}

PredictResult predict(nn::Model& model, at::Tensor x, const PredictOptions& o) {
  if (o.batch_size < 1) fail_option("--batch-size", "must be at least 1, got " + std::to_string(o.batch_size));
  check_device(o.device);
  const auto shape = model.input_shape();  // without batch
  // Accept stimuli without the channel axis when the model has one channel.
  if (x.dim() == static_cast<int64_t>(shape.size()) && shape[0] == 1) x = x.unsqueeze(1);
  std::vector<int64_t> expected = {-1};
  expected.insert(expected.end(), shape.begin(), shape.end());
  // Movies (retina models: channels, time, height, width) may have any number of frames.
  PredictResult r;
  r.movie = shape.size() == 4;
  if (r.movie) expected[2] = -1;
  bool ok = x.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 1; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || x.size(static_cast<int64_t>(i)) == expected[i];
  if (!ok) {
    std::string got = "(";
    for (int64_t i = 0; i < x.dim(); ++i) got += (i ? ", " : "") + std::to_string(x.size(i));
    fail(o.input, "stimuli have shape " + got + "), the model expects " + shape_text(expected, "frames"));
  }
  if (!x.is_floating_point()) x = x.to(torch::kFloat32);
  if (!torch::isfinite(x).all().item<bool>()) fail(o.input, "stimuli contain NaN or infinite values");
  // Checked here, before the model runs, so that the messages name the files.
  nn::check_session(model, o.session, o.model + " (--session)");
  nn::check_movie_length(model, x, o.input);
  r.responses = nn::predict(model, x, o.batch_size, o.session, torch::Device(o.device));
  if (r.movie) r.lag = x.size(2) - r.responses.size(1);
  if (!o.output.empty()) {
    io::write_npy(o.output, r.responses);
    r.output = o.output;
  }
  return r;
}

}  // namespace fovea::api
