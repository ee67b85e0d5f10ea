// The sridhar_2025 layout (doc §6): NM frames rendered from the fixation file
// (value by value against _render_frame written out), the response pickle's
// cell and seed selection, the trial-wise validation split (numpy's legacy
// permutation, redrawn), final_training and hard_coded, the STA locations
// (against planted STAs), WN trials with extra_frame, bad input, `fovea train`
// with the NM and WN presets, and a single-cell LNP placed at its STA location.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_runner.h"
#include "data/hub_mirror.h"
#include "data/sridhar_files.h"
#include "fovea/data/movie_clips.h"
#include "fovea/data/sridhar_dataset.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/safetensors.h"
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

// Cell c's NM STA (150×200, the fixation cut) peaks at raw pixel (50 + 5c, 70 + 11c).
int64_t sta_row(int64_t c) { return 50 + 5 * c; }
int64_t sta_col(int64_t c) { return 70 + 11 * c; }
// Its location as openretina computes it: np.flip(axis=1) maps row r to
// 149 − r, then the crop (35, 35, 55, 55) shifts by (35, 55).
std::vector<int64_t> nm_sta_location(int64_t c) { return {149 - sta_row(c) - 35, sta_col(c) - 55}; }

// (cells, 2) int64: the expected sta_locations of `cells`.
at::Tensor nm_sta_locations(const std::vector<int64_t>& cells) {
  std::vector<int64_t> flat;
  for (const int64_t c : cells)
    for (const int64_t v : nm_sta_location(c)) flat.push_back(v);
  return torch::tensor(flat, torch::kInt64).reshape({-1, 2});
}

// A natural_movie folder for retina 01 with `lines` fixation lines and an STA per cell.
struct NmFixture {
  TempDir dir;
  at::Tensor images;
  sridhar::Responses responses = nm_responses();
  explicit NmFixture(int64_t lines = sridhar::kTestLines + kFrames * kTrials) {
    images = sridhar::write_images(dir.file("stimuli_padded_4"), kImages);
    io_write(lines);
    std::ofstream(dir.file("stimuli_padded_4/notes.npy")) << "not an image";  // no "_img_": not read
    for (int64_t c = 0; c < kN; ++c)
      sridhar::write_sta(dir.path().string(), "01", c, sridhar::planted_sta(150, 200, sta_row(c), sta_col(c)));
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
  const at::Tensor loc = r.info.at("sta_locations");
  ASSERT_EQ(loc.sizes(), (std::vector<int64_t>{kN, 2}));
  for (int64_t c = 0; c < kN; ++c)
    EXPECT_EQ((std::vector<int64_t>{loc[c][0].item<int64_t>(), loc[c][1].item<int64_t>()}), nm_sta_location(c)) << c;
}

TEST(SridharDataset, StaLocationIsTheLargestTemporalVarianceAfterFlipAndCrop) {
  TempDir dir;
  const std::string file = dir.file("sta.npy");
  at::Tensor sta = sridhar::planted_sta(150, 200, 50, 70);
  fovea::io::write_npy(file, sta);
  // WN: no flip, crop (35, 55): (50 − 35, 70 − 55). NM: row 50 is row 149 − 50 = 99 after np.flip(axis=1).
  EXPECT_EQ(data::sridhar_sta_location(file, false), (std::array<int64_t, 2>{15, 15}));
  EXPECT_EQ(data::sridhar_sta_location(file, true), (std::array<int64_t, 2>{99 - 35, 15}));
  // A tie: the same signal at raw row 60 too. np.argmax takes the first in
  // row-major order: raw row 50 unflipped, raw row 60 (149 − 60 = 89) flipped.
  sta.select(2, 70).select(1, 60).copy_(sta.select(2, 70).select(1, 50));
  fovea::io::write_npy(file, sta);
  EXPECT_EQ(data::sridhar_sta_location(file, false), (std::array<int64_t, 2>{15, 15}));
  EXPECT_EQ(data::sridhar_sta_location(file, true), (std::array<int64_t, 2>{89 - 35, 15}));
  // Float64 STAs too, and bad shapes name the file.
  fovea::io::write_npy(file, sridhar::planted_sta(76, 114, 40, 58).to(torch::kFloat64));
  EXPECT_EQ(data::sridhar_sta_location(file, false), (std::array<int64_t, 2>{5, 3}));
  fovea::io::write_npy(file, torch::zeros({150, 200}));
  std::string e = error_of([&] { data::sridhar_sta_location(file, false); });
  EXPECT_EQ(e.rfind(file + ": the STA has shape (150, 200), expected (frames, height, width)", 0), 0u) << e;
  fovea::io::write_npy(file, torch::zeros({3, 70, 200}));
  e = error_of([&] { data::sridhar_sta_location(file, false); });
  EXPECT_NE(e.find("smaller than the crop"), std::string::npos) << e;
}

TEST(SridharDataset, FinalTrainingAndHardCodedSplitsChooseTheTrainingTrials) {
  NmFixture fx;
  data::SridharOptions o = fx.options();
  auto trial = [&](const data::RetinaDataset& d, int64_t clip) {
    return d.movies.at("01").train[0].narrow(0, clip * kFrames, kFrames);
  };
  auto expected_trial = [&](int64_t t) {
    std::vector<at::Tensor> f;
    for (int64_t i = 0; i < kFrames; ++i) f.push_back(fx.frame(sridhar::kTestLines + kFrames * t + i));
    return torch::stack(f);
  };
  // final_training: the drawn split (train [2, 1, 0, 4], validation [3]) trains
  // on all five trials; trial 3 follows again as the validation clip.
  o.final_training = true;
  data::RetinaDataset d = data::load_sridhar_2025(o);
  ASSERT_EQ(d.movies.at("01").train.size(1), 6 * kFrames);
  EXPECT_EQ(d.val_clip_indices.at("01"), std::vector<int64_t>{5});
  for (int64_t c = 0; c < 6; ++c) EXPECT_TRUE(torch::equal(trial(d, c), expected_trial(c < 5 ? c : 3))) << c;
  EXPECT_TRUE(torch::equal(d.responses.at("01").train.narrow(1, 5 * kFrames, kFrames),
                           fx.responses.train.select(2, 3).to(torch::kFloat32)));
  // What training sees (split_session): five training trials, one validation trial.
  const data::SessionClips clips = data::split_session(
      d.movies.at("01").train, d.responses.at("01").train, {kFrames, 0, d.val_clip_indices.at("01"), 42}, "01");
  EXPECT_EQ(clips.train_movie.size(1), 5 * kFrames);
  EXPECT_TRUE(torch::equal(clips.val_movie[0], expected_trial(3)));

  // hard_coded: trials 4 and 1 train, 2 validates, 0 and 3 are left out.
  o.final_training = false;
  o.hard_coded = data::SridharOptions::HardCoded{{4, 1}, {2}};
  d = data::load_sridhar_2025(o);
  ASSERT_EQ(d.movies.at("01").train.size(1), 3 * kFrames);
  EXPECT_EQ(d.val_clip_indices.at("01"), std::vector<int64_t>{1});
  const std::vector<int64_t> order = {1, 2, 4};
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_TRUE(torch::equal(trial(d, c), expected_trial(order[static_cast<size_t>(c)]))) << c;
    EXPECT_TRUE(torch::equal(d.responses.at("01").train.narrow(1, c * kFrames, kFrames),
                             fx.responses.train.select(2, order[static_cast<size_t>(c)]).to(torch::kFloat32)));
  }
}

