// fovea._fovea's in-silico and stimulus-utility part: the library's response
// reducers, objectives, stimulus losses, postprocessors and stoppers
// (include/fovea/insilico/), its MP4 writer (viz/video.h) and the numbers of
// the stimulus-composition figure (viz/stimulus_decomposition.h). The Python
// classes of fovea.insilico and fovea.utils wrap or subclass these; the
// optimisation loop itself is sequenced in Python so that it can call the
// user's torch optimiser.
#include <torch/extension.h>

#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fovea/error.h"
#include "fovea/insilico/objectives.h"
#include "fovea/insilico/reducers.h"
#include "fovea/insilico/regularizers.h"
#include "fovea/insilico/stoppers.h"
#include "fovea/nn/model.h"
#include "fovea/viz/stimulus_decomposition.h"
#include "fovea/viz/stimulus_figures.h"
#include "fovea/viz/video.h"

namespace py = pybind11;
namespace ins = fovea::insilico;
using ModelPtr = std::shared_ptr<fovea::nn::Model>;

namespace {

// A reducer written in Python (a subclass of fovea.insilico.ResponseReducer)
// that the library's objectives call.
class PyResponseReducer : public ins::ResponseReducer {
 public:
  at::Tensor forward(const at::Tensor& responses) const override {
    PYBIND11_OVERRIDE_PURE(at::Tensor, ins::ResponseReducer, forward, responses);
  }
};

// An objective written in Python, so that library code can hold it too.
class PyObjective : public ins::Objective {
 public:
  at::Tensor forward(const at::Tensor& stimulus) override {
    PYBIND11_OVERRIDE_PURE(at::Tensor, ins::Objective, forward, stimulus);
  }
};

// Objectives run the model's forward pass: without the GIL, like _Model.forward.
template <class T>
at::Tensor forward_without_gil(T& objective, const at::Tensor& stimulus) {
  py::gil_scoped_release release;
  return objective.forward(stimulus);
}

py::dict channel_dict(const fovea::viz::ChannelComposition& c) {
  auto vec = [](const std::vector<double>& v) {
    return torch::tensor(v, torch::TensorOptions().dtype(torch::kFloat64));
  };
  py::dict d;
  d["temporal"] = vec(c.temporal);
  d["time_s"] = vec(c.time_s);
  d["spatial"] = vec(c.spatial).view({c.height, c.width});
  d["frequencies"] = vec(c.frequencies);
  d["amplitudes"] = vec(c.amplitudes);
  d["weighted_frequency"] = c.weighted_frequency;
  return d;
}

// A model whose forward pass is a Python callable (a CoreReadout with your own core
// or readout, any torch.nn.Module): the core passes the stimulus through, the
// readout calls `forward(stimulus, data_key or None)` with the GIL held, so the
// library's objectives run on it unchanged.
class PassThroughCore : public fovea::nn::Core {
 public:
  at::Tensor forward(const at::Tensor& input) override { return input; }
};

class PythonForwardReadout : public fovea::nn::Readout {
 public:
  PythonForwardReadout(py::function forward, std::map<std::string, int64_t> n_neurons)
      : forward_(std::move(forward)), n_neurons_(std::move(n_neurons)) {}

  at::Tensor forward(const at::Tensor& stimulus, const std::string& data_key) override {
    py::gil_scoped_acquire gil;
    py::object key = data_key.empty() ? py::object(py::none()) : py::object(py::str(data_key));
    py::object out = forward_(stimulus, key);
    if (!THPVariable_Check(out.ptr()))
      throw py::type_error("the model must return a torch.Tensor, it returned " +
                           std::string(py::str(py::type::of(out).attr("__name__"))));
    return out.cast<at::Tensor>();
  }
  std::vector<std::string> sessions() const override {
    std::vector<std::string> keys;
    for (const auto& [key, n] : n_neurons_) keys.push_back(key);
    return keys;
  }
  int64_t n_neurons(const std::string& data_key) const override {
    const auto it = n_neurons_.find(data_key);
    if (it == n_neurons_.end()) {
      std::string known;
      for (const auto& [key, n] : n_neurons_) known += (known.empty() ? "'" : ", '") + key + "'";
      fovea::fail("model", "unknown session '" + data_key + "' (known: " + known + ")");
    }
    return it->second;
  }

 private:
  py::function forward_;
  std::map<std::string, int64_t> n_neurons_;
};

}  // namespace

