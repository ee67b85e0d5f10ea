// fovea._fovea: the compiled half of the Python module `fovea` (python/fovea/).
// It only converts and calls: tensors cross as torch.Tensor through
// torch/extension.h's type casters (same LibTorch as Debian's python3-torch,
// so autograd graphs built here are backpropagated by torch), everything
// else is plain Python values. The user-facing classes and their docstrings
// are in python/fovea/models.py; the names here start with an underscore
// where the Python layer wraps them.
#include <torch/extension.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <memory>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/model.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/predict.h"
#include "fovea/viz/figure.h"
#include "fovea/viz/seed_api.h"

namespace py = pybind11;
namespace fs = std::filesystem;
using fovea::nn::Model;
using ModelPtr = std::shared_ptr<Model>;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// python/src/insilico_bindings.cpp: reducers, objectives, postprocessors, stoppers, video, composition.
void bind_insilico(py::module_& m);
// python/src/workflows.cpp: train, evaluate, predict, visualize, simulate, minimodels, top images (fovea/api).
void register_workflows(py::module_& m);

namespace {

NamedTensors to_pairs(const torch::OrderedDict<std::string, at::Tensor>& dict) {
  NamedTensors out;
  out.reserve(dict.size());
  for (const auto& item : dict) out.emplace_back(item.key(), item.value());
  return out;
}

torch::nn::Module& submodule(Model& model, const std::string& which) {
  if (which == "core") return *model.core();
  if (which == "readout") return *model.readout();
  if (which.empty()) return model;
  throw py::value_error("unknown submodule '" + which + "' (expected 'core', 'readout' or '')");
}

// The figure's pixels (height, width, 3), RGB uint8: rendered through
// Figure::save to a temporary PNG and read back.
at::Tensor figure_pixels(const fovea::viz::Figure& figure) {
  static std::atomic<int> counter{0};
  const fs::path path = fs::temp_directory_path() / ("fovea-figure-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(counter++) + ".png");
  cv::Mat image;
  try {
    figure.save(path);
    image = cv::imread(path.string(), cv::IMREAD_COLOR);
  } catch (...) {
    std::error_code ignored;
    fs::remove(path, ignored);
    throw;
  }
  std::error_code ignored;
  fs::remove(path, ignored);
  if (image.empty()) throw fovea::Error(path.string() + ": the rendered figure could not be read back");
  cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  return torch::from_blob(image.data, {image.rows, image.cols, 3}, torch::kUInt8).clone();
}

}  // namespace

PYBIND11_MODULE(_fovea, m) {
  m.doc() = "The compiled part of fovea (pybind11 over the C++ library); use the package `fovea`.";

  // fovea::Error -> fovea.Error (a RuntimeError) with the same one-line message;
  // LibTorch's errors -> the Python exception PyTorch raises for them, without
  // the C++ backtrace.
  static py::exception<fovea::Error> error(m, "Error", PyExc_RuntimeError);
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fovea::Error& e) {
      error(e.what());
    } catch (const c10::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what_without_backtrace());
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });

  m.def("_load_any_model",
        [](const std::string& name, std::vector<int64_t> input_hw) {
          fovea::nn::ImportOptions options;
          options.input_hw = std::move(input_hw);
          py::gil_scoped_release release;
          return fovea::nn::load_any_model(name, options);
        },
        py::arg("name_or_path_or_url"), py::arg("input_hw") = std::vector<int64_t>{},
        "nn::load_any_model: a fovea .safetensors file, a reference checkpoint, a URL or a pretrained name.");
  m.def("_build_model",
        [](const std::string& spec_json) {
          const auto spec = fovea::nn::Json::parse(spec_json);
          py::gil_scoped_release release;
          return fovea::nn::build_model(spec);
        },
        py::arg("spec_json"), "nn::build_model: a new model (fresh weights) from its spec, as JSON text.");
  m.def("_kernel_set", [] { return fovea::nn::to_string(fovea::nn::kernel_set()); },
        "The process-wide kernel set: 'fast' or 'reference'.");
  m.def("_set_kernel_set",
        [](const std::string& name) { fovea::nn::set_kernel_set(fovea::nn::parse_kernel_set(name, "kernels")); },
        py::arg("name"), "Selects the kernel set ('fast' or 'reference') for the whole process.");

  py::class_<fovea::viz::Figure>(m, "_Figure", "A fovea figure (viz::Figure): recorded panels, rendered on save.")
      .def_property_readonly("width", &fovea::viz::Figure::width, "Width in pixels.")
      .def_property_readonly("height", &fovea::viz::Figure::height, "Height in pixels.")
      .def_property_readonly("title", &fovea::viz::Figure::title, "The figure's title.")
      .def("save", [](const fovea::viz::Figure& f, const std::string& path) { f.save(path); }, py::arg("path"),
           "Writes the figure; the format follows the extension (.png, .svg, .pdf, .jpg).")
      .def("pixels", &figure_pixels, "The rendered figure as a (height, width, 3) uint8 RGB tensor.");

  py::class_<Model, ModelPtr>(m, "_Model", "A fovea model (nn::Model): a core and a readout per session.")
      .def("forward",
           [](Model& model, const at::Tensor& x, const std::string& data_key) {
             py::gil_scoped_release release;
             return model.forward(x, data_key);
           },
           py::arg("x"), py::arg("data_key") = "", "Model::forward: responses of session data_key ('' = all).")
      .def("core_forward",
           [](Model& model, const at::Tensor& x, const std::string& data_key) {
             py::gil_scoped_release release;
             return model.core()->forward_session(x, data_key);
           },
           py::arg("x"), py::arg("data_key") = "", "Core::forward_session: the core's features.")
      .def("readout_forward",
           [](Model& model, const at::Tensor& features, const std::string& data_key) {
             py::gil_scoped_release release;
             return model.readout()->forward(features, data_key);
           },
           py::arg("features"), py::arg("data_key") = "", "Readout::forward: responses to core features.")
      .def("check_session", &fovea::nn::check_session, py::arg("data_key"), py::arg("origin"),
           "nn::check_session: fovea.Error naming `origin` for an unknown session.")
      .def("readout_keys", &Model::readout_keys, "Session names, sorted ({''} for single-session models).")
      .def("n_neurons", [](const Model& model, const std::string& key) { return model.readout()->n_neurons(key); },
           py::arg("data_key") = "", "Neurons of a session ('' = all).")
      .def("stimulus_shape", &Model::stimulus_shape, py::arg("time_steps"), py::arg("num_batches") = 1,
           "Model::stimulus_shape, as openretina's.")
      .def("input_shape", &Model::input_shape, "Input shape without the batch axis.")
      .def("spec_json", [](const Model& model) { return model.spec().dump(); }, "The model spec as JSON text.")
      .def("n_parameters", &Model::n_parameters, py::arg("trainable_only") = false, "Parameter elements.")
      .def("state_dict", &Model::state_dict, "(name, tensor) for every parameter and buffer.")
      .def("load_state_dict",
           [](Model& model, const NamedTensors& state, const std::string& origin, bool allow_extra) {
             py::gil_scoped_release release;
             model.load_state_dict(state, origin, allow_extra);
           },
           py::arg("state"), py::arg("origin"), py::arg("allow_extra") = false,
           "Model::load_state_dict: copies the tensors in; `origin` names the source in errors.")
      .def("named_parameters",
           [](Model& model, const std::string& which) { return to_pairs(submodule(model, which).named_parameters()); },
           py::arg("which") = "", "(name, tensor) of the parameters of the model, 'core' or 'readout'.")
      .def("named_buffers",
           [](Model& model, const std::string& which) { return to_pairs(submodule(model, which).named_buffers()); },
           py::arg("which") = "", "(name, tensor) of the buffers of the model, 'core' or 'readout'.")
      .def("train", [](Model& model, bool mode) { model.train(mode); }, py::arg("mode") = true, "Training (True) or eval (False) mode.")
      .def("is_training", [](const Model& model) { return model.is_training(); }, "True in training mode.")
      .def("train_submodule", [](Model& model, const std::string& which, bool mode) { submodule(model, which).train(mode); },
           py::arg("which"), py::arg("mode"), "Training (True) or eval (False) mode of 'core', 'readout' or ''.")
      .def("to",
           [](Model& model, const std::string& device) {
             const torch::Device d(device);
             py::gil_scoped_release release;
             model.to(d);
           },
           py::arg("device"), "Moves parameters and buffers to a device ('cpu', 'cuda:0', ...).")
      .def("save",
           [](const Model& model, const std::string& path) {
             py::gil_scoped_release release;
             fovea::nn::save_model(path, model);
           },
           py::arg("path"), "nn::save_model: one .safetensors file, written atomically.")
      .def("plot_weight_visualization",
           [](const Model& model, int64_t layer, int64_t in_channel, int64_t out_channel) {
             return std::make_unique<fovea::viz::Figure>(
                 fovea::viz::plot_weight_visualization(model, layer, in_channel, out_channel));
           },
           py::arg("layer"), py::arg("in_channel"), py::arg("out_channel"), "viz::plot_weight_visualization.")
      .def("plot_weight_for_neuron",
           [](const Model& model, const std::string& session, int64_t neuron) {
             return std::make_unique<fovea::viz::Figure>(fovea::viz::plot_weight_for_neuron(model, session, neuron));
           },
           py::arg("session"), py::arg("neuron"), "viz::plot_weight_for_neuron.");

  bind_insilico(m);
  register_workflows(m);
}
