#pragma once
// `fovea top-images --model M --data D --neuron N`: a V1 neuron's preferred
// training images and those of each readout channel it uses (the V1
// tutorial's "maximum stimuli"), as figures and top_images.json.
#include <memory>
#include <string>
#include <vector>

#include "fovea/api/progress.h"
#include "fovea/api/v1_data.h"
#include "fovea/insilico/top_images.h"
#include "fovea/nn/model.h"

namespace fovea::api {

struct TopImagesOptions {
  std::string model;                     // --model (names a loaded model in messages)
  V1DataFiles data;
  std::vector<int64_t> neurons;          // --neuron
  double threshold = insilico::TopImagesOptions{}.wc_threshold;  // channels with |Wc| above this
  int64_t n_top = insilico::TopImagesOptions{}.n_top;
  int64_t n_channel_top = insilico::TopImagesOptions{}.n_channel_top;
  std::string format = "png";
  std::string output = "top_images";
  std::string device = "cpu";
  ProgressCallback progress;             // per neuron
};

struct TopImagesChannel {
  int64_t channel = 0;
  double wc = 0;
  std::vector<int64_t> top_images;       // indices into the dataset's images
};
struct TopImagesEntry {
  int64_t neuron = 0;
  std::string figure;                    // full path
  std::vector<int64_t> top_images;       // indices into the dataset's images, best first
  std::vector<TopImagesChannel> channels;
};
struct TopImagesResult {
  std::vector<TopImagesEntry> neurons;
  std::string summary_json;              // <output>/top_images.json
};

TopImagesResult top_images(const TopImagesOptions& options);
TopImagesResult top_images(nn::Model& model, const TopImagesOptions& options);

}  // namespace fovea::api