void bind_insilico(py::module_& m) {
  m.def("_python_model",
        [](py::function forward, std::map<std::string, int64_t> n_neurons) {
          return std::make_shared<fovea::nn::Model>(
              std::make_shared<PassThroughCore>(),
              std::make_shared<PythonForwardReadout>(std::move(forward), std::move(n_neurons)),
              fovea::nn::Json{{"family", "python"}});
        },
        py::arg("forward"), py::arg("n_neurons"),
        "A library model whose forward pass is forward(stimulus, data_key or None); n_neurons: {session: count}.");

  // ---- reducers ----
  py::class_<ins::ResponseReducer, PyResponseReducer, std::shared_ptr<ins::ResponseReducer>>(
      m, "_ResponseReducer", "insilico::ResponseReducer: responses -> score.")
      .def(py::init<>())
      .def("forward", &ins::ResponseReducer::forward, py::arg("responses"));
  py::class_<ins::MeanReducer, ins::ResponseReducer, std::shared_ptr<ins::MeanReducer>>(
      m, "_MeanReducer", "insilico::MeanReducer: the mean along an axis.")
      .def(py::init<int64_t>(), py::arg("axis") = 0);
  py::class_<ins::SliceMeanReducer, ins::ResponseReducer, std::shared_ptr<ins::SliceMeanReducer>>(
      m, "_SliceMeanReducer", "insilico::SliceMeanReducer: the mean of a clipped window along an axis.")
      .def(py::init<int64_t, int64_t, int64_t>(), py::arg("axis"), py::arg("start"), py::arg("length"))
      .def("window", &ins::SliceMeanReducer::window, py::arg("size"),
           "(start, length) averaged over an axis of `size` steps (clipped, or openretina's fallback).");

  // ---- objectives ----
  py::class_<ins::Objective, PyObjective, std::shared_ptr<ins::Objective>>(m, "_Objective",
                                                                            "insilico::Objective: stimulus -> scalar.")
      .def(py::init<>())
      .def("forward", [](ins::Objective& o, const at::Tensor& x) { return forward_without_gil(o, x); },
           py::arg("stimulus"));
  py::class_<ins::IncreaseObjective, ins::Objective, std::shared_ptr<ins::IncreaseObjective>>(
      m, "_IncreaseObjective", "insilico::IncreaseObjective.")
      .def(py::init<ModelPtr, std::vector<int64_t>, std::string, std::shared_ptr<ins::ResponseReducer>>(),
           py::arg("model"), py::arg("neuron_indices"), py::arg("data_key"), py::arg("response_reducer"))
      .def("model_forward",
           [](ins::IncreaseObjective& o, const at::Tensor& x) {
             py::gil_scoped_release release;
             return o.model_forward(x);
           },
           py::arg("stimulus"), "The (time, neurons) responses the objective reduces.")
      .def_property_readonly("n_neurons", &ins::IncreaseObjective::n_neurons);
  py::class_<ins::ContrastiveNeuronObjective, ins::Objective, std::shared_ptr<ins::ContrastiveNeuronObjective>>(
      m, "_ContrastiveNeuronObjective", "insilico::ContrastiveNeuronObjective.")
      .def(py::init<ModelPtr, std::vector<int64_t>, std::vector<std::vector<int64_t>>, std::string,
                    std::shared_ptr<ins::ResponseReducer>, double>(),
           py::arg("model"), py::arg("on_indices"), py::arg("off_indices_list"), py::arg("data_key"),
           py::arg("response_reducer"), py::arg("temperature"))
      .def_property_readonly("n_neurons", &ins::ContrastiveNeuronObjective::n_neurons)
      .def_static("contrastive_objective", &ins::ContrastiveNeuronObjective::contrastive_objective,
                  py::arg("on_score"), py::arg("all_scores"), py::arg("temperature"));
  py::class_<ins::InnerNeuronVisualizationObjective, ins::Objective,
             std::shared_ptr<ins::InnerNeuronVisualizationObjective>>(
      m, "_InnerNeuronVisualizationObjective", "insilico::InnerNeuronVisualizationObjective.")
      .def(py::init<ModelPtr, const std::string&, int64_t, std::shared_ptr<ins::ResponseReducer>, std::string>(),
           py::arg("model"), py::arg("layer"), py::arg("channel"), py::arg("response_reducer"),
           py::arg("data_key") = "")
      .def_property_readonly("layer_index", &ins::InnerNeuronVisualizationObjective::layer_index)
      .def_static("layer_names",
                  [](const ModelPtr& model) { return ins::InnerNeuronVisualizationObjective::layer_names(*model); },
                  py::arg("model"))
      .def_static("layer_channels",
                  [](const ModelPtr& model, int64_t index) {
                    return ins::InnerNeuronVisualizationObjective::layer_channels(*model, index);
                  },
                  py::arg("model"), py::arg("index"))
      .def_static("layer_output",
                  [](const ModelPtr& model, int64_t index, const at::Tensor& x, const std::string& data_key) {
                    py::gil_scoped_release release;
                    return ins::InnerNeuronVisualizationObjective::layer_output(*model, index, x, data_key);
                  },
                  py::arg("model"), py::arg("index"), py::arg("stimulus"), py::arg("data_key") = "");

  // ---- stimulus losses and postprocessors ----
  py::class_<ins::StimulusRegularizationLoss, std::shared_ptr<ins::StimulusRegularizationLoss>>(
      m, "_StimulusRegularizationLoss", "insilico::StimulusRegularizationLoss.")
      .def("forward", &ins::StimulusRegularizationLoss::forward, py::arg("stimulus"));
  py::class_<ins::RangeRegularizationLoss, ins::StimulusRegularizationLoss,
             std::shared_ptr<ins::RangeRegularizationLoss>>(m, "_RangeRegularizationLoss",
                                                            "insilico::RangeRegularizationLoss.")
      .def(py::init<ins::ChannelRanges, std::optional<double>, double>(), py::arg("min_max_values"),
           py::arg("max_norm"), py::arg("factor") = 1.0);
  py::class_<ins::StimulusPostprocessor, std::shared_ptr<ins::StimulusPostprocessor>>(
      m, "_StimulusPostprocessor", "insilico::StimulusPostprocessor.")
      .def("process", &ins::StimulusPostprocessor::process, py::arg("x"));
  py::class_<ins::ChangeNormJointlyClipRangeSeparately, ins::StimulusPostprocessor,
             std::shared_ptr<ins::ChangeNormJointlyClipRangeSeparately>>(
      m, "_ChangeNormJointlyClipRangeSeparately", "insilico::ChangeNormJointlyClipRangeSeparately.")
      .def(py::init<ins::ChannelRanges, std::optional<double>>(), py::arg("min_max_values"), py::arg("norm"));
  py::class_<ins::TemporalGaussianLowPassFilterProcessor, ins::StimulusPostprocessor,
             std::shared_ptr<ins::TemporalGaussianLowPassFilterProcessor>>(
      m, "_TemporalGaussianLowPassFilterProcessor", "insilico::TemporalGaussianLowPassFilterProcessor.")
      .def(py::init<double, int64_t>(), py::arg("sigma"), py::arg("kernel_size"))
      .def_property_readonly("kernel", &ins::TemporalGaussianLowPassFilterProcessor::kernel);

  // ---- stoppers ----
  py::class_<ins::OptimizationStopper, std::shared_ptr<ins::OptimizationStopper>>(
      m, "_OptimizationStopper", "insilico::OptimizationStopper.")
      .def(py::init<std::optional<int64_t>>(), py::arg("max_iterations"))
      .def_property_readonly("_max_iterations", &ins::OptimizationStopper::max_iterations)
      .def("_early_stop", &ins::OptimizationStopper::early_stop, py::arg("loss"));
  py::class_<ins::EarlyStopper, ins::OptimizationStopper, std::shared_ptr<ins::EarlyStopper>>(
      m, "_EarlyStopper", "insilico::EarlyStopper.")
      .def(py::init<std::optional<int64_t>, int64_t, double>(), py::arg("max_iterations") = std::nullopt,
           py::arg("patience") = 1, py::arg("min_delta") = 0.0);

  // ---- stimulus utilities ----
  m.def("_write_stimulus_video",
        [](const at::Tensor& stimulus, const std::string& path, double fps, int upscale) {
          fovea::viz::VideoInfo info;
          {
            py::gil_scoped_release release;
            info = fovea::viz::write_stimulus_video(stimulus, path, fps, upscale);
          }
          py::dict d;
          d["codec"] = info.codec;
          d["width"] = info.width;
          d["height"] = info.height;
          d["frames"] = info.frames;
          return d;
        },
        py::arg("stimulus"), py::arg("path"), py::arg("fps"), py::arg("upscale"), "viz::write_stimulus_video.");
  m.def("_stimulus_composition",
        [](const at::Tensor& stimulus, double lowpass_cutoff, double frame_rate) {
          py::list out;
          for (const auto& c : fovea::viz::stimulus_composition(stimulus, lowpass_cutoff, frame_rate))
            out.append(channel_dict(c));
          return out;
        },
        py::arg("stimulus"), py::arg("lowpass_cutoff"), py::arg("frame_rate"),
        "viz::stimulus_composition: per channel temporal, time_s, spatial (H, W), frequencies, amplitudes, "
        "weighted_frequency.");
  m.def("_decompose_kernel",
        [](const at::Tensor& kernel, double scaling_factor) {
          const auto d = fovea::viz::decompose_kernel(kernel, scaling_factor);
          auto vec = [](const std::vector<double>& v) {
            return torch::tensor(v, torch::TensorOptions().dtype(torch::kFloat64));
          };
          return py::make_tuple(vec(d.temporal), vec(d.spatial).view({d.height, d.width}), d.second_singular_value);
        },
        py::arg("space_time_kernel"), py::arg("scaling_factor") = 1.0, "viz::decompose_kernel.");
  m.def("_channel_style",
        [](int64_t channel, int64_t n_channels) {
          const auto c = fovea::viz::channel_colour(channel, n_channels);
          return py::make_tuple(fovea::viz::channel_name(channel, n_channels),
                                py::make_tuple(c.r / 255.0, c.g / 255.0, c.b / 255.0));
        },
        py::arg("channel"), py::arg("n_channels"), "(name, (r, g, b) in 0..1) of a stimulus channel.");
}
