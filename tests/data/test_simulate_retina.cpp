// The simulated retina dataset: openretina's generic layout (read back with
// load_hdf5_layout), deterministic from the seed, trial averages that
// approach the written ground truth, training responses that follow the
// noise-free rates, stimuli with the stated statistics, and bad options.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fovea/data/retina_dataset.h"
#include "fovea/data/simulate_retina.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"
#include "temp_dir.h"

namespace {

using fovea::data::SimulateRetinaOptions;

SimulateRetinaOptions small_options(uint64_t seed = 5) {
  SimulateRetinaOptions o;
  o.n_sessions = 2;
  o.neurons_per_session = {12, 10};
  o.train_frames = 1500;
  o.test_frames = 150;
  o.n_repeats = 3;
  o.seed = seed;
  return o;  // 18x16, 2 colours, noise stimulus, noise 1
}

fovea::data::RetinaDataset load(const std::string& dir, int64_t colors = 2, int64_t h = 18, int64_t w = 16) {
  fovea::data::RetinaLoadOptions o;
  o.dir = dir;
  o.test_names = {"test"};
  o.stimulus_size = {colors, h, w};
  return fovea::data::load_hdf5_layout(o);
}

double lag_correlation(const at::Tensor& a, const at::Tensor& b) {
  return at::corrcoef(at::stack({a.flatten().to(at::kDouble), b.flatten().to(at::kDouble)}))[0][1].item<double>();
}

// One simulation shared by the tests that only read it.
class SimulatedRetina : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new fovea::testing::TempDir("fovea_simret");
    summary = new fovea::data::SimulateRetinaSummary(fovea::data::simulate_retina(dir->path(), small_options()));
    data = new fovea::data::RetinaDataset(load(dir->path()));
  }
  static void TearDownTestSuite() {
    delete data;
    delete summary;
    delete dir;
  }
  static at::Tensor truth(const std::string& session) {
    return fovea::io::read_npy(dir->file("ground_truth/" + session + ".npy"));
  }
  static fovea::testing::TempDir* dir;
  static fovea::data::SimulateRetinaSummary* summary;
  static fovea::data::RetinaDataset* data;
};
fovea::testing::TempDir* SimulatedRetina::dir = nullptr;
fovea::data::SimulateRetinaSummary* SimulatedRetina::summary = nullptr;
fovea::data::RetinaDataset* SimulatedRetina::data = nullptr;

