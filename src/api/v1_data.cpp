#include "fovea/api/v1_data.h"

#include <filesystem>

#include "fovea/data/minimodel_mice.h"
#include "fovea/data/monkey_v1_dataset.h"
#include "fovea/data/simulate_v1.h"
#include "fovea/error.h"

namespace fovea::api {

namespace fs = std::filesystem;

namespace {
bool has_generic_images(const std::string& dir) {
  return fs::exists(fs::path(dir) / "images.npy") || fs::exists(fs::path(dir) / "images.mat");
}
}  // namespace

V1DataFiles resolve_v1_data(V1DataFiles f) {
  if (!f.mouse.empty()) {
    // minimodel's file names for the mouse; explicit --images/--responses win.
    data::V1LoadOptions o;
    o.mouse = f.mouse;
    o.dir = f.dir;
    o.textures = f.textures;
    o.images_path = f.images;
    o.responses_path = f.responses;
    data::use_minimodel_mouse(o, /*crop_given=*/true, "--mouse");
    f.mouse = o.mouse;
    f.images = o.images_path;
    f.responses = o.responses_path;
    return f;
  }
  if (f.textures) fail("--textures", "texture responses are named by mouse: give --mouse too");
  if (!f.dir.empty()) {
    if (!fs::is_directory(f.dir)) fail(f.dir, "dataset directory does not exist");
    if (f.images.empty()) {
      for (const char* name : {"images.npy", "images.mat"})
        if (fs::exists(fs::path(f.dir) / name)) f.images = (fs::path(f.dir) / name).string();
      if (f.images.empty())
        fail(f.dir, "no images.npy or images.mat in the dataset directory (for minimodel's published files name the "
                    "mouse: " + data::known_minimodel_mice() + ")");
    }
    if (f.responses.empty()) f.responses = (fs::path(f.dir) / "responses.npz").string();
    if (f.truth.empty() && fs::exists(fs::path(f.dir) / "ground_truth.npz"))
      f.truth = (fs::path(f.dir) / "ground_truth.npz").string();
  }
  if (f.images.empty() || f.responses.empty()) fail("data", "give --data DIR or both --images and --responses");
  return f;
}

V1DataFiles resolve_v1_data(V1DataFiles f, const nn::Model& model) {
  const auto& spec = model.spec();
  if (spec.contains("data") && spec["data"].value("layout", std::string()) == data::kMonkeyCadena2019Layout) {
    data::V1LoadOptions o;  // minimodel's monkey .npz holds the images too
    o.dir = f.dir;
    o.responses_path = f.responses;
    f.responses = data::monkey_v1_file(o);
    return f;
  }
  if (f.mouse.empty() && !f.dir.empty() && f.images.empty() && fs::is_directory(f.dir) && !has_generic_images(f.dir) &&
      spec.contains("data") && spec["data"].contains("mouse") && spec["data"]["mouse"].is_string())
    f.mouse = spec["data"]["mouse"].get<std::string>();
  if (!f.mouse.empty() && !f.textures && spec.contains("data")) f.textures = spec["data"].value("textures", false);
  return resolve_v1_data(std::move(f));
}

data::V1LoadOptions v1_load_options_for(const nn::Model& model, const V1DataFiles& resolved) {
  data::V1LoadOptions o;
  o.images_path = resolved.images;
  o.responses_path = resolved.responses;
  o.mouse = resolved.mouse;
  o.textures = resolved.textures;
  const auto& spec = model.spec();
  const nlohmann::json d = spec.value("data", nlohmann::json::object());
  bool crop_given = false;
  if (d.contains("crop_x")) {
    o.crop_x0 = d["crop_x"][0].get<int>();
    o.crop_x1 = d["crop_x"][1].get<int>();
    crop_given = true;
  }
  if (d.contains("downsample")) {
    o.downsample = d["downsample"].get<double>();
  } else {
    // An imported model: its input size decides the down-sampling of 66x130 images.
    const auto shape = model.input_shape();
    if (shape.size() == 3 && shape[1] > 0) o.downsample = 66.0 / static_cast<double>(shape[1]);
    if (o.downsample < 1.0) o.downsample = 1.0;
  }
  o.normalize_images = d.value("normalize_images", o.normalize_images);
  o.fev_threshold = d.value("fev_threshold", o.fev_threshold);
  o.train_fraction = d.value("train_fraction", o.train_fraction);
  o.fixtrain = d.value("fixtrain", false);
  o.layout = d.value("layout", std::string());  // monkey_cadena_2019: responses is its .npz
  if (d.contains("neurons")) {
    o.neurons = d["neurons"].get<std::vector<int64_t>>();
  } else if (spec.value("minimodel", false) && spec.contains("provenance") && spec["provenance"].contains("neuron") &&
             spec["provenance"]["neuron"].is_number_integer()) {
    o.neurons = {spec["provenance"]["neuron"].get<int64_t>()};  // written by `fovea minimodels`
  }
  // The mouse's crop (FX20: [46, 176)) when the model does not record one, and L1_A1's trial filter.
  if (!o.mouse.empty()) data::use_minimodel_mouse(o, crop_given, "--mouse");
  return o;
}

at::Tensor read_v1_truth(const V1DataFiles& resolved, const data::V1Dataset& dataset) {
  if (resolved.truth.empty()) return {};
  if (!dataset.is_neuron_subset())
    return data::read_test_rates(resolved.truth, dataset.test_responses.size(0), dataset.n_neurons());
  // A model of some of the neurons: their columns of the truth.
  return data::read_test_rates(resolved.truth, dataset.test_responses.size(0), dataset.neurons_in_file)
      .index_select(1, dataset.neuron_index);
}

}  // namespace fovea::api
