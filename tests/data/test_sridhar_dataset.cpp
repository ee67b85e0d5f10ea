// The sridhar_2025 layout (doc §6): NM frames rendered from the fixation file
// (value by value against _render_frame written out), the response pickle's
// cell and seed selection, the trial-wise validation split (numpy's legacy
// permutation, redrawn), WN trials with extra_frame, bad input, and
// `fovea train` with the NM and WN presets.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "cli/cli_runner.h"
#include "data/hub_mirror.h"
#include "data/sridhar_files.h"
#include "fovea/data/sridhar_dataset.h"
#include "fovea/io/atomic_file.h"
#include "http_test_server.h"
#include "io/detail.h"
#include "test_util.h"

namespace {

namespace data = fovea::data;
namespace sridhar = fovea::test::sridhar;
using fovea::test::error_of;
using fovea::test::TempDir;

constexpr int64_t kN = 4, kFrames = 12, kTrials = 5, kTestT = 6, kRepeats = 12, kImages = 3;
const char* kFixations = "fixations/complete_fixations_seed_2022and2023_s4_fixed.txt";

sridhar::Responses nm_responses() {
  sridhar::Responses r;
  r.train = torch::arange(kN * kFrames * kTrials, torch::kFloat64).reshape({kN, kFrames, kTrials}).remainder(7);
  r.test = torch::arange(kN * kTestT * kRepeats, torch::kFloat64).reshape({kN, kTestT, kRepeats}).remainder(5);
  return r;
}

// A natural_movie folder for retina 01 with `lines` fixation lines.
struct NmFixture {
  TempDir dir;
  at::Tensor images;
  sridhar::Responses responses = nm_responses();
  explicit NmFixture(int64_t lines = sridhar::kTestLines + kFrames * kTrials) {
    images = sridhar::write_images(dir.file("stimuli_padded_4"), kImages);
    io_write(lines);
    std::ofstream(dir.file("stimuli_padded_4/notes.npy")) << "not an image";  // no "_img_": not read
  }
  void io_write(int64_t lines) {
    sridhar::write_fixations(dir.file(kFixations), lines, kImages);
    sridhar::write_responses(pickle(), responses);
  }
  std::string pickle() const { return dir.file("responses/cell_responses_01_fixation_movie.pkl"); }
  data::SridharOptions options() const {
    data::SridharOptions o;
    o.dir = dir.path().string();
    return o;
  }
  at::Tensor frame(int64_t line) const { return sridhar::expected_frame(images, sridhar::fixation_of(line, kImages)); }
};

TEST(SridharDataset, NaturalMovieFramesAreRenderedFromTheFixations) {
  NmFixture fx;
  const data::RetinaDataset d = data::load_sridhar_2025(fx.options());
  ASSERT_EQ(d.sessions(), std::vector<std::string>{"01"});
  const at::Tensor train = d.movies.at("01").train, test = d.movies.at("01").test.at("test");
  ASSERT_EQ(train.sizes(), (std::vector<int64_t>{1, kFrames * kTrials, 80, 90}));
  ASSERT_EQ(test.sizes(), (std::vector<int64_t>{1, kTestT, 80, 90}));
  // Training trial t, frame f: fixation line 5100 + frames_per_trial·t + f.
  for (int64_t t = 0; t < kTrials; ++t)
    for (int64_t f = 0; f < kFrames; ++f)
      ASSERT_TRUE(torch::equal(train[0][t * kFrames + f], fx.frame(sridhar::kTestLines + kFrames * t + f))) << t << " " << f;
  for (int64_t f = 0; f < kTestT; ++f) ASSERT_TRUE(torch::equal(test[0][f], fx.frame(f))) << f;

  const auto& r = d.responses.at("01");
  ASSERT_EQ(r.train.sizes(), (std::vector<int64_t>{kN, kFrames * kTrials}));
  for (int64_t t = 0; t < kTrials; ++t)
    EXPECT_TRUE(torch::equal(r.train.narrow(1, t * kFrames, kFrames), fx.responses.train.select(2, t).to(torch::kFloat32)));
  EXPECT_TRUE(torch::allclose(r.test.at("test"), fx.responses.test.mean(2).to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(r.test_by_trial.at("test"), fx.responses.test.permute({2, 0, 1}).to(torch::kFloat32)));
  EXPECT_EQ(r.info.at("frames_per_trial").item<int64_t>(), kFrames);
  EXPECT_EQ(r.info.at("num_trials").item<int64_t>(), kTrials);
  // get_trial_wise_validation_split(5 trials, seed 1000): numpy's permutation [2, 1, 0, 4, 3].
  EXPECT_EQ(d.val_clip_indices.at("01"), std::vector<int64_t>{3});
}

TEST(SridharDataset, TrialSplitIsNumpysPermutationRedrawnForRepeatedTrials) {
  // Reference values from numpy's legacy RandomState(seed).permutation, drawn
  // again (same stream) while trials 0/9 or 10/19 fall on different sides.
  // Seed 0, 10 trials: the first draw [2, 8, 4, 9, 1, 6, 7, 3, | 0, 5] separates 0 and 9.
  auto [train, val] = data::sridhar_trial_split(10, 0, 0.8);
  EXPECT_EQ(train, (std::vector<int64_t>{3, 5, 1, 2, 9, 8, 0, 6}));
  EXPECT_EQ(val, (std::vector<int64_t>{7, 4}));
  // Seed 1000 (openretina's default), 20 trials: the sixth draw.
  std::tie(train, val) = data::sridhar_trial_split(20, 1000, 0.8);
  EXPECT_EQ(val, (std::vector<int64_t>{3, 1, 8, 4}));
  EXPECT_EQ(train.size(), 16u);
  EXPECT_NE(error_of([] { data::sridhar_trial_split(1, 1000, 0.8); }).find("at least 2"), std::string::npos);
}

TEST(SridharDataset, CellsAndStimulusSeedSelectTheResponsesAndTheirFrames) {
  NmFixture fx;
  data::SridharOptions o = fx.options();
  o.excluded_cells["01"] = {1, 3};
  data::RetinaDataset d = data::load_sridhar_2025(o);
  EXPECT_TRUE(torch::equal(d.responses.at("01").info.at("cell_indices"), torch::tensor({0, 2}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.responses.at("01").train.narrow(1, 0, kFrames),
                           fx.responses.train.select(2, 0).index_select(0, torch::tensor({0, 2})).to(torch::kFloat32)));
  o.cell_index = 3;  // one cell, whatever is excluded
  d = data::load_sridhar_2025(o);
  EXPECT_EQ(d.responses.at("01").train.size(0), 1);
  EXPECT_TRUE(torch::equal(d.responses.at("01").info.at("cell_indices"), torch::tensor({3}, torch::kInt64)));

  // seeds listed: the trials of stimulus_seed, on both arrays; each rendered from its own fixation lines.
  fx.responses.seeds = {2022, 0};
  fx.responses.separation = {{0, {1, 3, 4}}, {2022, {0, 2}}};
  fx.io_write(sridhar::kTestLines + kFrames * kTrials);
  d = data::load_sridhar_2025(fx.options());
  const auto& r = d.responses.at("01");
  ASSERT_EQ(r.train.size(1), 3 * kFrames);
  const std::vector<int64_t> kept = {1, 3, 4};
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_TRUE(torch::equal(r.train.narrow(1, static_cast<int64_t>(i) * kFrames, kFrames),
                             fx.responses.train.select(2, kept[i]).to(torch::kFloat32)));
    EXPECT_TRUE(torch::equal(d.movies.at("01").train[0][static_cast<int64_t>(i) * kFrames],
                             fx.frame(sridhar::kTestLines + kFrames * kept[i])));
  }
  EXPECT_TRUE(torch::equal(r.test_by_trial.at("test"),
                           fx.responses.test.index_select(2, torch::tensor({1, 3, 4})).permute({2, 0, 1}).to(torch::kFloat32)));
  // A seed not listed: all trials, and for retina 01 the first 10 test repeats.
  o = fx.options();
  o.stimulus_seed = 7;
  d = data::load_sridhar_2025(o);
  EXPECT_EQ(d.responses.at("01").train.size(1), kTrials * kFrames);
  EXPECT_TRUE(torch::equal(d.responses.at("01").test_by_trial.at("test"),
                           fx.responses.test.narrow(2, 0, 10).permute({2, 0, 1}).to(torch::kFloat32)));
}

TEST(SridharDataset, WhiteNoiseTrialsAreCroppedAndPairedExtraFrameLater) {
  TempDir dir;
  const int64_t h = 76, w = 114, n = 10, trials = 3, test_n = 7;  // crops [35:41, 55:59]
  std::vector<at::Tensor> stim;
  for (int64_t t = 0; t < trials; ++t) {
    at::Tensor x = torch::arange(h * w * n, torch::kFloat64).reshape({h, w, n}).remainder(2).mul(2).sub(1).mul(t + 1);
    char name[64];
    std::snprintf(name, sizeof name, "non_repeating_stimuli_2/trial_%03lld", static_cast<long long>(t));
    std::filesystem::create_directories(dir.file(name));
    fovea::io::write_npy(dir.file(std::string(name) + "/all_images.npy"), x);
    stim.push_back(x);
  }
  std::filesystem::create_directories(dir.file("repeating_stimuli_2"));
  const at::Tensor test_stim = torch::arange(h * w * test_n, torch::kFloat64).reshape({h, w, test_n}).remainder(3);
  fovea::io::write_npy(dir.file("repeating_stimuli_2/all_images.npy"), test_stim);
  sridhar::Responses resp;
  resp.train = torch::arange(2 * n * trials, torch::kFloat64).reshape({2, n, trials});
  resp.test = torch::arange(2 * test_n * 4, torch::kFloat64).reshape({2, test_n, 4});
  sridhar::write_responses(dir.file("responses/cell_responses_04_wn.pkl"), resp);

  data::SridharOptions o;
  o.dir = dir.path().string();
  o.stimulus = "whitenoise";
  o.extra_frame = 1;
  const data::RetinaDataset d = data::load_sridhar_2025(o);
  ASSERT_EQ(d.sessions(), std::vector<std::string>{"04"});
  const at::Tensor movie = d.movies.at("04").train;
  ASSERT_EQ(movie.sizes(), (std::vector<int64_t>{1, trials * (n - 1), 6, 4}));
  const auto& r = d.responses.at("04");
  for (int64_t t = 0; t < trials; ++t)
    for (int64_t f = 0; f < n - 1; ++f) {
      // stimulus frame f (cropped, no normalisation) with response frame f + 1
      const at::Tensor expected = stim[static_cast<size_t>(t)].slice(0, 35, h - 35).slice(1, 55, w - 55).select(2, f);
      ASSERT_TRUE(torch::equal(movie[0][t * (n - 1) + f], expected.to(torch::kFloat32))) << t << " " << f;
      ASSERT_TRUE(torch::equal(r.train.select(1, t * (n - 1) + f), resp.train.select(2, t).select(1, f + 1).to(torch::kFloat32)));
    }
  const at::Tensor test = d.movies.at("04").test.at("test");
  ASSERT_EQ(test.size(1), test_n - 1);
  EXPECT_TRUE(torch::equal(test[0][0], test_stim.slice(0, 35, h - 35).slice(1, 55, w - 55).select(2, 0).to(torch::kFloat32)));
  EXPECT_TRUE(torch::allclose(r.test.at("test"), resp.test.mean(2).narrow(1, 1, test_n - 1).to(torch::kFloat32)));
  EXPECT_EQ(r.test_by_trial.at("test").sizes(), (std::vector<int64_t>{4, 2, test_n - 1}));
  EXPECT_EQ(r.info.at("frames_per_trial").item<int64_t>(), n - 1);

  // Responses shorter than the stimulus.
  resp.train = resp.train.narrow(1, 0, n - 2);
  sridhar::write_responses(dir.file("responses/cell_responses_04_wn.pkl"), resp);
  const std::string e = error_of([&] { data::load_sridhar_2025(o); });
  EXPECT_EQ(e.rfind(dir.file("responses/cell_responses_04_wn.pkl") + ": 'train_responses' has 8 frames, ", 0), 0u) << e;
  EXPECT_NE(e.find("trial_000/all_images.npy has 10 images"), std::string::npos) << e;
}

TEST(SridharDataset, BadFilesGetOneLineNamingTheFileAndTheField) {
  NmFixture fx;
  auto expect_error = [&](const std::string& file, const std::string& what) {
    const std::string e = error_of([&] { data::load_sridhar_2025(fx.options()); });
    EXPECT_EQ(e.rfind(file + ": ", 0), 0u) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  const std::string pickle = fx.pickle(), fixations = fx.dir.file(kFixations);

  sridhar::Responses missing = nm_responses();
  missing.write_train = false;
  sridhar::write_responses(pickle, missing);
  expect_error(pickle, "key 'train_responses' is missing");

  sridhar::Responses flat = nm_responses();
  flat.train = flat.train.reshape({kN, kFrames * kTrials});
  sridhar::write_responses(pickle, flat);
  expect_error(pickle, "'train_responses' has 2 dimensions, expected 3 (neurons, frames_per_trial, trials)");

  sridhar::write_responses(pickle, nm_responses());  // truncated
  std::filesystem::resize_file(pickle, std::filesystem::file_size(pickle) / 2);
  expect_error(pickle, "");

  // More response frames than the fixation file has lines.
  sridhar::write_responses(pickle, nm_responses());
  sridhar::write_fixations(fixations, sridhar::kTestLines + kFrames * kTrials - 1, kImages);
  expect_error(fixations, "has 5159 fixation lines, the responses need 5160");

  // A fixation whose cut leaves the padded image.
  sridhar::write_fixations(fixations, sridhar::kTestLines + kFrames * kTrials, kImages);
  {
    std::ifstream in(fixations);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    all.replace(0, all.find('\n'), "0.0 0 0 201 25 12 1");
    std::ofstream(fixations) << all;
  }
  expect_error(fixations, "line 1: the 200x150 cut around center (201, 25) leaves the padded image");
}

TEST(SridharDataset, PublishedFolderIsListedAndDownloadedOnce) {
  NmFixture fx;
  TempDir scratch, cache;
  // The images as a zip whose members sit under a folder named like it (openretina's unzip rule).
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& e : std::filesystem::directory_iterator(fx.dir.file("stimuli_padded_4")))
    members.emplace_back("stimuli_padded_4/" + e.path().filename().string(), fovea::io::read_file(e.path().string()));
  fovea::io::detail::write_zip_atomic(scratch.file("stimuli_padded_4.zip"), members, true);
  fovea::test::HubMirror hub;
  const std::string root = "gollisch_lab/sridhar_2025/marmoset/natural_movie";
  hub.list(root, {{"directory", "responses"}, {"directory", "fixations"}, {"file", "stimuli_padded_4.zip"},
                  {"directory", "stas"}});
  hub.list(root + "/responses", {{"file", "cell_responses_01_fixation_movie.pkl"}});
  hub.list(root + "/fixations", {{"file", std::filesystem::path(kFixations).filename().string()}});
  hub.serve(root + "/responses/cell_responses_01_fixation_movie.pkl", fovea::io::read_file(fx.pickle()));
  hub.serve(root + "/" + kFixations, fovea::io::read_file(fx.dir.file(kFixations)));
  hub.serve(root + "/stimuli_padded_4.zip", fovea::io::read_file(scratch.file("stimuli_padded_4.zip")));
  const fovea::io::DownloadOptions dl = fovea::test::quiet_download(cache);
  const std::string base = hub.base_url();
  data::SridharOptions o;
  o.dir = data::fetch_sridhar_2025("natural_movie", base, dl);
  EXPECT_EQ(hub.server.requests(hub.api(root + "/stas")), 0);  // the STAs are not used
  const data::RetinaDataset d = data::load_sridhar_2025(o), local = data::load_sridhar_2025(fx.options());
  EXPECT_TRUE(torch::equal(d.movies.at("01").train, local.movies.at("01").train));
  EXPECT_TRUE(torch::equal(d.responses.at("01").train, local.responses.at("01").train));
  const int requests = hub.server.total_requests();
  EXPECT_EQ(data::fetch_sridhar_2025("natural_movie", base, dl), o.dir);  // later runs read the cache
  EXPECT_EQ(hub.server.total_requests(), requests);
  {
    // data.dir: sridhar_2025 through `fovea train`: from the mirror into a fresh cache.
    TempDir run_cache;
    const auto r = fovea::test::train_from_mirror(
        base, run_cache, "retina_sridhar_2025_nm.yaml", "sridhar_2025", scratch,
        "'data.sessions=[\"01\"]' data.excluded_cells=null model.hidden_channels=[2]"
        " model.core.temporal_kernel_sizes=[3] model.core.spatial_kernel_sizes=[3] training.max_epochs=1"
        " training.batch_size=2 training.chunk_size=6");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(run_cache.file("published/sridhar_2025/natural_movie/stimuli_padded_4")));
    EXPECT_TRUE(std::filesystem::exists(scratch.file("run/model.safetensors")));
  }
  // A mirror that is not a Hub "resolve" URL cannot be listed.
  const std::string e = error_of([&] { data::fetch_sridhar_2025("whitenoise", hub.server.url("/m"), dl); });
  EXPECT_NE(e.find("cannot be listed"), std::string::npos) << e;
}

// `fovea eval` of the trained model: its spec reads the same cells and trials again.
void expect_eval_reads_the_data(const TempDir& out, const std::string& data_dir) {
  const auto ev = fovea::test::run_fovea(
      "eval --threads 1 --model " + out.file("run/model.safetensors") + " --data " + data_dir + " -o " + out.file("eval"), out);
  ASSERT_EQ(ev.code, 0) << ev.err;
}

// `fovea train` with a preset on the small folders, a tiny model and one epoch.
fovea::test::CliResult train_preset(const std::string& preset, const std::string& data_dir, const TempDir& dir,
                                    const std::string& extra) {
  return fovea::test::run_fovea(
      "train -q --threads 1 --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/" + preset + " data.dir=" + data_dir +
          " output.dir=" + dir.file("run") +
          " model.hidden_channels=[2] model.core.temporal_kernel_sizes=[3] model.core.spatial_kernel_sizes=[3]"
          " training.max_epochs=1 training.batch_size=2 " + extra,
      dir);
}

TEST(SridharDataset, TrainsWithTheNaturalMoviePresetThroughTheCommandLine) {
  ASSERT_TRUE(std::filesystem::exists(FOVEA_BINARY)) << FOVEA_BINARY;
  NmFixture fx;
  TempDir out;
  const auto r = train_preset("retina_sridhar_2025_nm.yaml", fx.dir.path().string(), out,
                              "'data.sessions=[\"01\"]' data.excluded_cells=null training.chunk_size=6");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/model.safetensors"))) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/eval.json")));
  expect_eval_reads_the_data(out, fx.dir.path().string());
}

