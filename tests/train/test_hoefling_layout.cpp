// The hoefling_2024 layout through a retina run configuration: the files
// found in data.dir, the fixed 150-frame clips and openretina's validation
// clips through the generic clip split, the config keys, and data.dir as a
// dataset name downloaded from a mirror (a local HTTP server) into the cache.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "data/hoefling_fixture.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/train/config_check.h"
#include "test_util.h"
#include "fovea/train/retina_experiment.h"
#include "http_test_server.h"
#include "io/detail.h"

namespace {

using namespace fovea::test::hoefling;
namespace data = fovea::data;
namespace train = fovea::train;

using fovea::test::error_of;

TEST(HoeflingLayout, ConfigLayoutGivesOpenretinasValidationAndTrainingClips) {
  Fixture fx;
  const train::Json config = {{"layout", "hoefling_2024"}, {"dir", fx.dir.path()}};
  auto options = train::retina_data_options(config);
  EXPECT_EQ(options.split.clip_length, 150);
  const data::RetinaDataset d = train::load_retina_data(options);
  EXPECT_EQ(*options.norm_mean, 0.0);  // the published movies are used as they are
  EXPECT_EQ(*options.norm_std, 1.0);
  const auto sessions = train::split_sessions(d, options.split);
  const auto& s = sessions.at(kC);  // left eye, sequence 1
  // Validation movie: the canonical clips in the listed order, mirrored.
  std::vector<at::Tensor> val_clips, train_clips, val_resp, train_resp;
  std::set<int64_t> val(kValClips.begin(), kValClips.end());
  const at::Tensor responses = d.responses.at(kC).train;  // presentation order
  for (int64_t c : kValClips) {
    val_clips.push_back(fx.train_movie.narrow(1, c * kL, kL).flip(3));
    for (int64_t i = 0; i < kClips; ++i)
      if (fx.sequences[i][1].item<int64_t>() == c) val_resp.push_back(responses.narrow(1, i * kL, kL));
  }
  for (int64_t i = 0; i < kClips; ++i) {
    const int64_t c = fx.sequences[i][1].item<int64_t>();
    if (val.count(c)) continue;
    train_clips.push_back(fx.train_movie.narrow(1, c * kL, kL).flip(3));
    train_resp.push_back(responses.narrow(1, i * kL, kL));
  }
  EXPECT_TRUE(torch::equal(s.val_movie, torch::cat(val_clips, 1)));
  EXPECT_TRUE(torch::equal(s.val_responses, torch::cat(val_resp, 1).t()));
  EXPECT_EQ(s.train_movie.size(1), 93 * kL);
  EXPECT_TRUE(torch::equal(s.train_movie, torch::cat(train_clips, 1)));
  EXPECT_TRUE(torch::equal(s.train_responses, torch::cat(train_resp, 1).t()));
  EXPECT_EQ(s.test_by_trial.at("test").sizes(), (std::vector<int64_t>{3, 750, 2}));

  // The fixed clips cannot be cut at another length.
  const train::Json bad = {{"layout", "hoefling_2024"}, {"dir", fx.dir.path()}, {"clip_length", 100}};
  EXPECT_NE(error_of([&] { train::retina_data_options(bad); }).find("data.clip_length"), std::string::npos);
}

TEST(HoeflingLayout, ConfigKeysAreChecked) {
  const train::Json ok = {{"family", "retina"},
                          {"data",
                           {{"layout", "hoefling_2024"},
                            {"dir", "d"},
                            {"trace_type", "spikes"},
                            {"quality_checks", {{"d_qi", 0.6}, {"qi_logic", "or"}, {"classifier_confidence", 0.25}}}}},
                          {"model", {{"core", {{"type", "simple_core_wrapper"}}}, {"readout", {{"type", "gaussian_mask"}}}}}};
  EXPECT_TRUE(train::config_issues(ok).empty());
  train::Json typo = ok;
  typo["data"]["quality_checks"]["dqi"] = 0.6;
  const auto issues = train::config_issues(typo);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "data.quality_checks.dqi");
  train::Json bad_logic = ok;
  bad_logic["data"]["quality_checks"]["qi_logic"] = "xor";
  EXPECT_EQ(train::config_issues(bad_logic).size(), 1u);
}

TEST(HoeflingLayout, DatasetNameDownloadsThePublishedFilesOnce) {
  Fixture fx;
  fovea::testing::TempDir cache("hoefling_cache");
  fovea::test::HttpTestServer server;
  const std::string stimuli = "/euler_lab/hoefling_2024/stimuli/rgc_natstim_18x16_joint_normalized_2024-01-11.zip";
  const std::string responses = "/euler_lab/hoefling_2024/responses/rgc_natstim_2024-08-14.zip";
  auto zip_of = [&](const std::string& member, const std::string& path) {
    const std::string zip = cache.file("upload.zip");
    fovea::io::detail::write_zip_atomic(zip, {{member, fovea::io::read_file(path)}}, true);
    return fovea::io::read_file(zip);
  };
  server.serve_file(stimuli, zip_of("rgc_natstim_18x16_joint_normalized_2024-01-11.pkl", fx.movies_path));
  server.serve_file(responses, zip_of("rgc_natstim_2024-08-14.h5", fx.responses_path));
  fovea::test::ScopedEnv cache_env("FOVEA_CACHE_DIR", cache.path());
  fovea::test::ScopedEnv mirror("FOVEA_MODEL_BASE_URL", server.base_url());

  const train::Json config = {{"dir", "hoefling_2024"}};  // the name implies the layout
  auto options = train::retina_data_options(config);
  EXPECT_EQ(options.layout, "hoefling_2024");
  const data::RetinaDataset d = train::load_retina_data(options);
  const data::RetinaDataset local = data::load_hoefling_2024(fx.options());
  ASSERT_EQ(d.sessions(), local.sessions());
  for (const auto& key : d.sessions()) {
    EXPECT_TRUE(torch::equal(d.responses.at(key).train, local.responses.at(key).train)) << key;
    EXPECT_TRUE(torch::equal(d.movies.at(key).train, local.movies.at(key).train)) << key;
  }
  EXPECT_EQ(server.requests(stimuli), 1);
  EXPECT_EQ(server.requests(responses), 1);
  // Later runs read the cache.
  auto again = train::retina_data_options(config);
  train::load_retina_data(again);
  EXPECT_EQ(server.total_requests(), 2);
}

TEST(HoeflingLayout, DatasetNameWithAFailedDownloadNamesTheUrl) {
  fovea::testing::TempDir cache("hoefling_cache");
  fovea::test::HttpTestServer server;  // serves nothing: every file is a 404
  fovea::test::ScopedEnv cache_env("FOVEA_CACHE_DIR", cache.path());
  fovea::test::ScopedEnv mirror("FOVEA_MODEL_BASE_URL", server.base_url());
  auto options = train::retina_data_options({{"dir", "hoefling_2024"}});
  const std::string e = error_of([&] { train::load_retina_data(options); });
  EXPECT_EQ(e.rfind(server.base_url() + "/euler_lab/hoefling_2024/stimuli/", 0), 0u) << e;
  EXPECT_NE(e.find("404"), std::string::npos) << e;
}

}  // namespace
