#include "fovea/api/top_images.h"

#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fovea/api/runtime.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/viz/top_images_figure.h"

namespace fs = std::filesystem;

namespace fovea::api {

namespace {
void check_options(const TopImagesOptions& o) {
  if (o.neurons.empty()) fail_option("--neuron", "no neurons given");
  if (o.n_top < 1) fail_option("--n-top", "must be at least 1, got " + std::to_string(o.n_top));
  if (o.n_channel_top < 1) fail_option("--n-channel-top", "must be at least 1, got " + std::to_string(o.n_channel_top));
  if (o.format != "png" && o.format != "svg" && o.format != "pdf" && o.format != "jpg")
    fail_option("--format", "must be png, svg, pdf or jpg, got '" + o.format + "'");
  check_device(o.device);
}
}  // namespace

TopImagesResult top_images(const TopImagesOptions& options) {
  check_options(options);
  auto model = nn::load_any_model(options.model);
  return top_images(*model, options);
}

TopImagesResult top_images(nn::Model& model, const TopImagesOptions& o) {
  check_options(o);
  if (model.spec().value("family", "") == "retina")
    fail(o.model, "top images need a V1 model with a rank-1 readout; this is a retina model");
  const auto files = resolve_v1_data(o.data);
  const auto dataset = data::load_v1_dataset(v1_load_options_for(model, files));
  // The training images, as the tutorial ranks them; indices below are into the dataset's images.
  const at::Tensor train_index = std::get<0>(at::_unique(dataset.train_image_index.reshape({-1})));
  const at::Tensor images = dataset.images.index_select(0, train_index);
  insilico::TopImagesOptions options;
  options.wc_threshold = o.threshold;
  options.n_top = o.n_top;
  options.n_channel_top = o.n_channel_top;
  options.device = torch::Device(o.device);
  model.to(options.device);
  for (int64_t k : o.neurons)
    check(k >= 0 && k < dataset.n_neurons(), "--neuron",
          "neuron " + std::to_string(k) + " is out of range: the model has " + std::to_string(dataset.n_neurons()) +
              " neurons");
  auto original = [&](int64_t i) { return train_index[i].item<int64_t>(); };
  TopImagesResult r;
  nlohmann::json summary = nlohmann::json::array();
  for (int64_t k : o.neurons) {
    const auto top = insilico::top_images(model, images, k, options);
    const std::string file = "neuron_" + std::to_string(k) + "_top_images." + o.format;
    TopImagesEntry entry;
    entry.neuron = k;
    entry.figure = (fs::path(o.output) / file).string();
    viz::top_images_figure(top, images, "neuron " + std::to_string(k) + ": preferred images").save(entry.figure);
    nlohmann::json json = {{"neuron", k}, {"figure", file}, {"top_images", nlohmann::json::array()},
                           {"channels", nlohmann::json::array()}};
    for (int64_t i : top.top_images) entry.top_images.push_back(original(i));
    json["top_images"] = entry.top_images;
    for (size_t c = 0; c < top.channels.size(); ++c) {
      TopImagesChannel channel{top.channels[c], top.channel_wc[c], {}};
      for (int64_t i : top.channel_top_images[c]) channel.top_images.push_back(original(i));
      json["channels"].push_back({{"channel", channel.channel}, {"wc", channel.wc}, {"top_images", channel.top_images}});
      entry.channels.push_back(std::move(channel));
    }
    summary.push_back(json);
    r.neurons.push_back(std::move(entry));
    if (o.progress)
      o.progress({"top_images", static_cast<int64_t>(r.neurons.size()), static_cast<int64_t>(o.neurons.size()),
                  {{"channels", static_cast<double>(top.channels.size())}}});
  }
  r.summary_json = (fs::path(o.output) / "top_images.json").string();
  io::write_file_atomic(r.summary_json, summary.dump(2) + "\n");
  return r;
}

}  // namespace fovea::api
