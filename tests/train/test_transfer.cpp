// Fine-tuning a pretrained retina model (openretina's paths.load_model_path
// and only_train_readout): pretrain a tiny model on simulated dataset A,
// fine-tune it on dataset B (other cells, another session name).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "fovea/data/simulate_retina.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_file.h"
#include "fovea/train/retina_experiment.h"
#include "fovea/train/transfer.h"
#include "http_test_server.h"
#include "test_util.h"
#include "tiny_retina_config.h"

namespace {

namespace fs = std::filesystem;
using fovea::test::error_of;
using fovea::test::TempDir;
using Json = nlohmann::json;
namespace train = fovea::train;

// A small simulated dataset; `session` renames its one session (the
// simulator calls every first session session_0).
std::string simulate(const TempDir& tmp, const std::string& name, uint64_t seed, const std::string& session,
                     int64_t height = 18) {
  fovea::data::SimulateRetinaOptions o;
  o.n_sessions = 1;
  o.neurons_per_session = {8};
  o.train_frames = 1200;
  o.test_frames = 90;
  o.height = height;
  o.seed = seed;
  const std::string dir = tmp.file(name);
  fovea::data::simulate_retina(dir, o);
  if (session != "session_0") {
    fs::rename(fs::path(dir) / "session_0.h5", fs::path(dir) / (session + ".h5"));
    fs::rename(fs::path(dir) / "ground_truth" / "session_0.npy", fs::path(dir) / "ground_truth" / (session + ".npy"));
  }
  return dir;
}

// A tiny one-layer core (4 channels, with BatchNorm) and openretina's Gaussian mask readout.
Json config_for(const std::string& dir, int64_t epochs, double lr) {
  Json c = fovea::test::tiny_retina_config(dir, 4, 42);
  c["training"]["lr_schedule"] = "plateau";
  c["training"]["patience"] = 100;
  c["seed"] = 1;
  c["training"]["max_epochs"] = epochs;
  c["training"]["lr"] = lr;
  return c;
}

train::RetinaTrainingRun run(const Json& config) {
  auto options = train::retina_data_options(config.at("data"));
  auto dataset = train::load_retina_data(options);
  return train::train_retina(config, dataset, options, "", false);
}

// A model trained on `dir` and saved as <tmp>/pretrained.safetensors.
struct Pretrained {
  std::shared_ptr<fovea::nn::Model> model;
  std::string file;
};
Pretrained pretrain(const TempDir& tmp, const std::string& dir, int64_t epochs, double lr) {
  Pretrained p{run(config_for(dir, epochs, lr)).model, tmp.file("pretrained.safetensors")};
  fovea::nn::save_model(p.file, *p.model);
  return p;
}

// name -> tensor of the parameters and buffers under `prefix`.
std::map<std::string, at::Tensor> state_under(const fovea::nn::Model& m, const std::string& prefix) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, t] : m.state_dict())
    if (name.rfind(prefix, 0) == 0) out[name] = t.clone();
  return out;
}

bool all_equal(const std::map<std::string, at::Tensor>& a, const std::map<std::string, at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a)
    if (!b.count(name) || !torch::equal(t, b.at(name))) return false;
  return true;
}

// The mean over neurons of the Pearson correlation between the model and the
// responses on the validation clips (each clip run alone, its first `lag`
// frames dropped), computed here from the clips.
double validation_correlation(fovea::nn::Model& m, const fovea::data::SessionClips& s, const std::string& key,
                              int64_t clip_length) {
  torch::NoGradGuard no_grad;
  m.eval();
  std::vector<at::Tensor> preds, targets;
  for (int64_t start = 0; start < s.val_movie.size(1); start += clip_length) {
    const at::Tensor out = m.forward(s.val_movie.slice(1, start, start + clip_length).unsqueeze(0), key).squeeze(0);
    const int64_t lag = clip_length - out.size(0);
    preds.push_back(out.to(torch::kFloat64));
    targets.push_back(s.val_responses.slice(0, start + lag, start + clip_length).to(torch::kFloat64));
  }
  const at::Tensor p = torch::cat(preds) - torch::cat(preds).mean(0), y = torch::cat(targets) - torch::cat(targets).mean(0);
  return ((p * y).sum(0) / (p.pow(2).sum(0) * y.pow(2).sum(0)).sqrt()).mean().item<double>();
}

