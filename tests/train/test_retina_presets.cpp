// The retina presets build the models openretina's configs describe: each
// one's core and readout, on its input size, predicts the frames after
// openretina's lag (the sum of (temporal kernel − 1) over layers without
// temporal padding: 30 for every preset here), and the training recipe
// keys hold openretina's values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "fovea/nn/model.h"
#include "fovea/train/config.h"

namespace {

using Json = nlohmann::json;
const std::string kConfigs = std::string(FOVEA_SOURCE_DIR) + "/configs/";

// The model train_retina builds from a preset: core channels = (C, hidden...).
std::shared_ptr<fovea::nn::Model> preset_model(const Json& config, const std::vector<int64_t>& chw) {
  Json spec;
  spec["family"] = "retina";
  spec["core"] = config["model"]["core"];
  Json channels = Json::array({chw[0]});
  for (const auto& c : config["model"]["hidden_channels"]) channels.push_back(c);
  spec["core"]["channels"] = channels;
  spec["readout"] = config["model"]["readout"];
  spec["readout"]["n_neurons_dict"] = {{"session_a", 3}};
  spec["input_shape"] = {chw[0], 50, chw[1], chw[2]};
  return fovea::nn::build_model(spec);
}

int64_t predicted_frames(const std::string& preset, const std::vector<int64_t>& chw, int64_t frames) {
  torch::NoGradGuard no_grad;
  auto model = preset_model(fovea::train::load_config(kConfigs + preset), chw);
  model->eval();
  at::Tensor y = model->forward(torch::zeros({1, chw[0], frames, chw[1], chw[2]}), "session_a");
  EXPECT_EQ(y.size(0), 1);
  EXPECT_EQ(y.size(2), 3);
  return y.size(1);
}

TEST(RetinaPresets, HighResIsOpenretinasCausalModelWithoutACut) {
  // 2 x 72 x 64 input; temporal kernels [13, 11, 5, 5] with no temporal
  // padding: lag 12 + 10 + 4 + 4 = 30, so a 50-frame chunk predicts 20 frames.
  EXPECT_EQ(predicted_frames("retina_hoefling_2024_high_res.yaml", {2, 72, 64}, 50), 20);
  const Json c = fovea::train::load_config(kConfigs + "retina_hoefling_2024_high_res.yaml");
  EXPECT_EQ(c["training"]["accumulate_grad_batches"], 10);
  EXPECT_EQ(c["training"]["batch_size"], 64);
}

TEST(RetinaPresets, LowResKaramanlisAndMaheswaranathanPredictAfterALagOf30) {
  EXPECT_EQ(predicted_frames("retina_hoefling_2024_low_res.yaml", {2, 18, 16}, 50), 20);
  EXPECT_EQ(predicted_frames("retina_karamanlis_2024.yaml", {1, 60, 80}, 50), 20);
  EXPECT_EQ(predicted_frames("retina_maheswaranathan_2023.yaml", {1, 50, 50}, 50), 20);
}

TEST(RetinaPresets, DataAndLossAsOpenretinasDataloaderConfigs) {
  const Json k = fovea::train::load_config(kConfigs + "retina_karamanlis_2024.yaml");
  EXPECT_EQ(k["data"]["clip_length"], 75);
  EXPECT_EQ(k["data"]["num_val_clips"], 20);
  EXPECT_EQ(k["training"]["batch_size"], 64);
  const Json m = fovea::train::load_config(kConfigs + "retina_maheswaranathan_2023.yaml");
  EXPECT_EQ(m["data"]["clip_length"], 90);
  EXPECT_EQ(m["data"]["num_val_clips"], 20);
  EXPECT_EQ(m["training"]["batch_size"], 64);
  EXPECT_EQ(m["training"]["loss"], "l1_poisson");
  EXPECT_DOUBLE_EQ(m["training"]["gamma_l1"].get<double>(), 0.001);
}

}  // namespace
