// `fovea mei` and `fovea visualize` on small models: the files they promise,
// readable and of the right shape; the page loads in headless Chromium;
// bad input is one clear line and exit code 1.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "cli/cli_runner.h"
#include "fovea/io/npy.h"
#include "fovea/nn/model_file.h"
#include "insilico/small_models.h"
#include "viz/headless_chromium.h"

namespace fs = std::filesystem;
using fovea::test::run_fovea;
using fovea::test::TempDir;

namespace {

std::string saved(const std::shared_ptr<fovea::nn::Model>& model, const TempDir& dir, const std::string& name) {
  const std::string path = dir.file(name);
  fovea::nn::save_model(path, *model);
  return path;
}

int video_frames(const fs::path& mp4) {
  cv::VideoCapture cap(mp4.string());
  if (!cap.isOpened()) return -1;
  int n = 0;
  cv::Mat frame;
  while (cap.read(frame)) ++n;
  return n;
}

void expect_one_line_error(const fovea::test::CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

}  // namespace

TEST(MeiCli, RetinaNeuronsGiveStimulusVideoFigureAndSummary) {
  TempDir dir;
  const std::string model = saved(fovea::testing::retina_model(), dir, "retina.safetensors");
  const fs::path out = dir.file("mei");
  auto r = run_fovea("mei --model " + model + " --session s1 --neuron 0,2 --steps 4 --lr 10 -o " + out.string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (int k : {0, 2}) {
    const std::string stem = "s1_neuron_" + std::to_string(k);
    const at::Tensor s = fovea::io::read_npy((out / (stem + ".npy")).string());
    EXPECT_EQ(s.sizes(), (std::vector<int64_t>{2, 40, 12, 10}));
    EXPECT_EQ(video_frames(out / (stem + ".mp4")), 40);
    const cv::Mat fig = cv::imread((out / (stem + ".png")).string());
    EXPECT_FALSE(fig.empty());
  }
  const auto summary = nlohmann::json::parse(fovea::test::slurp((out / "mei.json").string()));
  ASSERT_EQ(summary["meis"].size(), 2u);
  for (const auto& m : summary["meis"]) EXPECT_GT(m["final_objective"].get<double>(), m["start_objective"].get<double>());
}

TEST(MeiCli, V1ChannelsAreImagesWithoutVideo) {
  TempDir dir;
  const std::string model = saved(fovea::testing::v1_model(), dir, "v1.safetensors");
  const fs::path out = dir.file("mei");
  auto r = run_fovea("mei --model " + model + " --layer features.layer0 --channel 0-3 --steps 3 --lr 1 --format svg -o " +
                         out.string(),
                     dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const at::Tensor s = fovea::io::read_npy((out / "features.layer0_channel_3.npy").string());
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{1, 20, 24}));
  EXPECT_TRUE(fs::exists(out / "features.layer0_channel_0.svg"));
  EXPECT_FALSE(fs::exists(out / "features.layer0_channel_0.mp4"));
}

TEST(MeiCli, BadTargetsAreOneLineErrorsAndWriteNothing) {
  TempDir dir;
  const std::string model = saved(fovea::testing::retina_model(), dir, "retina.safetensors");
  const std::string out = dir.file("mei");
  expect_one_line_error(run_fovea("mei --model " + model + " --session s1 --neuron 5 -o " + out, dir), "neuron index 5");
  expect_one_line_error(run_fovea("mei --model " + model + " --session nope --neuron 0 -o " + out, dir), "nope");
  expect_one_line_error(run_fovea("mei --model " + model + " --layer features.layer9 --channel 0 -o " + out, dir),
                        "features.layer9");
  expect_one_line_error(run_fovea("mei --model " + model + " --layer features.layer1 --channel 4 -o " + out, dir),
                        "channel 4");
  expect_one_line_error(run_fovea("mei --model " + model + " --session s1 --neuron 1-x -o " + out, dir), "--neuron");
  expect_one_line_error(run_fovea("mei --model " + dir.file("missing.safetensors") + " --neuron 0 -o " + out, dir),
                        "missing.safetensors");
  EXPECT_FALSE(fs::exists(out));
}

TEST(VisualizeCli, WritesTheTreeAndAPageThatLoadsInChromium) {
  TempDir dir;
  const std::string model = saved(fovea::testing::retina_model(), dir, "retina.safetensors");
  const fs::path out = dir.file("vis");
  auto r = run_fovea("visualize --model-path " + model + " --save-folder " + out.string() +
                         " --steps 2 --time-steps-stimulus 30 --image-file-format png",
                     dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // openretina's folder and file names (the .npy files are fovea's).
  for (const char* f : {"index.html", "weights_core/weights_layer_0/1_3_.png", "weights_core/weights_layer_1/3_3_.png",
                        "weights_readout/s1/neuron_4.png", "weights_readout/s2/neuron_2.png",
                        "core_features_layer0/3.png", "core_features_layer1/3.mp4", "core_features_layer1/3.npy",
                        "output_neurons/s1/4.mp4", "output_neurons/s2/2.png", "output_neurons/s2/2.npy"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_EQ(video_frames(out / "output_neurons/s1/0.mp4"), 30);
  // A green/UV model gets openretina's constraints: each MEI rescaled to norm
  // 30, then clipped per channel (which only lowers the norm).
  for (const char* f : {"output_neurons/s1/4.npy", "output_neurons/s2/0.npy", "core_features_layer0/3.npy",
                        "core_features_layer1/1.npy"}) {
    const at::Tensor mei = fovea::io::read_npy((out / f).string()).to(torch::kDouble);
    ASSERT_EQ(mei.size(0), 2) << f;
    EXPECT_LE(mei.norm().item<double>(), 30.0 + 1e-3) << f;
    EXPECT_GT(mei.norm().item<double>(), 15.0) << f;
    EXPECT_GE(mei[0].min().item<double>(), -0.654 - 1e-5) << f;
    EXPECT_LE(mei[0].max().item<double>(), 6.269 + 1e-5) << f;
    EXPECT_GE(mei[1].min().item<double>(), -0.913 - 1e-5) << f;
    EXPECT_LE(mei[1].max().item<double>(), 6.269 + 1e-5) << f;
  }

  using namespace fovea::test::dom;
  const std::string dom = dump_dom(out / "index.html", dir.file("chromium"));
  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(body_status(dom), "ok");
  // Every neuron of both sessions (5 + 3) is a row.
  std::map<std::string, int> rows;
  for (const auto& tag : find_tags(dom, "tr"))
    if (!tag.get("data-neuron").empty()) ++rows[tag.get("data-session-index")];
  EXPECT_EQ(rows["0"], 5);
  EXPECT_EQ(rows["1"], 3);
  // A neuron's MEI video points at a file that exists.
  int videos = 0;
  for (const auto& tag : find_tags(dom, "source")) {
    const std::string src = percent_decode(tag.get("src"));
    if (src.find("output_neurons/") == std::string::npos) continue;
    EXPECT_TRUE(fs::exists(out / src)) << src;
    ++videos;
  }
  EXPECT_GE(videos, 8);
}

TEST(VisualizeCli, BadInputIsOneLineAndExitOne) {
  TempDir dir;
  expect_one_line_error(
      run_fovea("visualize --model-path " + dir.file("none.safetensors") + " --save-folder " + dir.file("v"), dir),
      "none.safetensors");
  EXPECT_FALSE(fs::exists(dir.file("v")));
  const std::string model = saved(fovea::testing::retina_model(), dir, "retina.safetensors");
  expect_one_line_error(run_fovea("visualize --model-path " + model + " --save-folder " + dir.file("v2") + " --data " +
                                      dir.file("no_data"),
                                  dir),
                        "no_data");
}

TEST(PlotEvalCli, ReadsEvalTablesAndRejectsOthers) {
  TempDir dir;
  {
    std::ofstream a(dir.file("a.csv"));
    a << "neuron,feve,corr_to_average,included\n0,0.5,0.7,1\n1,nan,0.2,0\n2,0.25,0.4,1\n";
    std::ofstream b(dir.file("b.csv"));
    b << "neuron,feve,corr_to_average,included\n0,0.4,0.6,1\n1,0.1,0.1,0\n2,0.3,0.5,1\n";
    std::ofstream junk(dir.file("junk.csv"));
    junk << "x,y\n1,2\n";
  }
  auto r = run_fovea("plot-eval --eval " + dir.file("a.csv") + " --eval " + dir.file("b.csv") +
                         " --name a --name b --metric feve --format svg -o " + dir.file("figs"),
                     dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.file("figs/a_vs_b_feve.svg")));
  EXPECT_TRUE(fs::exists(dir.file("figs/b_feve_histogram.svg")));
  expect_one_line_error(run_fovea("plot-eval --eval " + dir.file("junk.csv") + " -o " + dir.file("f2"), dir),
                        "junk.csv");
  expect_one_line_error(
      run_fovea("plot-eval --eval " + dir.file("a.csv") + " --metric oracle -o " + dir.file("f3"), dir), "oracle");
}
