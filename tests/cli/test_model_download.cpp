// Models by name or URL: the pretrained-model table, load_any_model, and the
// `fovea` binary resolving a name through FOVEA_MODEL_BASE_URL to a local HTTP
// server (a thread of this test) while it runs as a child process. The cache
// is a scratch folder (FOVEA_CACHE_DIR); no test reaches beyond 127.0.0.1.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/pretrained_models.h"
#include "http_test_server.h"

namespace fs = std::filesystem;
using fovea::test::HttpTestServer;
using fovea::test::run_fovea;
using fovea::test::ScopedEnv;

namespace {

const char* kLowResPath = "/mirror/model_checkpoints/2026-03-09/hoefling_2024_cnn_low_res.ckpt";

// A small V1 model (two layers, 3 neurons, 20x30 images).
std::shared_ptr<fovea::nn::Model> tiny_model() {
  torch::manual_seed(0);
  return fovea::nn::build_model(
      {{"core", {{"type", "minimodel_core"}, {"n_layers", 2}, {"n_conv", 4}, {"n_conv_mid", 6}, {"kernel_size", {7, 3}}}},
       {"readout", {{"type", "rank1"}, {"n_neurons", 3}}},
       {"input_shape", {1, 20, 30}}});
}

std::vector<std::string> regular_files_under(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path().string());
  return files;
}

// The server publishes the tiny model where the name hoefling_2024_low_res
// points once FOVEA_MODEL_BASE_URL is <server>/mirror (a fovea model file
// under a .ckpt name: the loader goes by the file's content).
class ModelDownload : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = tiny_model();
    fovea::nn::save_model(dir_.file("tiny.safetensors"), *model_);
    model_bytes_ = fovea::io::read_file(dir_.file("tiny.safetensors"));
    server_.serve_file(kLowResPath, model_bytes_);
    server_.serve_file("/direct/tiny.safetensors", model_bytes_);
  }
  std::string cache() const { return dir_.file("cache"); }

  fovea::test::TempDir dir_;
  HttpTestServer server_;
  ScopedEnv cache_env_{"FOVEA_CACHE_DIR", dir_.file("cache")};
  ScopedEnv base_env_{"FOVEA_MODEL_BASE_URL", server_.url("/mirror")};
  std::shared_ptr<fovea::nn::Model> model_;
  std::string model_bytes_;
};