TEST(SridharDataset, HardCodedSplitsAreCheckedAgainstTheSplitRules) {
  data::SridharOptions o;
  auto split_error = [&](std::vector<int64_t> train, std::vector<int64_t> val, int64_t n = 20) {
    o.hard_coded = data::SridharOptions::HardCoded{std::move(train), std::move(val)};
    return error_of([&] { data::sridhar_split(n, o); });
  };
  EXPECT_EQ(split_error({0, 20}, {5}), "data.hard_coded.train: trial 20 does not exist (the responses have 20 training trials, 0..19)");
  EXPECT_EQ(split_error({0, 1}, {-1}).rfind("data.hard_coded.validation: trial -1 does not exist", 0), 0u);
  EXPECT_EQ(split_error({0, 1, 2}, {5, 2}), "data.hard_coded.validation: trial 2 is also in data.hard_coded.train");
  EXPECT_EQ(split_error({3, 3}, {5}), "data.hard_coded.train: trial 3 is listed twice");
  EXPECT_EQ(split_error({}, {5}), "data.hard_coded.train: lists no trial");
  EXPECT_EQ(split_error({1}, {}), "data.hard_coded.validation: lists no trial");
  // Trials 0/9 and 10/19 repeat content: not on different sides (one left out is fine).
  EXPECT_EQ(split_error({0, 1}, {9}),
            "data.hard_coded: trials 0 and 9 show repeated content and must be on the same side (trial 0 is in train, "
            "trial 9 in validation)");
  EXPECT_NE(split_error({19, 1}, {10}).find("trials 10 and 19"), std::string::npos);
  o.hard_coded = data::SridharOptions::HardCoded{{0, 9, 19}, {4}};
  EXPECT_EQ(data::sridhar_split(20, o), (std::pair<std::vector<int64_t>, std::vector<int64_t>>{{0, 9, 19}, {4}}));
  o.final_training = true;
  EXPECT_EQ(error_of([&] { data::sridhar_split(20, o); }).rfind("data.final_training: cannot be combined with data.hard_coded", 0), 0u);
  // Without hard_coded, final_training appends the validation trials to training.
  // (seed 0, 10 trials: train [3, 5, 1, 2, 9, 8, 0, 6], validation [7, 4], as in the split test above).
  o.hard_coded.reset();
  o.split_seed = 0;
  const auto [train, val] = data::sridhar_split(10, o);
  EXPECT_EQ(train, (std::vector<int64_t>{3, 5, 1, 2, 9, 8, 0, 6, 7, 4}));
  EXPECT_EQ(val, (std::vector<int64_t>{7, 4}));
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
  EXPECT_TRUE(torch::equal(d.responses.at("01").info.at("sta_locations"),
                           nm_sta_locations({0, 2})));
  EXPECT_TRUE(torch::equal(d.responses.at("01").train.narrow(1, 0, kFrames),
                           fx.responses.train.select(2, 0).index_select(0, torch::tensor({0, 2})).to(torch::kFloat32)));
  o.cell_index = 3;  // one cell, whatever is excluded
  d = data::load_sridhar_2025(o);
  EXPECT_EQ(d.responses.at("01").train.size(0), 1);
  EXPECT_TRUE(torch::equal(d.responses.at("01").info.at("cell_indices"), torch::tensor({3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.responses.at("01").info.at("sta_locations"), nm_sta_locations({3})));

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

  for (int64_t c = 0; c < 2; ++c)  // WN STAs are not flipped: (37 + c, 57 + c) − (35, 55)
    sridhar::write_sta(dir.path().string(), "04", c, sridhar::planted_sta(h, w, 37 + c, 57 + c));

  data::SridharOptions o;
  o.dir = dir.path().string();
  o.stimulus = "whitenoise";
  o.extra_frame = 1;
  const data::RetinaDataset d = data::load_sridhar_2025(o);
  ASSERT_EQ(d.sessions(), std::vector<std::string>{"04"});
  EXPECT_TRUE(torch::equal(d.responses.at("04").info.at("sta_locations"), torch::tensor({2, 2, 3, 3}, torch::kInt64).reshape({2, 2})));
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

  // A missing STA names its file; without get_locations no STA is read.
  sridhar::write_fixations(fixations, sridhar::kTestLines + kFrames * kTrials, kImages);
  const std::string sta = fx.dir.file("stas/cell_data_01_WN_stas_cell_2.npy");
  std::filesystem::remove(sta);
  expect_error(sta, "the STA of cell 2 is missing (data.get_locations: false reads no STAs)");
  data::SridharOptions no_stas = fx.options();
  no_stas.get_locations = false;
  EXPECT_EQ(data::load_sridhar_2025(no_stas).responses.at("01").info.count("sta_locations"), 0u);
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
  std::vector<std::pair<std::string, std::string>> stas;
  for (int64_t c = 0; c < kN; ++c) {
    const std::string name = "cell_data_01_WN_stas_cell_" + std::to_string(c) + ".npy";
    stas.emplace_back("file", name);
    hub.serve(root + "/stas/" + name, fovea::io::read_file(fx.dir.file("stas/" + name)));
  }
  hub.list(root + "/stas", stas);
  const fovea::io::DownloadOptions dl = fovea::test::quiet_download(cache);
  const std::string base = hub.base_url();
  data::SridharOptions o, local_options = fx.options();
  // Without STA locations (data.get_locations: false) the STAs are not fetched.
  o.dir = data::fetch_sridhar_2025("natural_movie", base, dl, /*with_stas=*/false);
  EXPECT_EQ(hub.server.requests(hub.api(root + "/stas")), 0);
  o.get_locations = local_options.get_locations = false;
  data::RetinaDataset d = data::load_sridhar_2025(o), local = data::load_sridhar_2025(local_options);
  EXPECT_TRUE(torch::equal(d.movies.at("01").train, local.movies.at("01").train));
  EXPECT_TRUE(torch::equal(d.responses.at("01").train, local.responses.at("01").train));
  // With them, a second step adds stas/ to the same folder.
  EXPECT_EQ(data::fetch_sridhar_2025("natural_movie", base, dl), o.dir);
  EXPECT_EQ(hub.server.requests(hub.api(root + "/stas")), 1);
  o.get_locations = true;
  EXPECT_TRUE(torch::equal(data::load_sridhar_2025(o).responses.at("01").info.at("sta_locations"), nm_sta_locations({0, 1, 2, 3})));
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

// The spec in a model file's metadata.
nlohmann::json model_spec(const std::string& file) {
  return nlohmann::json::parse(fovea::io::read_safetensors(file).metadata.at("spec"));
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
                              "'data.sessions=[\"01\"]' data.excluded_cells=null training.chunk_size=6"
                              " data.final_training=true");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/model.safetensors"))) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/eval.json")));
  const auto spec = model_spec(out.file("run/model.safetensors"));
  EXPECT_EQ(spec["data"]["final_training"], true);
  EXPECT_EQ(spec["provenance"]["val_clip_indices"]["01"], (std::vector<int64_t>{5}));  // trial 3 again, after all five
  EXPECT_EQ(spec["data"]["get_locations"], false);  // evaluation reads no STAs
  std::filesystem::remove_all(fx.dir.file("stas"));
  expect_eval_reads_the_data(out, fx.dir.path().string());
}