TEST(SridharDataset, TrainsWithTheWhiteNoisePresetThroughTheCommandLine) {
  ASSERT_TRUE(std::filesystem::exists(FOVEA_BINARY)) << FOVEA_BINARY;
  TempDir dir;
  const int64_t h = 100, w = 130, n = 20;
  for (int64_t t = 0; t < 5; ++t) {
    const std::string trial = dir.file("non_repeating_stimuli_2/trial_00" + std::to_string(t));
    std::filesystem::create_directories(trial);
    fovea::io::write_npy(trial + "/all_images.npy", torch::randn({h, w, n}, torch::kFloat64));
  }
  std::filesystem::create_directories(dir.file("repeating_stimuli_2"));
  fovea::io::write_npy(dir.file("repeating_stimuli_2/all_images.npy"), torch::randn({h, w, 10}, torch::kFloat64));
  sridhar::Responses resp;
  resp.train = torch::rand({3, n, 5}, torch::kFloat64);
  resp.test = torch::rand({3, 10, 2}, torch::kFloat64);
  sridhar::write_responses(dir.file("responses/cell_responses_04_wn.pkl"), resp);
  TempDir out;
  const auto r = train_preset("retina_sridhar_2025_wn.yaml", dir.path().string(), out,
                              "data.excluded_cells=null model.core.hidden_padding=[0,0,0] training.chunk_size=8");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/model.safetensors"))) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/eval.json")));
  expect_eval_reads_the_data(out, dir.path().string());
}

}  // namespace