TEST(Transfer, OnlyTrainReadoutKeepsTheCoreBitIdenticalAndFitsTheNewReadout) {
  TempDir tmp;
  const std::string a = simulate(tmp, "A", 1, "session_0"), b = simulate(tmp, "B", 2, "retina_b");
  const auto [pretrained, file] = pretrain(tmp, a, 12, 0.03);
  const auto core = state_under(*pretrained, "core."), old_readout = state_under(*pretrained, "readout.session_0.");
  ASSERT_FALSE(core.empty());
  ASSERT_TRUE(std::any_of(core.begin(), core.end(), [](const auto& kv) { return kv.first.find("running_mean") != std::string::npos; }))
      << "the core should have BatchNorm statistics to check";

  Json config = config_for(b, 8, 0.03);
  config["paths"]["load_model_path"] = file;
  config["only_train_readout"] = true;
  auto tuned = run(config).model;

  // The pretrained sessions and the new one, as openretina's add_sessions leaves them.
  EXPECT_EQ(tuned->readout_keys(), (std::vector<std::string>{"retina_b", "session_0"}));
  EXPECT_TRUE(all_equal(state_under(*tuned, "core."), core)) << "a frozen core (BatchNorm statistics included) changed";
  EXPECT_TRUE(all_equal(state_under(*tuned, "readout.session_0."), old_readout));

  // The untrained fine-tuning model: the same core, a fresh readout whose
  // bias is the session's mean training response.
  auto options = train::retina_data_options(config.at("data"));
  const auto sessions = train::split_sessions(train::load_retina_data(options), options.split);
  const at::Tensor mean = sessions.at("retina_b").mean_response;
  auto untrained = train::transfer_model(*pretrained, "test", Json::object(), tuned->spec(), {{"retina_b", mean}});
  EXPECT_TRUE(all_equal(state_under(*untrained, "core."), core));
  const auto fresh = state_under(*untrained, "readout.retina_b.");
  EXPECT_TRUE(torch::allclose(fresh.at("readout.retina_b.bias"), mean.to(torch::kFloat32)));
  EXPECT_FALSE(all_equal(state_under(*tuned, "readout.retina_b."), fresh)) << "the new readout did not train";
  EXPECT_FALSE(torch::equal(state_under(*tuned, "readout.retina_b.").at("readout.retina_b.mask_mean"),
                            fresh.at("readout.retina_b.mask_mean")));

  const auto& clips = sessions.at("retina_b");
  const double before = validation_correlation(*untrained, clips, "retina_b", 60),
               after = validation_correlation(*tuned, clips, "retina_b", 60);
  EXPECT_GT(after, before + 0.05) << "before " << before << ", after " << after;
  EXPECT_EQ(tuned->spec()["provenance"]["only_train_readout"], true);
  EXPECT_EQ(tuned->spec()["provenance"]["pretrained"]["sessions"], Json({{"session_0", 8}}));
}

TEST(Transfer, WithoutOnlyTrainReadoutTheCoreTrainsAndTheModelComesFromAUrl) {
  TempDir tmp;
  const std::string a = simulate(tmp, "A", 1, "session_0"), b = simulate(tmp, "B", 2, "retina_b");
  const auto [pretrained, file] = pretrain(tmp, a, 1, 0.01);
  fovea::test::HttpTestServer server;
  server.serve_file("/models/pretrained.safetensors", fovea::io::read_file(file));
  fovea::test::ScopedEnv cache("FOVEA_CACHE_DIR", tmp.file("cache").c_str());

  Json config = config_for(b, 2, 0.01);
  config["paths"]["load_model_path"] = server.url("/models/pretrained.safetensors");
  auto tuned = run(config).model;
  EXPECT_EQ(server.requests("/models/pretrained.safetensors"), 1);
  EXPECT_FALSE(all_equal(state_under(*tuned, "core."), state_under(*pretrained, "core.")));
  EXPECT_TRUE(all_equal(state_under(*tuned, "readout.session_0."), state_under(*pretrained, "readout.session_0.")));
  EXPECT_EQ(tuned->spec()["provenance"]["only_train_readout"], false);
}

TEST(Transfer, ConflictsAndMisuseAreOneLineErrorsNamingTheField) {
  TempDir tmp;
  const std::string a = simulate(tmp, "A", 1, "session_0");
  const std::string narrow = simulate(tmp, "N", 3, "retina_n", 16);
  const auto [pretrained, file] = pretrain(tmp, a, 1, 0.01);

  Json same_session = config_for(a, 1, 0.01);
  same_session["paths"]["load_model_path"] = file;
  EXPECT_NE(error_of([&] { run(same_session); }).find("already has a readout for session 'session_0'"),
            std::string::npos);

  Json other_core = config_for(narrow, 1, 0.01);
  other_core["paths"]["load_model_path"] = file;
  other_core["model"]["core"]["spatial_kernel_sizes"] = {5};
  const std::string conflict = error_of([&] { run(other_core); });
  EXPECT_NE(conflict.find("model.core.spatial_kernel_sizes = [5], the pretrained model has [7]"), std::string::npos)
      << conflict;

  Json smaller_frames = config_for(narrow, 1, 0.01);
  smaller_frames["paths"]["load_model_path"] = file;
  EXPECT_NE(error_of([&] { run(smaller_frames); }).find("(channels, height, width) = [2,18,16], the new data has [2,16,16]"),
            std::string::npos);

  Json no_model = config_for(a, 1, 0.01);
  no_model["only_train_readout"] = true;
  EXPECT_NE(error_of([&] { run(no_model); }).find("only_train_readout"), std::string::npos);

  Json missing = config_for(narrow, 1, 0.01);
  missing["paths"]["load_model_path"] = tmp.file("nowhere.safetensors");
  EXPECT_NE(error_of([&] { run(missing); }).find("nowhere.safetensors"), std::string::npos);
}

}  // namespace
