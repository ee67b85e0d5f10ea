// `fovea train` on broken configs (the fuzz findings of issue 16): exit code
// 1, one line naming the config file, the key and the suggestion, and no
// output folder left behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"

using fovea::test::run_fovea;

namespace {

namespace fs = std::filesystem;

class ConfigErrorsCli : public ::testing::Test {
 protected:
  fovea::test::TempDir dir_;

  // v1_ridge.yaml with `from` replaced by `to`.
  std::string ridge_with(const std::string& name, const std::string& from, const std::string& to) {
    std::ifstream in(std::string(FOVEA_SOURCE_DIR) + "/configs/v1_ridge.yaml");
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    const std::string path = dir_.file(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // `fovea train` must fail with one "error: " line holding `config` and every phrase, and leave no `out`.
  void expect_rejected(const std::string& config, const std::vector<std::string>& phrases,
                       const std::string& extra = "") {
    const std::string out = dir_.file("run_" + fs::path(config).stem().string());
    auto r = run_fovea("train --config " + config + " data.images=" + dir_.file("no_images.npy") +
                           " data.responses=" + dir_.file("no_responses.npz") + " output.dir=" + out + extra +
                           " --quiet --threads 1",
                       dir_);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("error: " + config, 0), 0u) << r.err;
    for (const auto& p : phrases) EXPECT_NE(r.err.find(p), std::string::npos) << "no '" << p << "' in: " << r.err;
    for (const char* internal : {"json.exception", "bad_alloc"}) EXPECT_EQ(r.err.find(internal), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out)) << out << " was left behind";
  }
};

TEST_F(ConfigErrorsCli, FuzzFindingsAreOneLineErrorsAndLeaveNoOutputFolder) {
  expect_rejected(ridge_with("cord.yaml", "  core: {type", "  cord: {type"),
                  {"unknown key 'model.cord'", "did you mean 'core'?"});
  expect_rejected(ridge_with("no_core.yaml", "  core: {type: block_average, factor: 2}\n", ""),
                  {"section 'model.core' is missing"});
  expect_rejected(ridge_with("no_data.yaml", "data:\n", ""), {"invalid YAML at line", "indentation"});
  expect_rejected(ridge_with("readout_list.yaml", "readout: {type: ridge}", "readout: []"),
                  {"'model.readout' has the wrong type: []"});
  expect_rejected(ridge_with("utf8.yaml", "type: block_average", "type: block_\xff\xfe"),
                  {"'model.core.type' is not valid UTF-8"});
  expect_rejected(ridge_with("lr.yaml", "ridge_lambda", "ridge_lamda"),
                  {"unknown key 'training.ridge_lamda'", "did you mean 'ridge_lambda'?"});
  const std::string preset = std::string(FOVEA_SOURCE_DIR) + "/configs/v1_ridge.yaml";
  expect_rejected(preset, {"override 'training.lrr=0.1'", "did you mean 'lr'?"}, " training.lrr=0.1");
}

TEST_F(ConfigErrorsCli, AValidConfigWithMissingDataLeavesNoOutputFolder) {
  // The config is fine; the data is not there: the error names it and no folder is left.
  const std::string preset = std::string(FOVEA_SOURCE_DIR) + "/configs/v1_ridge.yaml";
  const std::string out = dir_.file("run_v1_ridge");
  auto r = run_fovea("train --config " + preset + " data.images=" + dir_.file("no_images.npy") +
                         " data.responses=" + dir_.file("no_responses.npz") + " output.dir=" + out + " --quiet",
                     dir_);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("no_images.npy"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // A retina run makes its folder before reading the data: it is removed again.
  const std::string retina_out = dir_.file("run_retina");
  r = run_fovea("train --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/retina_demo.yaml data.dir=" +
                    dir_.file("no_data") + " output.dir=" + retina_out + " --quiet",
                dir_);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("no_data"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(retina_out));
}

}  // namespace
