#include "cli/v1_data_options.h"

#include <filesystem>

#include "fovea/error.h"

namespace fovea::cli {

void V1DataOptions::add_to(CLI::App* command) {
  command->add_option("--data", dir, "dataset directory (images.npy or images.mat, responses.npz[, ground_truth.npz])");
  command->add_option("--images", images, "images file (.mat with key img, or .npy)");
  command->add_option("--responses", responses, "responses file (.npz with sp, istim_sp, ss_all, istim_ss, ...)");
  command->add_option("--truth", truth, "noise-free test responses (.npz with test_rates), adds corr_to_truth");
}

void V1DataOptions::resolve() {
  namespace fs = std::filesystem;
  if (!dir.empty()) {
    if (!fs::is_directory(dir)) fail(dir, "dataset directory does not exist");
    if (images.empty()) {
      for (const char* name : {"images.npy", "images.mat"})
        if (fs::exists(fs::path(dir) / name)) images = (fs::path(dir) / name).string();
      if (images.empty()) fail(dir, "no images.npy or images.mat in the dataset directory");
    }
    if (responses.empty()) responses = (fs::path(dir) / "responses.npz").string();
    if (truth.empty() && fs::exists(fs::path(dir) / "ground_truth.npz"))
      truth = (fs::path(dir) / "ground_truth.npz").string();
  }
  if (images.empty() || responses.empty()) fail("data", "give --data DIR or both --images and --responses");
}

data::V1LoadOptions V1DataOptions::load_options_for(const nn::Model& model) const {
  data::V1LoadOptions o;
  o.images_path = images;
  o.responses_path = responses;
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

}  // namespace fovea::cli