TEST_F(SimulatedRetina, WritesTheGenericLayout) {
  for (const char* name : {"stimuli/train.npy", "stimuli/test.npy", "session_0.h5", "session_1.h5",
                           "ground_truth/session_0.npy", "ground_truth/session_1.npy", "ground_truth/cells.json",
                           "ground_truth/spatial_filters.npy", "ground_truth/temporal_filters.npy", "README.txt"})
    EXPECT_TRUE(std::filesystem::exists(dir->file(name))) << name;
  EXPECT_EQ(summary->files.size(), 10u);
  ASSERT_EQ(data->sessions(), (std::vector<std::string>{"session_0", "session_1"}));
  EXPECT_EQ(data->n_neurons_dict(), (std::map<std::string, int64_t>{{"session_0", 12}, {"session_1", 10}}));
  for (const auto& [session, n] : data->n_neurons_dict()) {
    const auto& r = data->responses.at(session);
    const auto& m = data->movies.at(session);
    EXPECT_EQ(m.train.sizes(), (at::IntArrayRef{2, 1500, 18, 16}));
    EXPECT_EQ(m.test.at("test").sizes(), (at::IntArrayRef{2, 150, 18, 16}));
    EXPECT_EQ(r.train.sizes(), (at::IntArrayRef{n, 1500}));
    EXPECT_EQ(r.test.at("test").sizes(), (at::IntArrayRef{n, 150}));
    ASSERT_EQ(r.test_by_trial.count("test"), 1u);
    EXPECT_EQ(r.test_by_trial.at("test").sizes(), (at::IntArrayRef{3, n, 150}));
    // responses_test is the mean of the repeats.
    EXPECT_TRUE(r.test.at("test").allclose(r.test_by_trial.at("test").mean(0), 1e-5, 1e-6));
    // openretina's scale: non-negative, unit variance over the training movie in expectation.
    EXPECT_GE(r.train.min().item<float>(), 0.0f);
    EXPECT_GE(r.test_by_trial.at("test").min().item<float>(), 0.0f);
    const double mean_std = r.train.to(at::kDouble).std(1).mean().item<double>();
    EXPECT_NEAR(mean_std, 1.0, 0.15);
    for (const char* key : {"cell_ids", "cell_types", "rf_x", "rf_y"}) ASSERT_EQ(r.info.at(key).size(0), n) << key;
    EXPECT_GE(r.info.at("cell_types").min().item<int64_t>(), 1);
    EXPECT_LE(r.info.at("cell_types").max().item<int64_t>(), 5);
    at::Tensor t = truth(session);
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_EQ(t.sizes(), (at::IntArrayRef{n, 150}));
  }
  // The stimuli are normalised with the training movie's statistics.
  at::Tensor train = data->movies.at("session_0").train.to(at::kDouble);
  EXPECT_NEAR(train.mean().item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(train.std(false).item<double>(), 1.0, 1e-5);
}

TEST_F(SimulatedRetina, GroundTruthDescribesEveryRecordedCell) {
  const auto json = nlohmann::json::parse(fovea::io::read_file(dir->file("ground_truth/cells.json")));
  ASSERT_EQ(json["cells"].size(), static_cast<size_t>(summary->n_cells));
  EXPECT_EQ(json["types"].size(), 5u);
  EXPECT_EQ(json["options"]["seed"].get<uint64_t>(), 5u);
  std::map<int64_t, nlohmann::json> by_id;
  for (const auto& c : json["cells"]) by_id[c["id"].get<int64_t>()] = c;
  for (const auto& session : data->sessions()) {
    const auto& info = data->responses.at(session).info;
    const auto ids = json["sessions"][session].get<std::vector<int64_t>>();
    ASSERT_EQ(static_cast<int64_t>(ids.size()), info.at("cell_ids").size(0));
    for (size_t k = 0; k < ids.size(); ++k) {
      EXPECT_EQ(info.at("cell_ids")[k].item<int64_t>(), ids[k]);
      const auto& c = by_id.at(ids[k]);
      EXPECT_EQ(info.at("cell_types")[k].item<int64_t>(), c["type"].get<int64_t>());
      EXPECT_DOUBLE_EQ(info.at("rf_x")[k].item<double>(), c["x"].get<double>());
      EXPECT_DOUBLE_EQ(info.at("rf_y")[k].item<double>(), c["y"].get<double>());
      EXPECT_LT(c["sigma_centre"].get<double>(), c["sigma_surround"].get<double>());
    }
  }
  EXPECT_EQ(fovea::io::read_npy(dir->file("ground_truth/spatial_filters.npy")).sizes(),
            (at::IntArrayRef{summary->n_cells, 2, 18, 16}));
  EXPECT_EQ(fovea::io::read_npy(dir->file("ground_truth/temporal_filters.npy")).sizes(),
            (at::IntArrayRef{summary->n_cells, 30}));
}

TEST_F(SimulatedRetina, TrialAveragesApproachTheTruth) {
  for (const auto& session : data->sessions()) {
    const auto& r = data->responses.at(session);
    const at::Tensor t = truth(session).to(at::kDouble).t();                       // (frames, neurons)
    const at::Tensor average = r.test.at("test").to(at::kDouble).t();
    const at::Tensor single = r.test_by_trial.at("test")[0].to(at::kDouble).t();
    const at::Tensor corr_average = fovea::eval::correlation(average, t);
    const at::Tensor corr_single = fovea::eval::correlation(single, t);
    EXPECT_GT(corr_average.mean().item<double>(), 0.75) << session << corr_average;
    EXPECT_GT(corr_average.min().item<double>(), 0.4) << session << corr_average;
    // Averaging repeats moves towards the truth.
    EXPECT_GT(corr_average.mean().item<double>(), corr_single.mean().item<double>() + 0.05);
    // Each trial's expected value is the truth: the means agree within the noise.
    EXPECT_NEAR(average.mean().item<double>() / t.mean().item<double>(), 1.0, 0.05) << session;
  }
  // The summary's FEV is that of the written repeats.
  for (size_t s = 0; s < 2; ++s) {
    const at::Tensor fev =
        fovea::eval::fev(data->responses.at(data->sessions()[s]).test_by_trial.at("test").permute({2, 0, 1}));
    EXPECT_NEAR(fev.mean().item<double>(), summary->mean_fev[s], 1e-6);
    EXPECT_GT(summary->mean_fev[s], 0.2);
    EXPECT_LT(summary->mean_fev[s], 0.9);
  }
}

TEST_F(SimulatedRetina, NoisyTrainingResponsesFollowTheNoiseFreeRates) {
  // The same seed without noise: the same movies and cells, trials equal to the rates.
  fovea::testing::TempDir clean_dir("fovea_simret_clean");
  SimulateRetinaOptions o = small_options();
  o.noise_scale = 0.0;
  fovea::data::simulate_retina(clean_dir.path(), o);
  const fovea::data::RetinaDataset clean = load(clean_dir.path());
  EXPECT_TRUE(clean.movies.at("session_0").train.equal(data->movies.at("session_0").train));
  for (const auto& session : data->sessions()) {
    const auto& c = clean.responses.at(session);
    EXPECT_TRUE(c.info.at("cell_ids").equal(data->responses.at(session).info.at("cell_ids")));
    // Noise-free trials: every repeat equals the truth of that run.
    const at::Tensor clean_truth = fovea::io::read_npy(clean_dir.file("ground_truth/" + session + ".npy"));
    for (int64_t r = 0; r < 3; ++r) EXPECT_TRUE(c.test_by_trial.at("test")[r].equal(clean_truth));
    // Noisy training responses correlate with the noise-free ones (correlation ignores the scale).
    const at::Tensor corr = fovea::eval::correlation(data->responses.at(session).train.t().to(at::kDouble),
                                                     c.train.t().to(at::kDouble));
    EXPECT_GT(corr.mean().item<double>(), 0.6) << session << corr;
    EXPECT_GT(corr.min().item<double>(), 0.35) << session << corr;
  }
}

TEST(SimulateRetina, SameSeedGivesTheSameNumbers) {
  fovea::testing::TempDir a{"fovea_simret_a"}, b{"fovea_simret_b"}, c{"fovea_simret_c"};
  SimulateRetinaOptions o = small_options(11);
  o.train_frames = 300;
  o.test_frames = 40;
  fovea::data::simulate_retina(a.path(), o);
  // The thread count must not matter either (sums in a fixed order).
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  fovea::data::simulate_retina(b.path(), o);
  at::set_num_threads(threads);
  for (const char* name : {"stimuli/train.npy", "stimuli/test.npy", "ground_truth/session_0.npy",
                           "ground_truth/session_1.npy", "ground_truth/cells.json",
                           "ground_truth/spatial_filters.npy", "README.txt"})
    EXPECT_TRUE(fovea::io::read_file(a.file(name)) == fovea::io::read_file(b.file(name))) << name;
  for (const char* dataset : {"responses_train", "responses_test", "test_by_trial/test", "session_info/cell_ids"})
    EXPECT_TRUE(fovea::io::read_h5_dataset(a.file("session_1.h5"), dataset)
                    .equal(fovea::io::read_h5_dataset(b.file("session_1.h5"), dataset)))
        << dataset;
  o.seed = 12;
  fovea::data::simulate_retina(c.path(), o);
  EXPECT_FALSE(fovea::io::read_file(a.file("stimuli/train.npy")) == fovea::io::read_file(c.file("stimuli/train.npy")));
  EXPECT_FALSE(fovea::io::read_file(a.file("ground_truth/cells.json")) ==
               fovea::io::read_file(c.file("ground_truth/cells.json")));
  EXPECT_FALSE(fovea::io::read_h5_dataset(a.file("session_0.h5"), "responses_train")
                   .equal(fovea::io::read_h5_dataset(c.file("session_0.h5"), "responses_train")));
}

TEST(SimulateRetina, NoiseStimulusHasTheStatedStatistics) {
  fovea::testing::TempDir dir{"fovea_simret"};
  SimulateRetinaOptions o = small_options(2);
  o.train_frames = 800;
  o.test_frames = 20;
  fovea::data::simulate_retina(dir.path(), o);
  const at::Tensor m = fovea::io::read_npy(dir.file("stimuli/train.npy"));  // (2, T, 18, 16)
  // AR(1) in time with a 2-frame time constant: lag-1 correlation exp(-1/2).
  EXPECT_NEAR(lag_correlation(m.slice(1, 0, 799), m.slice(1, 1, 800)), std::exp(-0.5), 0.05);
  EXPECT_NEAR(lag_correlation(m[0], m[1]), 0.3, 0.05);                                   // channels
  EXPECT_NEAR(lag_correlation(m.slice(3, 0, 15), m.slice(3, 1, 16)), 0.0, 0.05);        // pixels independent
}

TEST(SimulateRetina, NaturalMoviesAreSmoothAndChannelsCorrelated) {
  fovea::testing::TempDir dir{"fovea_simret"};
  SimulateRetinaOptions o = small_options(3);
  o.stimulus = "natural";
  o.train_frames = 600;
  o.test_frames = 60;
  const auto summary = fovea::data::simulate_retina(dir.path(), o);
  const at::Tensor m = fovea::io::read_npy(dir.file("stimuli/train.npy"));
  EXPECT_GT(lag_correlation(m.slice(3, 0, 15), m.slice(3, 1, 16)), 0.6);   // neighbouring pixels
  EXPECT_GT(lag_correlation(m.slice(1, 0, 599), m.slice(1, 1, 600)), 0.8); // drifting, not flickering
  EXPECT_NEAR(lag_correlation(m[0], m[1]), 0.8, 0.15);
  // The cells still respond: the layout loads and the trial averages follow the truth.
  const auto d = load(dir.path());
  const at::Tensor corr = fovea::eval::correlation(d.responses.at("session_0").test.at("test").t().to(at::kDouble),
                                                   fovea::io::read_npy(dir.file("ground_truth/session_0.npy")).t().to(at::kDouble));
  EXPECT_GT(corr.mean().item<double>(), 0.6) << corr;
}

TEST(SimulateRetina, OneColourAndOtherSizes) {
  fovea::testing::TempDir dir{"fovea_simret"};
  SimulateRetinaOptions o = small_options(4);
  o.colors = 1;
  o.height = 24;
  o.width = 20;
  o.n_sessions = 3;
  o.neurons_per_session = {8};
  o.train_frames = 200;
  o.test_frames = 30;
  o.n_repeats = 4;
  o.filter_frames = 20;
  const auto summary = fovea::data::simulate_retina(dir.path(), o);
  EXPECT_EQ(summary.sessions, (std::vector<std::string>{"session_0", "session_1", "session_2"}));
  const auto d = load(dir.path(), 1, 24, 20);
  for (const auto& [session, n] : d.n_neurons_dict()) EXPECT_EQ(n, 8) << session;
  EXPECT_EQ(d.responses.at("session_2").test_by_trial.at("test").sizes(), (at::IntArrayRef{4, 8, 30}));
  EXPECT_LE(d.responses.at("session_1").info.at("cell_types").max().item<int64_t>(), 4);  // no opponent type
  EXPECT_EQ(fovea::io::read_npy(dir.file("ground_truth/temporal_filters.npy")).size(1), 20);
}

TEST(SimulateRetina, BadOptionsNameTheProblemAndWriteNothing) {
  fovea::testing::TempDir dir{"fovea_simret"};
  const std::string out = dir.file("never");
  auto expect_error = [&](SimulateRetinaOptions o, const std::string& phrase) {
    try {
      fovea::data::simulate_retina(out, o);
      ADD_FAILURE() << "no error for " << phrase;
    } catch (const fovea::Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("simulate retina: ", 0), 0u) << message;
      EXPECT_NE(message.find(phrase), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
    EXPECT_FALSE(std::filesystem::exists(out));
  };
  SimulateRetinaOptions o = small_options();
  o.neurons_per_session = {3, 4, 5};
  expect_error(o, "one per session (2), got 3");
  o = small_options();
  o.stimulus = "gratings";
  expect_error(o, "'noise' or 'natural', got 'gratings'");
  o = small_options();
  o.n_repeats = 1;
  expect_error(o, "repeats must be at least 2");
  o = small_options();
  o.train_frames = 20;
  expect_error(o, "at least as long as the filters (30)");
  o = small_options();
  o.noise_scale = -1.0;
  expect_error(o, "noise scale");
  o = small_options();
  o.neurons_per_session = {0};
  expect_error(o, "at least 1 neuron");
}

}  // namespace
