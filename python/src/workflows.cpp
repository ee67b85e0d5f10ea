// fovea._fovea's workflow functions: one per fovea/api call (train, evaluate,
// predict, visualize, simulate, minimodels, top images). Each converts its
// arguments into the API's options struct, runs the call without the GIL
// (so that other Python threads run meanwhile) and returns plain Python values; the
// progress callback takes the GIL back for each report. The user-facing
// functions, their argument checks and docstrings are in python/fovea/workflows.py.
#include <torch/extension.h>

#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <vector>

#include "fovea/api/evaluate.h"
#include "fovea/api/minimodels.h"
#include "fovea/api/predict.h"
#include "fovea/api/runtime.h"
#include "fovea/api/simulate.h"
#include "fovea/api/top_images.h"
#include "fovea/api/train.h"
#include "fovea/api/visualize.h"

namespace py = pybind11;
using fovea::nn::Model;
using ModelPtr = std::shared_ptr<Model>;

namespace {

// The library logs each epoch through spdlog; from Python the progress
// callback shows it instead, so the log is quiet (warnings pass) during a call.
class QuietLog {
 public:
  QuietLog() : saved_(spdlog::get_level()) { spdlog::set_level(std::max(saved_, spdlog::level::warn)); }
  ~QuietLog() { spdlog::set_level(saved_); }
  QuietLog(const QuietLog&) = delete;
  QuietLog& operator=(const QuietLog&) = delete;

