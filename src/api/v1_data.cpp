#include "fovea/api/v1_data.h"

#include <filesystem>

#include "fovea/data/simulate_v1.h"
#include "fovea/error.h"

namespace fovea::api {

namespace fs = std::filesystem;

V1DataFiles resolve_v1_data(V1DataFiles f) {
  if (!f.dir.empty()) {
    if (!fs::is_directory(f.dir)) fail(f.dir, "dataset directory does not exist");
    if (f.images.empty()) {
      for (const char* name : {"images.npy", "images.mat"})
        if (fs::exists(fs::path(f.dir) / name)) f.images = (fs::path(f.dir) / name).string();
      if (f.images.empty()) fail(f.dir, "no images.npy or images.mat in the dataset directory");
    }
    if (f.responses.empty()) f.responses = (fs::path(f.dir) / "responses.npz").string();
    if (f.truth.empty() && fs::exists(fs::path(f.dir) / "ground_truth.npz"))
      f.truth = (fs::path(f.dir) / "ground_truth.npz").string();
  }
  if (f.images.empty() || f.responses.empty()) fail("data", "give --data DIR or both --images and --responses");
  return f;
}

data::V1LoadOptions v1_load_options_for(const nn::Model& model, const V1DataFiles& resolved) {
  data::V1LoadOptions o;
  o.images_path = resolved.images;
  o.responses_path = resolved.responses;
  if (model.spec().contains("data")) {
    const auto& d = model.spec()["data"];
    if (d.contains("crop_x")) {
      o.crop_x0 = d["crop_x"][0].get<int>();
      o.crop_x1 = d["crop_x"][1].get<int>();
    }
    o.downsample = d.value("downsample", o.downsample);
    o.normalize_images = d.value("normalize_images", o.normalize_images);
    o.fev_threshold = d.value("fev_threshold", o.fev_threshold);
    o.train_fraction = d.value("train_fraction", o.train_fraction);
  } else {
    // An imported model: its input size decides the down-sampling of 66x130 images.
    const auto shape = model.input_shape();
    if (shape.size() == 3 && shape[1] > 0) o.downsample = 66.0 / static_cast<double>(shape[1]);
    if (o.downsample < 1.0) o.downsample = 1.0;
  }
  return o;
}

at::Tensor read_v1_truth(const V1DataFiles& resolved, const data::V1Dataset& dataset) {
  if (resolved.truth.empty()) return {};
  return data::read_test_rates(resolved.truth, dataset.test_responses.size(0), dataset.n_neurons());
}

}  // namespace fovea::api