TEST_F(ModelDownload, InfoOnANamedModelDownloadsItOnceIntoTheCache) {
  auto r = run_fovea("info hoefling_2024_low_res", dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("session (single): 3 neurons"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: " + std::to_string(model_->n_parameters()) + " "), std::string::npos) << r.out;
  EXPECT_EQ(server_.requests(kLowResPath), 1);
  const auto files = regular_files_under(cache());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(fs::path(files[0]).filename(), "hoefling_2024_cnn_low_res.ckpt");
  EXPECT_EQ(fovea::io::read_file(files[0]), model_bytes_);

  server_.stop();  // the second run must not need the network
  auto again = run_fovea("info hoefling_2024_low_res", dir_);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, r.out);
  EXPECT_EQ(server_.requests(kLowResPath), 1);
}

TEST_F(ModelDownload, UnknownNameExits1WithOneLineListingTheNames) {
  auto r = run_fovea("info hoefling_2099", dir_);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: unknown model 'hoefling_2099' (known names: ", 0), 0u) << r.err;
  for (const char* name : {"hoefling_2024_low_res", "karamanlis_2024_marmoset", "goldin_2022_mouse", "sridhar_2025"})
    EXPECT_NE(r.err.find(name), std::string::npos) << name << " missing from: " << r.err;
  EXPECT_EQ(server_.total_requests(), 0);
}

TEST_F(ModelDownload, Download404Exits1WithOneLineAndAnEmptyCache) {
  // The server does not publish sridhar_2025.
  auto r = run_fovea("info sridhar_2025", dir_);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  const std::string url = server_.url("/mirror/model_checkpoints/2026-03-09/sridhar_2025.ckpt");
  EXPECT_EQ(r.err, "error: " + url + ": server returned 404\n");
  EXPECT_EQ(server_.requests("/mirror/model_checkpoints/2026-03-09/sridhar_2025.ckpt"), 1);
  EXPECT_TRUE(regular_files_under(cache()).empty());
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(ModelDownload, PredictTakesAModelUrlThroughModelPath) {
  const at::Tensor x = torch::rand({5, 1, 20, 30});
  fovea::io::write_npy(dir_.file("x.npy"), x);
  auto r = run_fovea("predict --model-path " + server_.url("/direct/tiny.safetensors") + " --input " +
                         dir_.file("x.npy") + " -o " + dir_.file("y.npy") + " --threads 1",
                     dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  model_->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor expected = model_->forward(x);
  const at::Tensor y = fovea::io::read_npy(dir_.file("y.npy"));
  ASSERT_EQ(y.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
}

// ---- the library side, in this process ----

TEST(PretrainedModels, NamesPointAtOpenretinasHuggingFaceFiles) {
  ScopedEnv no_base("FOVEA_MODEL_BASE_URL", nullptr);
  const std::string hf = "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/model_checkpoints/";
  EXPECT_EQ(fovea::nn::pretrained_model_url("hoefling_2024_low_res").value(),
            hf + "2026-03-09/hoefling_2024_cnn_low_res.ckpt");
  EXPECT_EQ(fovea::nn::pretrained_model_url("hoefling_2024_high_res").value(),
            hf + "2026-03-09/hoefling_2024_cnn_high_res.ckpt");
  for (const char* name : {"karamanlis_2024_mouse", "karamanlis_2024_marmoset", "maheswaranathan_2023",
                           "sridhar_2025", "goldin_2022_axolotl", "goldin_2022_mouse"})
    EXPECT_EQ(fovea::nn::pretrained_model_url(name).value(), hf + "2026-03-09/" + name + ".ckpt");
  EXPECT_EQ(fovea::nn::pretrained_model_url("hoefling_2024_base_low_res").value(),
            hf + "27-11-2025/hoefling_2024_base_low_res.ckpt");
  EXPECT_FALSE(fovea::nn::pretrained_model_url("hoefling_2024").has_value());
}

TEST(PretrainedModels, BaseUrlFromTheEnvironmentReplacesTheHost) {
  ScopedEnv base("FOVEA_MODEL_BASE_URL", "http://127.0.0.1:1/mirror/");
  EXPECT_EQ(fovea::nn::pretrained_model_url("goldin_2022_mouse").value(),
            "http://127.0.0.1:1/mirror/model_checkpoints/2026-03-09/goldin_2022_mouse.ckpt");
}

TEST(PretrainedModels, HuggingFacePageUrlsBecomeDownloadUrls) {
  EXPECT_EQ(fovea::nn::hugging_face_download_url(
                "https://huggingface.co/datasets/open-retina/open-retina/tree/main/model_checkpoints/a.ckpt"),
            "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/model_checkpoints/a.ckpt");
  EXPECT_EQ(fovea::nn::hugging_face_download_url("https://huggingface.co/org/repo/blob/main/m.safetensors"),
            "https://huggingface.co/org/repo/resolve/main/m.safetensors");
  EXPECT_EQ(fovea::nn::hugging_face_download_url("http://127.0.0.1:8/tree/main/x"), "http://127.0.0.1:8/tree/main/x");
}

TEST(LoadAnyModel, LocalFilesByNameOrContent) {
  fovea::test::TempDir dir;
  auto model = tiny_model();
  fovea::nn::save_model(dir.file("m.safetensors"), *model);
  EXPECT_EQ(fovea::nn::load_any_model(dir.file("m.safetensors"))->n_parameters(), model->n_parameters());
  // A fovea model file under another name is still recognised by its header.
  fs::copy_file(dir.file("m.safetensors"), dir.file("renamed.ckpt"));
  EXPECT_TRUE(fovea::nn::is_safetensors_file(dir.file("renamed.ckpt")));
  EXPECT_EQ(fovea::nn::load_any_model(dir.file("renamed.ckpt"))->n_parameters(), model->n_parameters());
  // A zip (what torch.save and Lightning write) is not.
  fovea::io::write_file_atomic(dir.file("archive.ckpt"), std::string("PK\x03\x04\x14\x00\x00\x00\x08\x00", 10));
  EXPECT_FALSE(fovea::nn::is_safetensors_file(dir.file("archive.ckpt")));

  const std::string missing = dir.file("missing.safetensors");
  try {
    fovea::nn::load_any_model(missing);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const fovea::Error& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": no such file");
  }
}

}  // namespace