 private:
  spdlog::level::level_enum saved_;
};

// Runs an API call without the GIL (and with the log quiet).
template <typename F>
auto without_gil(F&& call) {
  QuietLog quiet;
  py::gil_scoped_release release;
  return call();
}

// callback(stage, step, total, metrics) with the GIL held; a Python exception
// in it, or a pending Ctrl-C, ends the API call with that exception. The
// handle is borrowed: the caller's argument keeps the callable alive.
fovea::api::ProgressCallback progress_callback(const py::object& callback) {
  if (callback.is_none()) return {};
  py::handle function = callback;
  return [function](const fovea::api::Progress& p) {
    py::gil_scoped_acquire acquire;
    py::dict metrics;
    for (const auto& [name, value] : p.metrics) metrics[py::str(name)] = value;
    function(p.stage, p.step, p.total, metrics);
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  };
}

// The V1 data options (--data, --images, --responses, --truth, --mouse, --textures).
fovea::api::V1DataFiles data_files(const std::string& dir, const std::string& images, const std::string& responses,
                                   const std::string& truth, const std::string& mouse, bool textures) {
  fovea::api::V1DataFiles files{dir, images, responses, truth};
  files.mouse = mouse;
  files.textures = textures;
  return files;
}

py::object json_value(const nlohmann::json& value) { return py::module_::import("json").attr("loads")(value.dump()); }

py::dict report_dict(const fovea::eval::EvaluationReport& r) {
  py::dict d;
  d["columns"] = r.columns;
  d["table"] = r.table;
  d["included"] = r.included;
  d["session"] = r.row_session;
  d["neuron"] = r.row_neuron;
  d["summary"] = json_value(r.summary);
  return d;
}

py::dict epoch_dict(const fovea::train::EpochRecord& e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["period"] = e.period;
  d["lr"] = e.lr;
  d["train_loss"] = e.train_loss;
  d[py::str(e.score_name)] = e.score;
  d[py::str("best_" + e.score_name)] = e.best_score;
  d["seconds"] = e.seconds;
  return d;
}

py::dict train_binding(const std::string& config, const std::string& config_text,
                       const std::vector<std::string>& overrides, const std::string& output,
                       std::optional<uint64_t> seed, const std::string& device, const std::string& resume,
                       const py::object& progress) {
  fovea::api::TrainOptions o;
  o.resume = resume;
  o.config = config;
  o.config_text = config_text;
  o.overrides = overrides;
  o.output = output;
  o.seed = seed;
  o.device = device;
  o.quiet = true;  // the trainer's own bar would write to the terminal beside Python's
  o.progress = progress_callback(progress);
  const auto r = without_gil([&] { return fovea::api::train(o); });
  py::dict d;
  d["model"] = r.model;
  d["family"] = r.family;
  d["seed"] = r.seed;
  d["output_dir"] = r.output_dir;
  d["model_path"] = r.model_path;
  d["metrics_csv"] = r.metrics_csv;
  d["eval_csv"] = r.eval_csv;
  d["eval_json"] = r.eval_json;
  py::list epochs;
  for (const auto& e : r.epochs) epochs.append(epoch_dict(e));
  d["epochs"] = epochs;
  py::dict training;
  training["best_score"] = r.training.best_score;
  training["best_epoch"] = r.training.has_best() ? py::object(py::int_(r.training.best_epoch + 1)) : py::object(py::none());
  training["epochs_run"] = r.training.epochs_run;
  training["stop_reason"] = r.training.stop_reason;
  training["seconds"] = r.training.seconds;
  d["training"] = training;
  d["evaluation"] = report_dict(r.evaluation);
  if (r.family == "v1") d["fev_threshold"] = r.fev_threshold;
  return d;
}

py::dict evaluate_binding(const ModelPtr& model, const std::string& name, const std::string& dir,
                          const std::string& images, const std::string& responses, const std::string& truth,
                          const std::string& mouse, bool textures, double threshold, const std::string& test_name,
                          const std::string& data_split, bool dataset_statistics, const std::string& output,
                          const std::string& device) {
  fovea::api::EvaluateOptions o;
  o.model = name;
  o.data = data_files(dir, images, responses, truth, mouse, textures);
  o.threshold = threshold;
  o.test_name = test_name;
  o.data_split = data_split;
  o.dataset_statistics = dataset_statistics;
  o.output = output;
  o.device = device;
  const auto r = without_gil([&] { return fovea::api::evaluate(*model, o); });
  py::dict d = report_dict(r.report);
  d["family"] = r.family;
  d["threshold"] = r.threshold;
  d["csv"] = r.csv;
  d["json"] = r.json;
  return d;
}

py::dict predict_binding(const ModelPtr& model, const std::string& name, const at::Tensor& stimuli,
                         const std::string& origin, const std::string& session, int64_t batch_size,
                         const std::string& output, const std::string& device) {
  fovea::api::PredictOptions o;
  o.model = name;
  o.input = origin;
  o.session = session;
  o.batch_size = batch_size;
  o.output = output;
  o.device = device;
  // Without autograd: predictions of a model in eval mode, as `fovea predict`.
  const at::Tensor x = stimuli.detach();
  const auto r = without_gil([&] { return fovea::api::predict(*model, x, o); });
  py::dict d;
  d["responses"] = r.responses;
  d["movie"] = r.movie;
  d["lag"] = r.lag;
  d["output"] = r.output;
  return d;
}

py::dict simulate_v1_binding(const std::string& dir, int64_t neurons, int64_t train_images, int64_t test_images,
                             int64_t repeats, int64_t height, int64_t width, double complex_fraction, double noise,
                             uint64_t seed) {
  fovea::api::SimulateV1Options o;
  o.dir = dir;
  o.n_neurons = neurons, o.n_train_images = train_images, o.n_test_images = test_images, o.n_repeats = repeats;
  o.height = height, o.width = width, o.complex_fraction = complex_fraction, o.noise_scale = noise, o.seed = seed;
  const auto r = without_gil([&] { return fovea::api::simulate_v1(o); });
  py::dict d;
  d["files"] = r.files;
  d["n_neurons"] = r.n_neurons;
  d["n_images"] = r.n_images;
  d["fev"] = r.fev;
  d["mean_fev"] = r.mean_fev;
  return d;
}

py::dict simulate_retina_binding(const std::string& dir, int64_t sessions, const std::vector<int64_t>& neurons_per_session,
                                 const std::string& stimulus, int64_t height, int64_t width, int64_t colors,
                                 int64_t train_frames, int64_t test_frames, int64_t repeats, int64_t filter_frames,
                                 double noise, uint64_t seed) {
  fovea::api::SimulateRetinaOptions o;
  o.dir = dir;
  o.n_sessions = sessions, o.neurons_per_session = neurons_per_session, o.stimulus = stimulus;
  o.height = height, o.width = width, o.colors = colors, o.train_frames = train_frames, o.test_frames = test_frames;
  o.n_repeats = repeats, o.filter_frames = filter_frames, o.noise_scale = noise, o.seed = seed;
  const auto r = without_gil([&] { return fovea::api::simulate_retina(o); });
  py::dict d;
  d["files"] = r.files;
  d["sessions"] = r.sessions;
  d["n_neurons"] = r.n_neurons;
  d["n_cells"] = r.n_cells;
  d["mean_fev"] = r.mean_fev;
  return d;
}

py::dict minimodels_binding(const std::string& full_model, const std::string& dir, const std::string& images,
                            const std::string& responses, const std::string& truth, const std::string& mouse,
                            bool textures, const std::vector<int64_t>& neurons, const std::string& config, const std::vector<std::string>& overrides,
                            const std::string& output, const std::string& device, uint64_t seed, bool resume,
                            int64_t batch_minimodels, const py::object& progress) {
  fovea::api::MinimodelsOptions o;
  o.resume = resume;
  o.batch_minimodels = batch_minimodels;
  o.full_model = full_model;
  o.data = data_files(dir, images, responses, truth, mouse, textures);
  o.neurons = neurons;
  o.config = config;
  o.overrides = overrides;
  o.output = output;
  o.device = device;
  o.seed = seed;
  o.quiet = true;
  o.progress = progress_callback(progress);
  const auto r = without_gil([&] { return fovea::api::minimodels(o); });
  py::list rows;
  for (const auto& row : r.rows) {
    py::dict d;
    d["neuron"] = row.neuron;
    d["fev"] = row.fev;
    d["feve_full"] = row.feve_full;
    d["feve_minimodel"] = row.feve_minimodel;
    d["channels_used"] = row.channels_used;
    d["channels"] = row.channels;
    d["model_path"] = row.model_path;
    rows.append(d);
  }
  py::dict d;
  d["rows"] = rows;
  d["summary_csv"] = r.summary_csv;
  return d;
}

py::dict top_images_binding(const ModelPtr& model, const std::string& name, const std::string& dir,
                            const std::string& images, const std::string& responses, const std::string& mouse,
                            bool textures, const std::vector<int64_t>& neurons, double threshold, int64_t n_top, int64_t n_channel_top, const std::string& format,
                            const std::string& output, const std::string& device, const py::object& progress) {
  fovea::api::TopImagesOptions o;
  o.model = name;
  o.data = data_files(dir, images, responses, "", mouse, textures);
  o.neurons = neurons;
  o.threshold = threshold;
  o.n_top = n_top;
  o.n_channel_top = n_channel_top;
  o.format = format;
  o.output = output;
  o.device = device;
  o.progress = progress_callback(progress);
  const auto r = without_gil([&] { return fovea::api::top_images(*model, o); });
  py::list entries;
  for (const auto& n : r.neurons) {
    py::list channels;
    for (const auto& c : n.channels) {
      py::dict cd;
      cd["channel"] = c.channel;
      cd["wc"] = c.wc;
      cd["top_images"] = c.top_images;
      channels.append(cd);
    }
    py::dict e;
    e["neuron"] = n.neuron;
    e["figure"] = n.figure;
    e["top_images"] = n.top_images;
    e["channels"] = channels;
    entries.append(e);
  }
  py::dict d;
  d["neurons"] = entries;
  d["summary_json"] = r.summary_json;
  return d;
}

py::dict visualize_binding(const ModelPtr& model, const std::string& name, const std::string& save_folder,
                           const std::string& data, int64_t time_steps, const std::string& format, int64_t steps,
                           double lr, int64_t batch_size, bool constraints, bool weights, bool meis, uint64_t seed,
                           const std::string& device, bool resume) {
  fovea::api::VisualizeOptions o;
  o.model_path = name;
  o.save_folder = save_folder;
  o.data = data;
  o.time_steps = time_steps;
  o.format = format;
  o.steps = steps;
  o.lr = lr;
  o.batch_size = batch_size;
  o.constraints = constraints;
  o.weights = weights;
  o.meis = meis;
  o.seed = seed;
  o.device = device;
  o.resume = resume;
  o.progress = false;  // its bar would write to the terminal beside Python's output
  const auto r = without_gil([&] { return fovea::api::visualize(model, o); });
  py::dict d;
  d["page"] = r.result.page.string();
  d["meis"] = r.result.meis;
  d["weight_figures"] = r.result.weight_figures;
  d["notes"] = r.result.notes;
  d["evaluation"] = r.evaluation ? py::object(report_dict(*r.evaluation)) : py::object(py::none());
  return d;
}

}  // namespace

