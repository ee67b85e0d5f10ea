// fovea visualize: weight figures, MEIs of every channel and neuron, the HTML index.
#include "fovea/viz/visualize.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <functional>

#include "fovea/error.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/reducers.h"
#include "fovea/io/atomic_file.h"
#include "fovea/train/progress.h"
#include "fovea/viz/html_report.h"
#include "visualize_resume.h"

namespace fs = std::filesystem;

namespace fovea::viz {

namespace {

// One inner layer as the MEI objective sees it: its channels and, for
// movies, the length of its output for the MEI's stimulus length.
struct InnerLayer {
  std::string name;  // "features.layer<l>"
  int64_t channels = 0;
  int64_t frames = 0;  // 0 for image models
};

// A zero stimulus of the MEIs' shape on the model's device, to read shapes from.
at::Tensor probe_stimulus(const nn::Model& model, int64_t time_steps) {
  const auto device = model.parameters().empty() ? at::Device(at::kCPU) : model.parameters().front().device();
  return at::zeros(model.stimulus_shape(time_steps, 1), at::TensorOptions().device(device));
}

// openretina hooks every layer and reads the shapes from one forward pass of
// a random stimulus; one pass per layer up to it does the same here.
std::vector<InnerLayer> inner_layers(nn::Model& model, int64_t time_steps, const std::string& session) {
  std::vector<InnerLayer> layers;
  torch::NoGradGuard no_grad;
  const at::Tensor probe = probe_stimulus(model, time_steps);
  const auto names = insilico::InnerNeuronVisualizationObjective::layer_names(model);
  for (size_t i = 0; i < names.size(); ++i) {
    const at::Tensor out =
        insilico::InnerNeuronVisualizationObjective::layer_output(model, static_cast<int64_t>(i), probe, session);
    layers.push_back({names[i], out.size(1), out.dim() == 5 ? out.size(2) : 0});
  }
  return layers;
}

// openretina's hook name of layer "features.layer<l>": "core_features_layer<l>".
std::string hook_folder(const std::string& layer) {
  std::string name = "core_" + layer;
  for (char& c : name)
    if (c == '.') c = '_';
  return name;
}

std::string relative(const std::string& folder, const std::string& file) {
  return file.empty() ? "" : folder + "/" + file;
}

std::vector<int64_t> range(int64_t first, int64_t end) {
  std::vector<int64_t> v;
  for (int64_t i = first; i < end; ++i) v.push_back(i);
  return v;
}

// One MEI as the page shows it: its files (relative to their folder) and objective.
struct SavedMei {
  MeiFiles files;
  double objective = 0;
};

// Where the MEIs of targets 0..n−1 go: save_folder/folder/<k>.*, figures
// titled title(k).
struct MeiBatches {
  const fs::path& save_folder;
  std::string folder;
  bool movie = false;
  const MeiOutputOptions& output;
  std::function<std::string(int64_t)> title;
};

// The MEIs of targets 0..n−1, one batch of `batch` targets per call of
// `optimize` (which batches no further), each batch's files written and
// recorded as it finishes; a batch the record has finished (--resume) is kept
// as it is. `done` is called per MEI, so that the progress bar moves batch by batch.
template <typename Optimize, typename Done>
std::vector<SavedMei> meis_in_batches(int64_t n, int64_t batch, const MeiBatches& where, VisualizeRecord& record,
                                      Optimize optimize, Done done) {
  std::vector<SavedMei> meis;
  for (int64_t first = 0; first < n; first += batch) {
    const auto part = range(first, std::min(n, first + batch));
    std::vector<std::string> files;
    for (int64_t k : part) {
      const MeiFiles f = mei_file_names(std::to_string(k), where.movie, where.output);
      for (const auto& name : {f.stimulus, f.video, f.figure})
        if (!name.empty()) files.push_back(relative(where.folder, name));
    }
    if (auto kept = record.finished_batch(where.folder, first, static_cast<int64_t>(part.size()), files)) {
      for (size_t i = 0; i < part.size(); ++i) {
        meis.push_back({mei_file_names(std::to_string(part[i]), where.movie, where.output), (*kept)[i]});
        done();
      }
      continue;
    }
    std::vector<double> objectives;
    const auto results = optimize(part);
    for (size_t i = 0; i < results.size(); ++i) {
      const int64_t k = part[i];
      meis.push_back({save_mei(results[i], where.save_folder / where.folder, std::to_string(k), where.title(k),
                               where.output),
                      results[i].final_objective});
      objectives.push_back(results[i].final_objective);
      done();
    }
    record.batch_done(where.folder, first, objectives);
  }
  return meis;
}

// Everything that changes what visualize writes (the models and the options
// above), as its record keeps it.
nlohmann::json asked_of(const nn::Model& model, const VisualizeOptions& o, const nn::Model* weights_model) {
  const auto device = model.parameters().empty() ? at::Device(at::kCPU) : model.parameters().front().device();
  return {{"model", model_fingerprint(model)},
          {"weights_model", weights_model && weights_model != &model ? model_fingerprint(*weights_model) : ""},
          {"device", device.str()},
          {"format", o.format},
          {"time_steps", o.time_steps},
          {"steps", o.steps},
          {"lr", o.lr},
          {"seed", o.seed},
          {"batch_size", o.batch_size},
          {"constraints", o.constraints},
          {"response_start", o.response_start},
          {"response_length", o.response_length},
          {"inner_frames", o.inner_frames},
          {"fps", o.mei_output.fps},
          {"video_upscale", o.mei_output.video_upscale},
          {"video", o.mei_output.video},
          {"figure", o.mei_output.figure},
          {"weight_layout", o.weight_layout == WeightLayout::lightning ? "lightning" : "legacy_ensemble"},
          {"weights", o.weights},
          {"meis", o.meis}};
}

// The reference's recipe for this model, with the command's choices.
insilico::MeiRecipe make_recipe(const nn::Model& model, const VisualizeOptions& options, VisualizeResult& result) {
  const int64_t channels = model.input_shape().front();
  // Without constraints every model is optimised as a 1-channel one is.
  insilico::MeiRecipe recipe = insilico::visualize_recipe(options.constraints ? channels : 1, options.time_steps);
  recipe.steps = options.steps;
  recipe.lr = options.lr;
  recipe.seed = options.seed;
  recipe.batch_size = options.batch_size;
  recipe.response_start = options.response_start;
  recipe.response_length = options.response_length;
  if (options.constraints && channels > 2)
    result.notes.push_back(fmt::format("the stimulus has {} channels: openretina's visualize stops on more than 2; "
                                       "fovea optimises these MEIs without constraints",
                                       channels));
  return recipe;
}

}  // namespace

void check_visualize_resume(const nn::Model& model, const fs::path& save_folder, const VisualizeOptions& options,
                            const nn::Model* weights_model) {
  if (options.resume && fs::exists(save_folder / kVisualizeRecordFile))
    VisualizeRecord(save_folder, asked_of(model, options, weights_model), /*resume=*/true);
}

VisualizeResult visualize_model(std::shared_ptr<nn::Model> model, const std::string& model_path,
                                const fs::path& save_folder, const VisualizeOptions& options,
                                const ModelEvaluation* evaluation, std::shared_ptr<nn::Model> weights_model) {
  check(model != nullptr, "visualize", "no model given");
  check(options.time_steps > 0 && options.steps >= 0 && options.inner_frames > 0, "visualize",
        "the stimulus length, the steps and the inner frames must be positive");
  if (!weights_model) weights_model = model;
  io::make_directories(save_folder.string());
  VisualizeRecord record(save_folder, asked_of(*model, options, weights_model.get()), options.resume);
  VisualizeResult result;
  model->eval();
  const insilico::MeiRecipe recipe = make_recipe(*model, options, result);
  const bool movie = model->input_shape().size() == 4;
  MeiOutputOptions mei_output = options.mei_output;
  mei_output.format = options.format;

  // Inner channels use the first session (sorted), as openretina's data_key.
  const auto sessions = model->readout_keys();
  const std::string first_session = sessions.empty() ? "" : sessions.front();
  const auto layers = options.meis ? inner_layers(*model, options.time_steps, first_session) : std::vector<InnerLayer>{};

  int64_t total = options.weights ? count_weight_figures(*weights_model) : 0;
  for (const auto& l : layers) total += l.channels;
  if (options.meis)
    for (const auto& s : sessions) total += model->readout()->n_neurons(s);
  train::ProgressBar bar(total, "visualize", options.progress);
  int64_t done = 0;
  auto tick = [&] { bar.update(++done); };

  ModelReport report;
  report.title = fs::path(model_path).filename().string();
  report.model_path = model_path;
  report.info = {{"family", model->spec().value("family", "")},
                 {"core", model->spec().value("core", nn::Json::object()).value("type", "")},
                 {"readout", model->spec().value("readout", nn::Json::object()).value("type", "")},
                 {"input_shape", model->input_shape()},
                 {"parameters", model->n_parameters()},
                 {"mei_recipe",
                  {{"steps", recipe.steps},
                   {"lr", recipe.lr},
                   {"time_steps", recipe.time_steps},
                   {"norm", recipe.norm ? nn::Json(*recipe.norm) : nn::Json(nullptr)},
                   {"clip_ranges", recipe.ranges.empty() ? "none" : "Höfling 2024 (green, UV)"}}}};

  WeightFigures weights;
  if (options.weights) {
    if (auto kept = record.finished_weights()) {
      weights = std::move(*kept);
      for (int64_t i = count_weight_figures(*weights_model); i > 0; --i) tick();
    } else {
      weights = save_weight_visualizations(*weights_model, save_folder, options.format, tick, options.weight_layout);
      record.weights_done(weights);
    }
  }
  for (const auto& l : weights.layers)
    for (const auto& out : l.files) result.weight_figures += static_cast<int64_t>(out.size());
  for (const auto& [s, files] : weights.neurons) result.weight_figures += static_cast<int64_t>(files.size());
  report.summary_images = weights.summaries;

  // Inner channels: the centre of the layer's output, its last frames averaged.
  const size_t n_layer_rows = std::max(layers.size(), weights.layers.size());
  for (size_t i = 0; i < n_layer_rows; ++i) {
    ReportLayer layer;
    const WeightFigures::Layer* w = i < weights.layers.size() ? &weights.layers[i] : nullptr;
    layer.name = i < layers.size() ? layers[i].name : w->name;
    if (w) layer.in_channels = w->in_channels, layer.out_channels = w->out_channels;
    if (w && !w->filters.empty()) layer.summary_images.push_back(w->filters);
    std::vector<SavedMei> meis;
    const std::string folder = hook_folder(layer.name);
    MeiOutputOptions layer_output = mei_output;
    if (i < layers.size() && layers[i].channels > 0) {
      insilico::MeiRecipe inner = recipe;
      if (movie) {
        const int64_t frames = layers[i].frames;
        inner.response_start = std::max<int64_t>(0, frames - options.inner_frames);
        inner.response_length = std::min(options.inner_frames, frames);
        // Output frame j of the layer sees stimulus frames up to j + (T − T_l).
        const int64_t lag = options.time_steps - frames;
        layer_output.highlight = std::make_pair(lag + inner.response_start, lag + frames - 1);
      }
      const MeiBatches where{save_folder, folder, movie, layer_output,
                             [&](int64_t c) { return fmt::format("{} channel {}: MEI", layer.name, c); }};
      meis = meis_in_batches(layers[i].channels, inner.batch_size, where, record, [&](const std::vector<int64_t>& part) {
        return insilico::optimize_channel_meis(model, layer.name, part, inner, first_session);
      }, tick);
    }
    const int64_t n_channels = std::max<int64_t>(w ? w->out_channels : 0, static_cast<int64_t>(meis.size()));
    for (int64_t c = 0; c < n_channels; ++c) {
      ReportChannel ch;
      ch.index = c;
      if (w && c < static_cast<int64_t>(w->files.size())) ch.weight_images = w->files[c];
      if (c < static_cast<int64_t>(meis.size())) {
        const MeiFiles& files = meis[c].files;
        ch.mei_image = relative(folder, files.figure);
        ch.mei_video = relative(folder, files.video);
        ++result.meis;
      }
      layer.channels.push_back(std::move(ch));
    }
    report.layers.push_back(std::move(layer));
  }

  // Output neurons: the response frames response_start.. averaged.
  MeiOutputOptions neuron_output = mei_output;
  if (movie && !sessions.empty()) {
    // The response is shorter than the stimulus by the model's lag: output
    // frame j sees stimulus frames up to j + lag. (openretina shades frames
    // 40–49 whatever the lag, and fails for stimuli shorter than 50 frames.)
    torch::NoGradGuard no_grad;
    const int64_t frames = model->forward(probe_stimulus(*model, options.time_steps), sessions.front()).size(1);
    const int64_t lag = options.time_steps - frames;
    const auto [start, length] =
        insilico::SliceMeanReducer(0, recipe.response_start, recipe.response_length).window(frames);
    if (length > 0) neuron_output.highlight = std::make_pair(lag + start, lag + start + length - 1);
  }
  for (const auto& session : sessions) {
    ReportSession rs;
    rs.name = session.empty() ? "readout" : session;
    const int64_t n = model->readout()->n_neurons(session);
    std::vector<SavedMei> meis;
    const std::string folder = "output_neurons/" + session_folder(session);
    const MeiBatches where{save_folder, folder, movie, neuron_output,
                           [&](int64_t k) { return fmt::format("{} neuron {}: MEI", rs.name, k); }};
    if (options.meis)
      meis = meis_in_batches(n, recipe.batch_size, where, record, [&](const std::vector<int64_t>& part) {
        return insilico::optimize_neuron_meis(model, session, part, recipe);
      }, tick);
    const auto weight_files = weights.neurons.count(session) ? weights.neurons.at(session) : std::vector<std::string>{};
    const std::vector<NeuronEvaluation>* evals = nullptr;
    if (evaluation && evaluation->neurons.count(session)) evals = &evaluation->neurons.at(session);
    for (int64_t k = 0; k < n; ++k) {
      ReportNeuron neuron;
      neuron.index = k;
      if (k < static_cast<int64_t>(weight_files.size())) neuron.weight_image = weight_files[k];
      if (k < static_cast<int64_t>(meis.size())) {
        const MeiFiles& files = meis[k].files;
        neuron.mei_image = relative(folder, files.figure);
        neuron.mei_video = relative(folder, files.video);
        neuron.metrics["mei_response"] = meis[k].objective;
        ++result.meis;
      }
      if (evals && k < static_cast<int64_t>(evals->size())) {
        for (const auto& [name, value] : (*evals)[k].metrics) neuron.metrics[name] = value;
        neuron.evaluation_images = (*evals)[k].figures;
      }
      rs.neurons.push_back(std::move(neuron));
    }
    report.sessions.push_back(std::move(rs));
  }
  if (evaluation)
    report.summary_images.insert(report.summary_images.end(), evaluation->summary_figures.begin(),
                                 evaluation->summary_figures.end());
  bar.finish();
  result.notes.insert(result.notes.end(), weights.skipped.begin(), weights.skipped.end());
  result.page = write_html_report(report, save_folder);
  return result;
}

}  // namespace fovea::viz
