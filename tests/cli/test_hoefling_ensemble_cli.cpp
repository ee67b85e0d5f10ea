// The Höfling 2024 ensemble through the command line, downloaded from a local
// HTTP server that serves the golden files under GIN's path
// (FOVEA_GIN_BASE_URL): `visualize --is-hoefling-ensemble-model`, the
// hoefling_2024_ensemble[:N] names in info/predict/import, and bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <opencv2/videoio.hpp>

#include "cli/cli_runner.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"
#include "fovea/nn/hoefling_ensemble.h"
#include "http_test_server.h"
#include "viz/headless_chromium.h"

namespace fs = std::filesystem;
using fovea::test::HttpTestServer;
using fovea::test::run_fovea;
using fovea::test::ScopedEnv;
using fovea::test::TempDir;

namespace {

const std::string kGinPath =
    std::string("/gin/eulerlab/rgc-natstim/raw/master/models/nonlinear/") + fovea::nn::kHoeflingEnsembleHash + "/";
const std::string kSession = "1_ventral1_20201021";

std::string golden_file(const std::string& name) {
  return fovea::test::golden("hoefling_ensemble/" + name);
}

// The 15 files by name, as GIN serves them.
std::map<std::string, std::string> ensemble_files() {
  std::map<std::string, std::string> files;
  for (const auto& id : fovea::nn::hoefling_ensemble_ids())
    for (const std::string& f : {"config_" + id + ".yaml", "data_info_" + id + ".pkl", "state_dict_" + id + ".pth.tar"})
      files[f] = fovea::io::read_file(golden_file("ensemble/" + f));
  return files;
}

void expect_one_line_error(const fovea::test::CliResult& r, const std::string& needle, int code = 1) {
  EXPECT_EQ(r.code, code) << r.err;
  if (code == 1) EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

int video_frames(const fs::path& path) {
  cv::VideoCapture video(path.string());
  return video.isOpened() ? static_cast<int>(video.get(cv::CAP_PROP_FRAME_COUNT)) : -1;
}

// Files in `dir` whose name ends with `suffix`.
size_t files_in(const fs::path& dir, const std::string& suffix = "") {
  std::error_code ec;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    n += e.is_regular_file() && name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return n;
}

class HoeflingEnsembleCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fovea::test::golden_available()) GTEST_SKIP() << "../shared/golden is not available";
    files_ = ensemble_files();
    for (const auto& [name, bytes] : files_) server_.serve_file(kGinPath + name, bytes);
  }
  fs::path cache() const { return fs::path(dir_.file("cache")) / fovea::nn::kHoeflingEnsembleHash; }

  TempDir dir_;
  HttpTestServer server_;
  ScopedEnv cache_env_{"FOVEA_CACHE_DIR", dir_.file("cache")};
  ScopedEnv base_env_{"FOVEA_GIN_BASE_URL", server_.url("/gin")};
  std::map<std::string, std::string> files_;
};

}  // namespace