void register_workflows(py::module_& m) {
  // A bad option value (api::OptionError) is a ValueError; other library
  // errors stay fovea.Error (fovea_module.cpp's translator, tried after this one).
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fovea::api::OptionError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  const fovea::api::SimulateV1Options v1;
  const fovea::api::SimulateRetinaOptions retina;
  const fovea::api::TopImagesOptions top;
  const fovea::api::VisualizeOptions vis;
  const fovea::api::MinimodelsOptions mini;
  m.def("_train", &train_binding, py::arg("config"), py::arg("config_text"), py::arg("overrides"), py::arg("output"),
        py::arg("seed"), py::arg("device"), py::arg("resume"), py::arg("progress"), "api::train");
  m.def("_evaluate", &evaluate_binding, py::arg("model"), py::arg("name"), py::arg("dir"), py::arg("images"),
        py::arg("responses"), py::arg("truth"), py::arg("mouse"), py::arg("textures"), py::arg("threshold"),
        py::arg("test_name"), py::arg("data_split"), py::arg("dataset_statistics"), py::arg("output"),
        py::arg("device"), "api::evaluate on a loaded model");
  m.def("_predict", &predict_binding, py::arg("model"), py::arg("name"), py::arg("stimuli"), py::arg("origin"),
        py::arg("session"), py::arg("batch_size"), py::arg("output"), py::arg("device"), "api::predict on a loaded model");
  m.def("_simulate_v1", &simulate_v1_binding, py::arg("dir"), py::arg("neurons") = v1.n_neurons,
        py::arg("train_images") = v1.n_train_images, py::arg("test_images") = v1.n_test_images,
        py::arg("repeats") = v1.n_repeats, py::arg("height") = v1.height, py::arg("width") = v1.width,
        py::arg("complex_fraction") = v1.complex_fraction, py::arg("noise") = v1.noise_scale,
        py::arg("seed") = v1.seed, "api::simulate_v1");
  m.def("_simulate_retina", &simulate_retina_binding, py::arg("dir"), py::arg("sessions") = retina.n_sessions,
        py::arg("neurons_per_session") = retina.neurons_per_session, py::arg("stimulus") = retina.stimulus,
        py::arg("height") = retina.height, py::arg("width") = retina.width, py::arg("colors") = retina.colors,
        py::arg("train_frames") = retina.train_frames, py::arg("test_frames") = retina.test_frames,
        py::arg("repeats") = retina.n_repeats, py::arg("filter_frames") = retina.filter_frames,
        py::arg("noise") = retina.noise_scale, py::arg("seed") = retina.seed, "api::simulate_retina");
  m.def("_minimodels", &minimodels_binding, py::arg("full_model"), py::arg("dir"), py::arg("images"),
        py::arg("responses"), py::arg("truth"), py::arg("mouse"), py::arg("textures"), py::arg("neurons"),
        py::arg("config") = mini.config,
        py::arg("overrides") = std::vector<std::string>{}, py::arg("output") = mini.output,
        py::arg("device") = mini.device, py::arg("seed") = mini.seed, py::arg("resume") = mini.resume,
        py::arg("batch_minimodels") = mini.batch_minimodels, py::arg("progress") = py::none(),
        "api::minimodels");
  m.def("_top_images", &top_images_binding, py::arg("model"), py::arg("name"), py::arg("dir"), py::arg("images"),
        py::arg("responses"), py::arg("mouse"), py::arg("textures"), py::arg("neurons"),
        py::arg("threshold") = top.threshold, py::arg("n_top") = top.n_top,
        py::arg("n_channel_top") = top.n_channel_top, py::arg("format") = top.format, py::arg("output") = top.output,
        py::arg("device") = top.device, py::arg("progress") = py::none(), "api::top_images on a loaded model");
  m.def("_visualize", &visualize_binding, py::arg("model"), py::arg("name"), py::arg("save_folder"), py::arg("data"),
        py::arg("time_steps_stimulus") = vis.time_steps, py::arg("image_file_format") = vis.format,
        py::arg("steps") = vis.steps, py::arg("lr") = vis.lr, py::arg("batch_size") = vis.batch_size,
        py::arg("constraints") = vis.constraints, py::arg("weights") = vis.weights, py::arg("meis") = vis.meis,
        py::arg("seed") = vis.seed, py::arg("device") = vis.device, py::arg("resume") = false,
        "api::visualize on a loaded model");
}
