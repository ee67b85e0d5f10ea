// The retina presets build the models openretina's configs describe: each
// one's core and readout, on its input size, predicts the frames after
// openretina's lag (the sum of (temporal kernel − 1) over layers without
// temporal padding: 30 for every preset here), and the training recipe
// keys hold openretina's values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fovea/io/hdf5.h"
#include "fovea/nn/model.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_experiment.h"
#include "test_util.h"

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

// The published-data presets read openretina's data with no other argument:
// data.dir names the published dataset and data.layout its reader.
TEST(RetinaPresets, PublishedDataPresetsNameTheirLayoutAndDataset) {
  for (const auto& [preset, dir] : std::vector<std::pair<std::string, std::string>>{
           {"retina_hoefling_2024_low_res.yaml", "hoefling_2024"},
           {"retina_hoefling_2024_high_res.yaml", "hoefling_2024_high_res"},
           {"retina_karamanlis_2024.yaml", "karamanlis_2024"}}) {
    const Json c = fovea::train::load_config(kConfigs + preset);
    const auto o = fovea::train::retina_data_options(c["data"]);
    EXPECT_EQ(o.dir, dir) << preset;
    EXPECT_EQ(o.layout, preset.find("karamanlis") != std::string::npos ? "karamanlis_2024" : "hoefling_2024") << preset;
    EXPECT_NO_THROW(fovea::train::validate_config(c, preset)) << preset;
  }
  // openretina's data_io/karamanlis_2024.yaml: mouse fixation movies, 60x80, fr_normalization 1.
  const auto k = fovea::train::retina_data_options(fovea::train::load_config(kConfigs + "retina_karamanlis_2024.yaml")["data"]);
  EXPECT_EQ(k.species, "mouse");
  EXPECT_EQ(k.stim_type, "fixationmovie");
  EXPECT_EQ(k.downsampled_size, (std::vector<int64_t>{60, 80}));
  EXPECT_DOUBLE_EQ(k.fr_normalization, 1.0);
  EXPECT_EQ(k.split.clip_length, 75);
  // The name alone implies the layout, with its own stim_type default; Maheswaranathan's default bin is 10 ms.
  const auto named = fovea::train::retina_data_options({{"dir", "karamanlis_2024"}});
  EXPECT_EQ(named.layout, "karamanlis_2024");
  EXPECT_EQ(named.stim_type, "fixationmovie");
  const auto m = fovea::train::retina_data_options({{"layout", "maheswaranathan_2023"}, {"dir", "x"}});
  EXPECT_EQ(m.stim_type, "naturalscene");
  EXPECT_EQ(m.response_type, "firing_rate_10ms");
  const std::string e = fovea::test::error_of([] {
    fovea::train::retina_data_options({{"layout", "karamanlis_2024"}, {"dir", "x"}, {"downsampled_size", {60}}});
  });
  EXPECT_NE(e.find("data.downsampled_size"), std::string::npos) << e;
  // The chirp and moving bar join the Höfling layout as extra test stimuli (data.chirp_path, data.moving_bar_path).
  Json low = fovea::train::load_config(kConfigs + "retina_hoefling_2024_low_res.yaml");
  low["data"]["chirp_path"] = "RGC_Chirp_30Hz_18_16.pickle";
  low["data"]["moving_bar_path"] = "RGC_MovingBar_30Hz_18_16.pickle";
  EXPECT_NO_THROW(fovea::train::validate_config(low, "low_res"));
  const auto h = fovea::train::retina_data_options(low["data"]);
  EXPECT_EQ(h.chirp_path, "RGC_Chirp_30Hz_18_16.pickle");
  EXPECT_EQ(h.moving_bar_path, "RGC_MovingBar_30Hz_18_16.pickle");
}

// The karamanlis_2024 layout through a run configuration: a local folder of
// sessions is read, split into 75-frame clips and z-scored by the reader.
TEST(RetinaPresets, KaramanlisLayoutReadsALocalSessionsFolder) {
  fovea::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "2021_mouse_s1");
  const int64_t blocks = 2, frames = 80, test_frames = 10, neurons = 3;
  // Fixations that keep the 20x30 images near the screen centre (1-based image numbers).
  auto fix = [](int64_t n) {
    return torch::stack({torch::ones({n}), torch::full({n}, 10.0), torch::full({n}, 15.0)}, 1).to(torch::kFloat64);
  };
  fovea::io::write_h5((dir.path() / "2021_mouse_s1" / "r_fixationmovie_data.mat").string(),
                      {{"runningImages", torch::rand({1, 30, 20}, torch::kFloat64)},
                       {"frozenImages", torch::rand({1, 30, 20}, torch::kFloat64)},
                       {"runningfixations", torch::stack({fix(frames), fix(frames)})},
                       {"frozenfixations", fix(test_frames)},
                       {"runningbin", torch::rand({blocks, frames, neurons}, torch::kFloat64)},
                       {"frozenbin", torch::rand({4, test_frames, neurons}, torch::kFloat64)}});
  Json data = fovea::train::load_config(kConfigs + "retina_karamanlis_2024.yaml")["data"];
  data["dir"] = dir.path().string();
  data["num_val_clips"] = 1;
  auto o = fovea::train::retina_data_options(data);
  const auto d = fovea::train::load_retina_data(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"2021_mouse_s1"}));
  const auto split = fovea::train::split_sessions(d, o.split);
  const auto& s = split.at("2021_mouse_s1");
  // 160 frames: 2 clips of 75 (one validates), the 10 tail frames unused.
  EXPECT_EQ(s.train_movie.sizes(), (at::IntArrayRef{1, 75, 60, 80}));
  EXPECT_EQ(s.test_movies.at("test").sizes(), (at::IntArrayRef{1, test_frames, 60, 80}));
  EXPECT_EQ(s.test_by_trial.at("test").size(0), 4);
  EXPECT_NEAR(d.movies.at("2021_mouse_s1").train.mean().item<double>(), 0.0, 1e-5);
}

}  // namespace