TEST_F(HoeflingEnsembleCli, VisualizeMemberZeroWritesOpenretinasTree) {
  const fs::path out = dir_.file("vis_ensemble_0");
  auto r = run_fovea("visualize --is-hoefling-ensemble-model --model-id 0 --save-folder " + out.string() +
                         " --image-file-format png --threads 1",
                     dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  // The 15 files, complete, in the one cache folder openretina uses.
  EXPECT_EQ(files_in(cache()), 15u);
  for (const auto& [name, bytes] : files_) EXPECT_EQ(fovea::io::read_file((cache() / name).string()), bytes) << name;

  // openretina's tree: inner channels, output neurons of every session, and
  // the legacy weight layout (no weights_core/ folder).
  for (int c = 0; c < 16; ++c)
    for (const char* layer : {"core_features_layer0/", "core_features_layer1/"})
      for (const char* ext : {".png", ".mp4", ".npy"})
        EXPECT_TRUE(fs::exists(out / (layer + std::to_string(c) + ext))) << layer << c << ext;
  const std::map<std::string, int> neurons = {{"1_ventral1_20201021", 9}, {"2_ventral2_20201016", 7},
                                              {"3_ventral1_20201030", 5}};
  for (const auto& [session, n] : neurons)
    for (int k = 0; k < n; ++k) {
      EXPECT_TRUE(fs::exists(out / "output_neurons" / session / (std::to_string(k) + ".png"))) << session << k;
      EXPECT_TRUE(fs::exists(out / "output_neurons" / session / (std::to_string(k) + ".mp4"))) << session << k;
      EXPECT_TRUE(fs::exists(out / "weights_readout" / session / ("neuron_" + std::to_string(k) + ".png")));
    }
  // One figure per (in, out) pair, named <in>_<out>_.png as openretina names them.
  EXPECT_EQ(files_in(out / "weights_layer_0", "_.png"), 2u * 16u);
  EXPECT_EQ(files_in(out / "weights_layer_1", "_.png"), 16u * 16u);
  EXPECT_TRUE(fs::exists(out / "weights_layer_0/1_15_.png"));
  EXPECT_FALSE(fs::exists(out / "weights_core"));
  EXPECT_EQ(video_frames(out / "output_neurons" / kSession / "0.mp4"), 50);

  // Norm 30 (the clip can only lower it) and the Höfling clip ranges.
  for (const std::string& f : std::vector<std::string>{"output_neurons/" + kSession + "/0.npy",
                                                      "output_neurons/3_ventral1_20201030/4.npy",
                                                      "core_features_layer0/5.npy", "core_features_layer1/15.npy"}) {
    const at::Tensor mei = fovea::io::read_npy((out / f).string()).to(torch::kDouble);
    ASSERT_EQ(mei.sizes(), (std::vector<int64_t>{2, 50, 18, 16})) << f;
    EXPECT_LE(mei.norm().item<double>(), 30.0 + 1e-3) << f;
    EXPECT_GT(mei.norm().item<double>(), 25.0) << f;
    EXPECT_GE(mei[0].min().item<double>(), -0.654 - 1e-5) << f;
    EXPECT_GE(mei[1].min().item<double>(), -0.913 - 1e-5) << f;
    EXPECT_LE(mei.max().item<double>(), 6.269 + 1e-5) << f;
  }

  using namespace fovea::test::dom;
  const std::string dom = dump_dom(out / "index.html", dir_.file("chromium"));
  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(body_status(dom), "ok");
  int rows = 0;
  for (const auto& tag : find_tags(dom, "tr")) rows += !tag.get("data-neuron").empty();
  EXPECT_EQ(rows, 9 + 7 + 5);
}

TEST_F(HoeflingEnsembleCli, NamesWorkWhereAModelIsRead) {
  auto info = run_fovea("info hoefling_2024_ensemble:-1", dir_);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("parametric_factorized_batch_conv3d"), std::string::npos) << info.out;
  const int requests = server_.requests(kGinPath + "state_dict_04000.pth.tar");
  EXPECT_EQ(requests, 1);

  // Member 0 and the whole ensemble predict the golden outputs; the second
  // use of the name is served from the cache.
  const std::string input = golden_file("input.npy");
  auto one = run_fovea("predict --model hoefling_2024_ensemble:0 --session " + kSession + " --input " + input +
                           " -o " + dir_.file("member0.npy"),
                       dir_);
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_LT(fovea::test::relative_error(fovea::io::read_npy(dir_.file("member0.npy")),
                                        fovea::io::read_npy(golden_file("member_0_" + kSession + ".npy"))),
            1e-4);
  EXPECT_EQ(server_.requests(kGinPath + "state_dict_04000.pth.tar"), requests);

  auto imported = run_fovea("import hoefling_2024_ensemble -o " + dir_.file("ensemble.safetensors"), dir_);
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto all = run_fovea("predict --model " + dir_.file("ensemble.safetensors") + " --session " + kSession +
                           " --input " + input + " -o " + dir_.file("ensemble.npy"),
                       dir_);
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_LT(fovea::test::relative_error(fovea::io::read_npy(dir_.file("ensemble.npy")),
                                        fovea::io::read_npy(golden_file("ensemble_" + kSession + ".npy"))),
            1e-4);
}

