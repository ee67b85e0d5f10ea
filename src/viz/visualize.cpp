// fovea visualize: weight figures, MEIs of every channel and neuron, the HTML index.
#include "fovea/viz/visualize.h"

#include <torch/torch.h>

#include <fmt/format.h>

#include <iostream>
#include <numeric>

#include "fovea/error.h"
#include "fovea/insilico/objectives.h"
#include "fovea/io/atomic_file.h"
#include "fovea/train/progress.h"
#include "fovea/viz/html_report.h"
#include "fovea/viz/model_weights.h"

namespace fs = std::filesystem;

namespace fovea::viz {

namespace {

// Output channels of each inner layer the MEI objective can address.
std::vector<int64_t> layer_channels(const std::shared_ptr<nn::Model>& model, const std::vector<std::string>& layers,
                                    int64_t time_steps) {
  std::vector<int64_t> channels;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < layers.size(); ++i) {
    // One probe through the core up to the layer tells its channel count.
    const auto device = model->parameters().empty() ? at::Device(at::kCPU) : model->parameters().front().device();
    const at::Tensor probe = at::zeros(model->stimulus_shape(time_steps, 1), at::TensorOptions().device(device));
    channels.push_back(insilico::InnerNeuronVisualizationObjective::layer_output(*model, static_cast<int64_t>(i), probe).size(1));
  }
  return channels;
}

std::string relative(const std::string& folder, const std::string& file) {
  return file.empty() ? "" : folder + "/" + file;
}

}  // namespace

fs::path visualize_model(std::shared_ptr<nn::Model> model, const std::string& model_path, const fs::path& save_folder,
                         const VisualizeOptions& options, const ModelEvaluation* evaluation) {
  check(model != nullptr, "visualize", "no model given");
  io::make_directories(save_folder.string());
  insilico::MeiRecipe recipe = options.recipe;
  recipe.time_steps = options.time_steps;
  MeiOutputOptions mei_output = options.mei_output;
  mei_output.format = options.format;

  const auto layers = insilico::InnerNeuronVisualizationObjective::layer_names(*model);
  const auto channels = options.meis ? layer_channels(model, layers, options.time_steps) : std::vector<int64_t>(layers.size(), 0);
  const auto sessions = model->readout_keys();

  int64_t total = options.weights ? count_weight_figures(*model) : 0;
  if (options.meis) {
    for (int64_t c : channels) total += c;
    for (const auto& s : sessions) total += model->readout()->n_neurons(s);
  }
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
                 {"parameters", [&] {
                    int64_t n = 0;
                    for (const auto& p : model->parameters()) n += p.numel();
                    return n;
                  }()}};

  WeightFigures weights;
  if (options.weights) weights = save_weight_visualizations(*model, save_folder, options.format, tick);
  report.summary_images = weights.summaries;

  // Inner channels.
  for (size_t i = 0; i < layers.size(); ++i) {
    ReportLayer layer;
    layer.name = layers[i];
    const WeightFigures::Layer* w = i < weights.layers.size() ? &weights.layers[i] : nullptr;
    if (w) layer.in_channels = w->in_channels, layer.out_channels = w->out_channels;
    if (w && !w->filters.empty()) layer.summary_images.push_back(w->filters);
    std::vector<insilico::MeiResult> meis;
    const std::string folder = "meis_core/layer_" + std::to_string(i);
    if (options.meis && channels[i] > 0) {
      for (int64_t start = 0; start < channels[i]; start += recipe.batch_size) {
        std::vector<int64_t> part;
        for (int64_t c = start; c < std::min(channels[i], start + recipe.batch_size); ++c) part.push_back(c);
        for (auto& r : insilico::optimize_channel_meis(model, layers[i], part, recipe)) {
          meis.push_back(std::move(r));
          tick();
        }
      }
    }
    const int64_t n_channels = std::max<int64_t>(w ? w->out_channels : 0, static_cast<int64_t>(meis.size()));
    for (int64_t c = 0; c < n_channels; ++c) {
      ReportChannel ch;
      ch.index = c;
      if (w && c < static_cast<int64_t>(w->files.size())) ch.weight_images = w->files[c];
      if (c < static_cast<int64_t>(meis.size())) {
        const auto files = save_mei(meis[c], save_folder / folder, "channel_" + std::to_string(c),
                                    fmt::format("{} channel {}: MEI", layers[i], c), mei_output);
        ch.mei_image = relative(folder, files.figure);
        ch.mei_video = relative(folder, files.video);
      }
      layer.channels.push_back(std::move(ch));
    }
    report.layers.push_back(std::move(layer));
  }

  // Output neurons.
  for (const auto& session : sessions) {
    ReportSession rs;
    rs.name = session.empty() ? "readout" : session;
    const int64_t n = model->readout()->n_neurons(session);
    std::vector<insilico::MeiResult> meis;
    const std::string folder = "meis_readout/" + session_folder(session);
    if (options.meis) {
      for (int64_t start = 0; start < n; start += recipe.batch_size) {
        std::vector<int64_t> part;
        for (int64_t k = start; k < std::min(n, start + recipe.batch_size); ++k) part.push_back(k);
        for (auto& r : insilico::optimize_neuron_meis(model, session, part, recipe)) {
          meis.push_back(std::move(r));
          tick();
        }
      }
    }
    const auto weight_files = weights.neurons.count(session) ? weights.neurons.at(session) : std::vector<std::string>{};
    const std::vector<NeuronEvaluation>* evals = nullptr;
    if (evaluation && evaluation->neurons.count(session)) evals = &evaluation->neurons.at(session);
    for (int64_t k = 0; k < n; ++k) {
      ReportNeuron neuron;
      neuron.index = k;
      if (k < static_cast<int64_t>(weight_files.size())) neuron.weight_image = weight_files[k];
      if (k < static_cast<int64_t>(meis.size())) {
        const auto files = save_mei(meis[k], save_folder / folder, "neuron_" + std::to_string(k),
                                    fmt::format("{} neuron {}: MEI", rs.name, k), mei_output);
        neuron.mei_image = relative(folder, files.figure);
        neuron.mei_video = relative(folder, files.video);
        neuron.metrics["mei_response"] = meis[k].final_objective;
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
  for (const auto& s : weights.skipped) std::cerr << "visualize: " << s << "\n";
  return write_html_report(report, save_folder);
}

}  // namespace fovea::viz
