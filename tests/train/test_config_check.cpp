// Config checking (config_check.h): the fuzz findings of issue 16 through the
// library, every preset valid, plugin types accepted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fovea/error.h"
#include "fovea/nn/registry.h"
#include "fovea/train/config.h"
#include "fovea/train/config_check.h"
#include "test_util.h"

namespace {

using fovea::test::error_of;
using fovea::train::ConfigCheck;
using fovea::train::Json;

const std::string kConfigs = std::string(FOVEA_SOURCE_DIR) + "/configs/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// v1_ridge.yaml with `from` replaced by `to`, written to `dir`; returns its path.
std::string ridge_with(const fovea::test::TempDir& dir, const std::string& from, const std::string& to) {
  std::string text = slurp(kConfigs + "v1_ridge.yaml");
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  const std::string path = dir.file("mutant.yaml");
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

const std::vector<std::string> kData = {"data.images=x.npy", "data.responses=y.npz"};

// The message of checking `path` (+ data paths) as `fovea train` does; "" when valid.
std::string train_check(const std::string& path, std::vector<std::string> overrides = kData) {
  try {
    const Json config = fovea::train::load_config(path, overrides);
    fovea::train::validate_config(config, path, overrides, ConfigCheck::run);
  } catch (const fovea::Error& e) {
    return e.what();
  }
  return "";
}

void expect_names(const std::string& message, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
  EXPECT_EQ(message.find("json.exception"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(ConfigCheck, EveryPresetIsValid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kConfigs)) {
    if (entry.path().extension() != ".yaml") continue;
    ++n;
    const std::string path = entry.path().string();
    EXPECT_NO_THROW(fovea::train::load_config(path)) << path;
    const bool retina = fovea::train::load_config(path).value("family", "") == "retina";
    if (entry.path().filename() == "v1_minimodel.yaml") continue;  // a recipe for `fovea minimodels`: no data
    EXPECT_EQ(train_check(path, retina ? std::vector<std::string>{"data.dir=d"} : kData), "") << path;
  }
  EXPECT_GE(n, 12);
}

TEST(ConfigCheck, MisspeltOrMissingCoreIsNamed) {
  fovea::test::TempDir dir;
  auto path = ridge_with(dir, "  core: {type", "  cord: {type");
  expect_names(train_check(path), {path + ": ", "unknown key 'model.cord'", "did you mean 'core'?"});
  path = ridge_with(dir, "  core: {type: block_average, factor: 2}\n", "");
  expect_names(train_check(path), {path + ": ", "section 'model.core' is missing", "block_average"});
  // A missing core is fine in a partial config (keys only) that is merged into another.
  EXPECT_NO_THROW(fovea::train::load_config(path));
}

TEST(ConfigCheck, LostDataHeaderStopsInsteadOfDroppingTheRest) {
  fovea::test::TempDir dir;
  auto path = ridge_with(dir, "data:\n", "");
  expect_names(train_check(path), {path + ": ", "invalid YAML at line", "indentation"});
  // The same keys at the top level of a one-document file.
  path = ridge_with(dir, "data:\n  images: null\n  responses: null\n", "images: null\n");
  expect_names(train_check(path), {path + ": ", "unknown key 'images'", "did you mean 'data.images'?"});
  // A lost `output:` line puts dir into training: the same key elsewhere beats a far slip ('lr').
  path = ridge_with(dir, "output:\n", "");
  expect_names(train_check(path), {"unknown key 'training.dir' (did you mean 'output.dir'?)"});
  path = ridge_with(dir, "data:\n  images: null\n  responses: null\n", "");
  expect_names(train_check(path, {}), {path + ": ", "section 'data' is missing"});
}

TEST(ConfigCheck, WrongTypesNameTheFieldTheValueAndTheExpectation) {
  fovea::test::TempDir dir;
  auto path = ridge_with(dir, "readout: {type: ridge}", "readout: []");
  expect_names(train_check(path), {"'model.readout' has the wrong type: []", "expected a readout"});
  path = ridge_with(dir, "ridge_lambda: 50000", "ridge_lambda: lots");
  expect_names(train_check(path), {"'training.ridge_lambda'", "\"lots\"", "expected a number"});
  path = ridge_with(dir, "factor: 2", "factor: -2");
  expect_names(train_check(path), {"'model.core.factor'", "-2", "integer >= 1"});
  expect_names(error_of([] { fovea::train::validate_config(Json{{"model", 3}}, "c.yaml"); }),
               {"c.yaml: 'model' has the wrong type: 3 (expected a mapping with the keys core, readout)"});
}

TEST(ConfigCheck, InvalidUtf8IsAFoveaError) {
  fovea::test::TempDir dir;
  auto path = ridge_with(dir, "dir: runs/v1_ridge", "dir: runs/v1\xff\xfe");
  expect_names(train_check(path), {path + ": ", "'output.dir' is not valid UTF-8", "0xFF"});
  path = ridge_with(dir, "ridge_lambda", "ridge_\xc3\x28");
  expect_names(train_check(path), {path + ": ", "not valid UTF-8"});
}

TEST(ConfigCheck, UnknownTypesSuggestTheClosestRegisteredOne) {
  fovea::test::TempDir dir;
  auto path = ridge_with(dir, "type: block_average", "type: blok_average");
  expect_names(train_check(path), {"unknown core type 'blok_average'", "did you mean 'block_average'?"});
  path = ridge_with(dir, "type: ridge", "type: gaussian_mask");
  expect_names(train_check(path), {"'model.readout.type' is 'gaussian_mask', a retina readout", "rank1, ridge"});
  path = ridge_with(dir, "factor: 2", "factr: 2");
  expect_names(train_check(path), {"unknown key 'model.core.factr' for core type 'block_average'", "'factor'"});
  expect_names(error_of([] { fovea::train::validate_config(Json{{"family", "retnia"}}, "c.yaml"); }),
               {"c.yaml: unknown family \"retnia\"", "did you mean 'retina'?"});
}

TEST(ConfigCheck, PluginTypesAreAcceptedWithTheirOwnKeys) {
  fovea::nn::register_core("config_test_plugin_core", [](const Json&, const std::vector<int64_t>&) {
    return std::shared_ptr<fovea::nn::Core>();
  });
  Json config = {{"data", {{"images", "x.npy"}, {"responses", "y.npz"}}},
                 {"model", {{"core", {{"type", "config_test_plugin_core"}, {"anything", {1, 2}}}},
                            {"readout", {{"type", "rank1"}}}}}};
  EXPECT_NO_THROW(fovea::train::validate_config(config, "c.yaml"));
  config["model"]["core"]["type"] = "config_test_plugin_cor";
  expect_names(error_of([&] { fovea::train::validate_config(config, "c.yaml"); }),
               {"did you mean 'config_test_plugin_core'?"});
}

TEST(ConfigCheck, OverridesAreNamedWhenTheySetTheBadField) {
  const std::string path = kConfigs + "v1_ridge.yaml";
  auto overrides = kData;
  overrides.push_back("training.lrr=0.1");
  expect_names(train_check(path, overrides),
               {path + ", override 'training.lrr=0.1': unknown key 'training.lrr'", "did you mean 'lr'?"});
  overrides.back() = "training.batch_size=many";
  expect_names(train_check(path, overrides), {"override 'training.batch_size=many'", "\"many\"", "integer >= 1"});
  const std::string retina = kConfigs + "retina_demo.yaml";
  expect_names(train_check(retina, {"data.dir=d", "training.lr_schedule=platou"}),
               {"one of: plateau, periods", "did you mean 'plateau'?"});
  expect_names(train_check(retina, {}), {retina + ": 'data.dir' is not set"});
  expect_names(train_check(retina, {"data.dir=d", "model.hidden_channels=[1"}),
               {retina + ", override 'model.hidden_channels=[1': invalid YAML"});
}

}  // namespace
