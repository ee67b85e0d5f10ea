// The C++ listings in examples/ run as the reference's listings do: the quick
// start loads the golden openretina checkpoint and predicts; the custom-model
// listing composes user modules with built-in ones and saves a model that
// `fovea` reads with those modules loaded as a plugin (`--plugin`); the
// weight-visualisation and optimised-stimulus listings write their figures
// and video from the golden checkpoint.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <regex>

#include "cli/cli_runner.h"
#include "fovea/io/npy.h"
#include "fovea/nn/plugins.h"

namespace {

fovea::test::CliResult run_example(const std::string& name, const std::string& args,
                                   const fovea::test::TempDir& dir) {
  const auto exe = std::filesystem::path(FOVEA_BINARY).parent_path() / "examples" / name;
  const std::string out = dir.file("ex_stdout.txt"), err = dir.file("ex_stderr.txt");
  const std::string cmd = exe.string() + " " + args + " >" + out + " 2>" + err;
  fovea::test::CliResult r;
  const int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = fovea::test::slurp(out);
  r.err = fovea::test::slurp(err);
  return r;
}

}  // namespace

TEST(Examples, QuickstartRunsTheGoldenCheckpoint) {
  SKIP_WITHOUT_GOLDEN();
  fovea::test::TempDir dir;
  auto r = run_example("retina_quickstart", fovea::test::golden("openretina_core_readout/checkpoint.ckpt"), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // 50 frames in; the default architecture's temporal kernels (21 + 11) leave 20; 7 + 5 neurons.
  EXPECT_NE(r.out.find("responses [1, 20, 12]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("session session_a: 7 neurons"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("session session_b: 5 neurons"), std::string::npos) << r.out;
  auto bad = run_example("retina_quickstart", dir.file("missing.ckpt"), dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(fovea::test::line_count(bad.err), 1) << bad.err;
}

TEST(Examples, CustomModelListingComposesAndSaves) {
  fovea::test::TempDir dir;
  auto r = run_example("custom_model", dir.file("custom.safetensors"), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("my_custom_core + my_custom_readout: responses [1, 50, 150]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("my_custom_core + gaussian_mask: responses [1, 50, 150]"), std::string::npos) << r.out;
  // The saved file names a core type that only the example registers: fovea
  // itself must refuse it with a clear message, not crash.
  auto info = fovea::test::run_fovea("info " + dir.file("custom.safetensors"), dir);
  EXPECT_EQ(info.code, 1);
  EXPECT_NE(info.err.find("unknown core type 'my_custom_core'"), std::string::npos) << info.err;
}

// ---- Plugins: the custom modules as libcustom_modules.so (`fovea --plugin`, FOVEA_PLUGINS) ----
namespace {

// FOVEA_PLUGINS for the commands one test runs; restored at the end of the test.
class ScopedPluginsVariable {
 public:
  explicit ScopedPluginsVariable(const std::string& value) {
    if (const char* old = std::getenv("FOVEA_PLUGINS")) old_ = old, had_ = true;
    setenv("FOVEA_PLUGINS", value.c_str(), 1);
  }
  ~ScopedPluginsVariable() {
    if (had_)
      setenv("FOVEA_PLUGINS", old_.c_str(), 1);
    else
      unsetenv("FOVEA_PLUGINS");
  }

 private:
  std::string old_;
  bool had_ = false;
};

// The custom_model listing's saved model: my_custom_core + gaussian_mask,
// input (2, 50, 16, 18), 150 neurons in session_1.
std::string save_custom_model(const fovea::test::TempDir& dir) {
  auto r = run_example("custom_model", dir.file("custom.safetensors"), dir);
  EXPECT_EQ(r.code, 0) << r.err;
  return dir.file("custom.safetensors");
}

// `info` and `predict` on the custom model, with `prefix` before the command
// ("--plugin PATH" or nothing when FOVEA_PLUGINS names the plugin).
void expect_info_and_predict_work(const std::string& prefix, const std::string& model,
                                  const fovea::test::TempDir& dir) {
  auto info = fovea::test::run_fovea(prefix + "info " + model, dir);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("my_custom_core"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("session session_1: 150 neurons"), std::string::npos) << info.out;
  // Two movies of 10 frames; the custom core pads ("same"), so every frame has a prediction.
  fovea::io::write_npy(dir.file("movies.npy"), at::rand({2, 2, 10, 16, 18}));
  auto predict = fovea::test::run_fovea(prefix + "predict --model " + model + " --input " + dir.file("movies.npy") +
                                            " -o " + dir.file("responses.npy"),
                                        dir);
  ASSERT_EQ(predict.code, 0) << predict.err;
  const at::Tensor y = fovea::io::read_npy(dir.file("responses.npy"));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 10, 150}));
  EXPECT_TRUE(at::isfinite(y).all().item<bool>());
}

// Files under `dir` (recursively) whose extension is `ext`.
int count_files(const std::filesystem::path& dir, const std::string& ext) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    n += e.is_regular_file() && e.path().extension() == ext;
  return n;
}

}  // namespace

TEST(ExamplesPlugin, CommandsReadTheCustomModelWithPluginOption) {
  fovea::test::TempDir dir;
  const std::string model = save_custom_model(dir);
  const std::string plugin = "--plugin " + std::string(FOVEA_EXAMPLE_PLUGIN) + " ";
  // Without the plugin fovea refuses the model (Examples.CustomModelListingComposesAndSaves).
  expect_info_and_predict_work(plugin, model, dir);
  // Given twice (the second load is a no-op), as the repeatable option allows.
  auto twice = fovea::test::run_fovea(plugin + plugin + "info " + model, dir);
  EXPECT_EQ(twice.code, 0) << twice.err;
  // MEIs of the output neurons (no inner layers: a custom core has none that fovea knows).
  const std::string out = dir.file("viz");
  auto viz = fovea::test::run_fovea(plugin + "visualize --model-path " + model + " --save-folder " + out +
                                        " --steps 2 --no-weights --time-steps-stimulus 30 --threads 1",
                                    dir);
  ASSERT_EQ(viz.code, 0) << viz.err;
  EXPECT_TRUE(std::filesystem::exists(out + "/index.html"));
  EXPECT_GE(count_files(out, ".mp4"), 1);
  // One neuron's MEI.
  auto mei = fovea::test::run_fovea(plugin + "mei --model " + model + " --session session_1 --neuron 3 -o " +
                                        dir.file("mei") + " --steps 2 --time-steps 30 --threads 1",
                                    dir);
  ASSERT_EQ(mei.code, 0) << mei.err;
  EXPECT_GE(count_files(dir.file("mei"), ".npy"), 1);
}

TEST(ExamplesPlugin, CommandsReadTheCustomModelWithPluginsVariable) {
  fovea::test::TempDir dir;
  const std::string model = save_custom_model(dir);
  {
    // Empty entries are skipped.
    ScopedPluginsVariable env(std::string(":") + FOVEA_EXAMPLE_PLUGIN + ":");
    expect_info_and_predict_work("", model, dir);
  }
  auto without = fovea::test::run_fovea("info " + model, dir);
  EXPECT_EQ(without.code, 1);
  EXPECT_NE(without.err.find("unknown core type 'my_custom_core'"), std::string::npos) << without.err;
}

TEST(ExamplesPlugin, PluginThatCannotBeLoadedIsOneLineError) {
  fovea::test::TempDir dir;
  const std::string model = save_custom_model(dir);
  // A missing file.
  const std::string missing = dir.file("libmissing.so");
  auto r = fovea::test::run_fovea("--plugin " + missing + " info " + model, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("plugin " + missing + ": "), std::string::npos) << r.err;
  // A file that is not a shared library.
  {
    std::ofstream(dir.file("notalib.so")) << "not a shared library\n";
  }
  r = fovea::test::run_fovea("--plugin " + dir.file("notalib.so") + " info " + model, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("plugin " + dir.file("notalib.so") + ": "), std::string::npos) << r.err;
  // The same through FOVEA_PLUGINS, which the message names.
  {
    ScopedPluginsVariable env(missing);
    r = fovea::test::run_fovea("info " + model, dir);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("plugin " + missing + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("FOVEA_PLUGINS"), std::string::npos) << r.err;
    // --help loads nothing, so it works whatever the variable says.
    EXPECT_EQ(fovea::test::run_fovea("--help", dir).code, 0);
  }
}

TEST(ExamplesPlugin, PluginNeedsAProgramThatExportsFovea) {
  // This test program links fovea's static libraries without exporting their
  // symbols: the plugin's fovea symbols stay undefined, and load_plugin says so
  // (dlopen with RTLD_NOW) instead of failing later.
  const std::string message = fovea::test::error_of([] { fovea::nn::load_plugin(FOVEA_EXAMPLE_PLUGIN); });
  EXPECT_NE(message.find(std::string("plugin ") + FOVEA_EXAMPLE_PLUGIN + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("undefined symbol"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

namespace {

// A PNG that OpenCV reads, with `width` × `height` pixels when given, and not blank.
void expect_image(const std::filesystem::path& path, int width = 0, int height = 0) {
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty()) << path;
  if (width > 0) {
    EXPECT_EQ(img.cols, width) << path;
  }
  if (height > 0) {
    EXPECT_EQ(img.rows, height) << path;
  }
  const cv::Scalar mean = cv::mean(img);
  EXPECT_LT(mean[0] + mean[1] + mean[2], 3 * 254.0) << path;  // something is drawn
}

}  // namespace

TEST(Examples, WeightVisualizationListingDrawsTheConvAndReadoutFigures) {
  SKIP_WITHOUT_GOLDEN();
  fovea::test::TempDir dir;
  const std::string out = dir.file("figures");
  auto r = run_example("weight_visualization",
                       fovea::test::golden("openretina_core_readout/checkpoint.ckpt") + " " + out, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("session session_a, neuron 5"), std::string::npos) << r.out;  // the first session, sorted
  // figsize (18, 6) and (12, 6) at 70 pixels per inch.
  expect_image(std::filesystem::path(out) / "conv_layer_figure.png", 1260, 420);
  expect_image(std::filesystem::path(out) / "readout_figure.png", 840, 420);

  // A missing model: one line on stderr, exit 1, nothing written.
  const std::string bad_out = dir.file("bad");
  auto bad = run_example("weight_visualization", dir.file("missing.ckpt") + " " + bad_out, dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(fovea::test::line_count(bad.err), 1) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(bad_out));
}

TEST(Examples, OptimiseStimulusListingIncreasesTheObjectiveAndWritesVideoAndFigure) {
  SKIP_WITHOUT_GOLDEN();
  fovea::test::TempDir dir;
  const std::string ckpt = fovea::test::golden("openretina_core_readout/checkpoint.ckpt");
  const std::string out = dir.file("mei");
  // session_b has 5 neurons: neuron 3 exists (the listing's neuron 10 does not).
  auto r = run_example("optimise_stimulus", ckpt + " " + out + " session_b 3", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("session session_b, neuron 3"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(objective (\S+) -> (\S+) after 10 steps)"))) << r.out;
  const double before = std::stod(m[1].str()), after = std::stod(m[2].str());
  EXPECT_GT(after, before) << r.out;

  // The video: 40 frames of the stimulus.
  const auto video = std::filesystem::path(out) / "mei.mp4";
  ASSERT_TRUE(std::filesystem::exists(video));
  cv::VideoCapture capture(video.string(), cv::CAP_FFMPEG);
  ASSERT_TRUE(capture.isOpened());
  int frames = 0;
  cv::Mat frame;
  while (capture.read(frame)) ++frames;
  EXPECT_EQ(frames, 40);
  // The composition figure: figsize (21, 12) at 50 pixels per inch.
  expect_image(std::filesystem::path(out) / "mei_composition.png", 1050, 600);

  // A neuron the session does not have: one line on stderr, exit 1.
  auto bad = run_example("optimise_stimulus", ckpt + " " + dir.file("bad") + " session_b 5", dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(fovea::test::line_count(bad.err), 1) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir.file("bad")) / "mei.mp4"));
}