TEST_F(HoeflingEnsembleCli, UsageErrors) {
  const std::string out = dir_.file("v");
  expect_one_line_error(run_fovea("visualize --save-folder " + out, dir_), "--model-path", 2);
  expect_one_line_error(
      run_fovea("visualize --model-path x.ckpt --is-hoefling-ensemble-model --save-folder " + out, dir_),
      "--is-hoefling-ensemble-model", 2);
  expect_one_line_error(run_fovea("visualize --is-hoefling-ensemble-model --model-id 7 --save-folder " + out, dir_),
                        "member 7");
  expect_one_line_error(run_fovea("info hoefling_2024_ensemble:x", dir_), "hoefling_2024_ensemble:x");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(cache()));
}

// Each broken file gets its own cache; the error names the file, nothing is
// left half-written, and the save folder is never created.
TEST_F(HoeflingEnsembleCli, BrokenFilesAreOneLineErrors) {
  struct Case {
    std::string file, bytes, needle;
  };
  const std::string state = files_.at("state_dict_03000.pth.tar");
  const std::string config = files_.at("config_01000.yaml");
  std::string no_model_fn = config.substr(0, config.find("model_fn:"));
  std::string unknown_fn = config;
  unknown_fn.replace(unknown_fn.find("SFB3d_core_SxF3d_readout"), 24, "SomethingElse");
  const std::vector<Case> cases = {
      {"state_dict_03000.pth.tar", state.substr(0, state.size() / 2), "state_dict_03000.pth.tar"},
      {"state_dict_00000.pth.tar", files_.at("state_dict_00000.pth.tar").substr(0, 3000), "state_dict_00000.pth.tar"},
      {"config_01000.yaml", no_model_fn, "model_fn"},
      {"config_01000.yaml", unknown_fn, "SomethingElse"},
      {"config_01000.yaml", std::string(config).replace(config.find("model_config:\n"), 14, "model_config:\n  not_a_parameter: 3\n"), "not_a_parameter"},
      // A pickle of a list (protocol 2: PROTO 2, EMPTY_LIST, STOP) where a dict of sessions belongs.
      {"data_info_02000.pkl", std::string("\x80\x02]."), "data_info_02000.pkl"},
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file + " / " + c.needle);
    server_.serve_file(kGinPath + c.file, c.bytes);
    ScopedEnv cache_env("FOVEA_CACHE_DIR", dir_.file("cache_" + std::to_string(i++)));
    const std::string out = dir_.file("vis_" + std::to_string(i));
    // Member -1 reads 04000, so point at the broken member explicitly.
    const int member = std::stoi(c.file.substr(c.file.rfind('_') + 1, 5)) / 1000;  // <stem>_<id>.<ext>
    expect_one_line_error(run_fovea("visualize --is-hoefling-ensemble-model --model-id " + std::to_string(member) +
                                        " --save-folder " + out,
                                    dir_),
                          c.needle);
    EXPECT_FALSE(fs::exists(out));
    server_.serve_file(kGinPath + c.file, files_.at(c.file));
  }

  // A file the server does not have: the download fails and leaves no file of that name.
  server_.serve(kGinPath + "data_info_04000.pkl", fovea::test::HttpResponse{404, "not found", {}, -1});
  ScopedEnv cache_env("FOVEA_CACHE_DIR", dir_.file("cache_404"));
  expect_one_line_error(run_fovea("info hoefling_2024_ensemble", dir_), "data_info_04000.pkl");
  const fs::path folder = fs::path(dir_.file("cache_404")) / fovea::nn::kHoeflingEnsembleHash;
  EXPECT_FALSE(fs::exists(folder / "data_info_04000.pkl"));
  EXPECT_EQ(files_in(folder), 13u);  // the 13 before it, complete, for the next try
}