// data.hard_coded through `fovea train`: a missing list is a config error, a
// trial out of range one line naming the key; nothing is written.
TEST(SridharDataset, HardCodedErrorsThroughTheCommandLine) {
  ASSERT_TRUE(std::filesystem::exists(FOVEA_BINARY)) << FOVEA_BINARY;
  NmFixture fx;
  TempDir out;
  auto r = train_preset("retina_sridhar_2025_nm.yaml", fx.dir.path().string(), out,
                        "'data.sessions=[\"01\"]' data.excluded_cells=null 'data.hard_coded={train: [0, 1]}'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("data.hard_coded.validation"), std::string::npos) << r.err;
  r = train_preset("retina_sridhar_2025_nm.yaml", fx.dir.path().string(), out,
                   "'data.sessions=[\"01\"]' data.excluded_cells=null 'data.hard_coded={train: [0, 7], validation: [2]}'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("data.hard_coded.train: trial 7 does not exist (the responses have 5 training trials, 0..4)"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out.file("run/model.safetensors")));
}

// A single-cell LNP (openretina's SingleCellSeparatedLNP) reads at its cell's
// STA location unless model.readout.rf_location is given.
TEST(SridharDataset, SingleCellLnpReadsAtTheStaLocation) {
  ASSERT_TRUE(std::filesystem::exists(FOVEA_BINARY)) << FOVEA_BINARY;
  NmFixture fx;
  TempDir out;
  std::ofstream(out.file("lnp.yaml")) << "family: retina\n"
                                          "data: {layout: sridhar_2025, stimulus: natural_movie, sessions: [\"01\"], cell_index: 2}\n"
                                          "model:\n"
                                          "  core: {type: dummy_core}\n"
                                          "  readout: {type: single_cell_separated_lnp, in_shape: [1, 4, 80, 90], nonlinearity: softplus}\n"
                                          "training: {lr: 0.001, batch_size: 2, chunk_size: 12, max_epochs: 1}\n"
                                          "seed: 1\n";
  auto train = [&](const std::string& run, const std::string& extra) {
    return fovea::test::run_fovea("train -q --threads 1 --config " + out.file("lnp.yaml") + " data.dir=" +
                                      fx.dir.path().string() + " output.dir=" + out.file(run) + extra,
                                  out);
  };
  auto r = train("sta", "");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(model_spec(out.file("sta/model.safetensors"))["readout"]["rf_location"], nm_sta_location(2));
  r = train("given", " model.readout.rf_location=[40,45]");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(model_spec(out.file("given/model.safetensors"))["readout"]["rf_location"], (std::vector<int64_t>{40, 45}));
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
  for (int64_t c = 0; c < 3; ++c)
    sridhar::write_sta(dir.path().string(), "04", c, sridhar::planted_sta(h, w, 40 + c, 60 + c));
  TempDir out;
  const auto r = train_preset("retina_sridhar_2025_wn.yaml", dir.path().string(), out,
                              "data.excluded_cells=null model.core.hidden_padding=[0,0,0] training.chunk_size=8"
                              " 'data.hard_coded={train: [0, 2, 1], validation: [4]}'");
  ASSERT_EQ(r.code, 0) << r.err;
  // Trial 3 is in neither list: the training movie holds trials 0, 1, 2, 4, and clip 3 (trial 4) validates.
  EXPECT_EQ(model_spec(out.file("run/model.safetensors"))["provenance"]["val_clip_indices"]["04"], (std::vector<int64_t>{3}));
  EXPECT_TRUE(std::filesystem::exists(out.file("run/model.safetensors"))) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out.file("run/eval.json")));
  expect_eval_reads_the_data(out, dir.path().string());
}

}  // namespace
