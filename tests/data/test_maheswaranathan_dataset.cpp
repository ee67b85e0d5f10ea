// The Maheswaranathan et al. 2023 layout on small fixture files: sessions,
// the default firing-rate bin, stimulus normalisation with the training
// statistics, fr_normalization, both forms of repeated test trials, and
// one-line errors naming the file for bad fixtures.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "fovea/data/maheswaranathan_dataset.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "test_util.h"

namespace {

using Datasets = std::vector<std::pair<std::string, at::Tensor>>;
namespace fs = std::filesystem;

constexpr int64_t kNeurons = 3, kTrain = 60, kTest = 20, kRepeats = 4, kSide = 8;

// A session file: integer-valued stimuli (as the recordings' 8-bit frames),
// different values per firing-rate bin so that the chosen one is visible.
struct Session {
  at::Tensor train_stimulus = torch::randint(0, 255, {kTrain, kSide, kSide}, torch::kInt64);
  at::Tensor test_stimulus = torch::randint(0, 255, {kTest, kSide, kSide}, torch::kInt64);
  std::map<std::string, at::Tensor> train, test;
  at::Tensor repeats = torch::rand({kRepeats, kNeurons, kTest}) * 10;
  Session() {
    for (const char* bin : {"firing_rate_5ms", "firing_rate_10ms", "firing_rate_20ms"}) {
      train[bin] = torch::rand({kNeurons, kTrain}) * 20;
      test[bin] = torch::rand({kNeurons, kTest}) * 20;
    }
  }
  Datasets datasets() const {
    Datasets d = {{"train/stimulus", train_stimulus}, {"test/stimulus", test_stimulus}};
    for (const auto& [bin, r] : train) d.emplace_back("train/response/" + bin, r);
    for (const auto& [bin, r] : test) d.emplace_back("test/response/" + bin, r);
    return d;
  }
};

class Maheswaranathan : public ::testing::Test {
 protected:
  std::string session_file(const std::string& session, const std::string& name) {
    fs::create_directories(dir.path() / "ganglion_cell_data" / session);
    return (dir.path() / "ganglion_cell_data" / session / name).string();
  }
  fovea::data::MaheswaranathanOptions options() {
    fovea::data::MaheswaranathanOptions o;
    o.dir = dir.path().string();
    return o;
  }
  // The one-line fovea::Error of loading, or "" if it loads.
  std::string load_error(const fovea::data::MaheswaranathanOptions& o) {
    try {
      fovea::data::load_maheswaranathan_2023(o);
    } catch (const fovea::Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      return message;
    }
    return "";
  }
  fovea::test::TempDir dir;
};

TEST_F(Maheswaranathan, ReadsSessionsWithOpenretinasDefaults) {
  Session a, b;
  // Session a: stacked repeats under the response type.
  Datasets da = a.datasets();
  da.emplace_back("test/repeats/firing_rate_10ms", a.repeats);
  fovea::io::write_h5(session_file("15-10-07", "naturalscene.h5"), da);
  // Session b: one dataset per cell, numbered 1, 2, 10 (numeric order, not name order).
  Datasets db = b.datasets();
  db.emplace_back("test/repeats/cell1", b.repeats.select(1, 0));
  db.emplace_back("test/repeats/cell2", b.repeats.select(1, 1));
  db.emplace_back("test/repeats/cell10", b.repeats.select(1, 2));
  fovea::io::write_h5(session_file("15-11-21a", "retina_naturalscene.h5"), db);
  // Another stimulus type in the same folder, and a folder without this stimulus: both ignored.
  fovea::io::write_h5(session_file("15-11-21a", "whitenoise.h5"), {{"train/stimulus", torch::rand({2, 2, 2})}});
  fovea::io::write_h5(session_file("15-11-21b", "whitenoise.h5"), {{"train/stimulus", torch::rand({2, 2, 2})}});

  fovea::data::MaheswaranathanOptions o = options();
  o.fr_normalization = 2.0;
  auto d = fovea::data::load_maheswaranathan_2023(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"15-10-07", "15-11-21a"}));
  for (const auto& [name, s] : std::map<std::string, const Session*>{{"15-10-07", &a}, {"15-11-21a", &b}}) {
    const auto& m = d.movies.at(name);
    const auto& r = d.responses.at(name);
    ASSERT_EQ(m.train.sizes(), (at::IntArrayRef{1, kTrain, kSide, kSide}));
    ASSERT_EQ(m.test.at("test").sizes(), (at::IntArrayRef{1, kTest, kSide, kSide}));
    // z-scored with the training movie's mean and std (ddof 1), computed here in float64.
    const at::Tensor x = s->train_stimulus.to(at::kDouble);
    const double mean = x.mean().item<double>(), std = x.std(true).item<double>();
    EXPECT_TRUE(m.train.to(at::kDouble).allclose((x - mean) / std, 1e-5, 1e-5)) << name;
    EXPECT_TRUE(m.test.at("test").to(at::kDouble).allclose((s->test_stimulus.to(at::kDouble) - mean) / std, 1e-5, 1e-5));
    // firing_rate_10ms by default (data_io/maheswaranathan_2023.yaml), divided by fr_normalization.
    EXPECT_TRUE(r.train.allclose(s->train.at("firing_rate_10ms") / 2.0)) << name;
    EXPECT_TRUE(r.test.at("test").allclose(s->test.at("firing_rate_10ms") / 2.0)) << name;
    ASSERT_EQ(r.test_by_trial.count("test"), 1u) << name;
    EXPECT_TRUE(r.test_by_trial.at("test").allclose(s->repeats / 2.0)) << name;
  }
  EXPECT_EQ(d.n_neurons_dict().at("15-10-07"), kNeurons);

  // Another bin, no normalisation, and the ganglion_cell_data folder given directly.
  o.dir = (dir.path() / "ganglion_cell_data").string();
  o.response_type = "firing_rate_5ms";
  o.fr_normalization = 1.0;
  o.normalize_stimuli = false;
  d = fovea::data::load_maheswaranathan_2023(o);
  EXPECT_TRUE(d.responses.at("15-10-07").train.allclose(a.train.at("firing_rate_5ms")));
  EXPECT_TRUE(d.movies.at("15-10-07").train.equal(a.train_stimulus.to(at::kFloat).unsqueeze(0)));
  // The stacked repeats exist only for 10 ms; the per-cell ones do not depend on the bin.
  EXPECT_EQ(d.responses.at("15-10-07").test_by_trial.count("test"), 0u);
  EXPECT_EQ(d.responses.at("15-11-21a").test_by_trial.count("test"), 1u);
}

TEST_F(Maheswaranathan, OneExtraTrailingResponseBinIsDropped) {
  // The published test set: 5997 response bins for 5996 stimulus frames.
  Session s;
  s.test["firing_rate_10ms"] = torch::rand({kNeurons, kTest + 1});
  Datasets d = s.datasets();
  d.emplace_back("test/repeats/firing_rate_10ms", torch::rand({kRepeats, kNeurons, kTest + 1}));
  fovea::io::write_h5(session_file("s1", "naturalscene.h5"), d);
  auto data = fovea::data::load_maheswaranathan_2023(options());
  const auto& r = data.responses.at("s1");
  EXPECT_TRUE(r.test.at("test").equal(s.test.at("firing_rate_10ms").slice(1, 0, kTest)));
  EXPECT_EQ(r.test_by_trial.at("test").size(2), kTest);
}

TEST_F(Maheswaranathan, BadFixturesAreOneLineErrorsNamingTheFile) {
  const std::string file = session_file("s1", "naturalscene.h5");
  Session s;
  auto write_without = [&](const std::string& skip, Datasets extra = {}) {
    Datasets d;
    for (auto& kv : s.datasets())
      if (kv.first != skip) d.push_back(kv);
    for (auto& kv : extra) d.push_back(kv);
    fovea::io::write_h5(file, d);
  };

  write_without("train/stimulus");
  std::string e = load_error(options());
  EXPECT_NE(e.find(file + ": /train/stimulus is missing"), std::string::npos) << e;

  s.train["firing_rate_10ms"] = torch::rand({kNeurons, kTrain - 5});
  write_without("");
  e = load_error(options());
  EXPECT_NE(e.find(file + ": /train/response/firing_rate_10ms has 55 time bins, the stimulus has 60 frames"),
            std::string::npos)
      << e;
  s = Session();

  s.test["firing_rate_10ms"] = torch::rand({kNeurons, kTest + 3});
  write_without("");
  e = load_error(options());
  EXPECT_NE(e.find(file + ": /test/response/firing_rate_10ms has 23 time bins"), std::string::npos) << e;
  s = Session();

  s.test["firing_rate_10ms"] = torch::rand({kNeurons + 1, kTest});
  write_without("");
  e = load_error(options());
  EXPECT_NE(e.find(file + ": /test/response/firing_rate_10ms has 4 neurons, /train/response/firing_rate_10ms has 3"),
            std::string::npos)
      << e;
  s = Session();

  write_without("", {{"test/repeats/firing_rate_10ms", torch::rand({kRepeats, kNeurons, kTest - 1})}});
  e = load_error(options());
  EXPECT_NE(e.find(file + ": /test/repeats has 19 time bins"), std::string::npos) << e;

  write_without("", {{"test/repeats/cell01", torch::rand({kRepeats, kTest})}});
  e = load_error(options());
  EXPECT_NE(e.find(file + ": /test/repeats has 1 neurons, /test/response/firing_rate_10ms has 3"), std::string::npos)
      << e;

  write_without("");
  fovea::data::MaheswaranathanOptions o = options();
  o.response_type = "firing_rate_30ms";
  e = load_error(o);
  EXPECT_NE(e.find(file + ": /train/response/firing_rate_30ms is missing"), std::string::npos) << e;
  EXPECT_NE(e.find("firing_rate_10ms, firing_rate_20ms, firing_rate_5ms"), std::string::npos) << e;

  s.train_stimulus = torch::rand({kTrain, kSide * kSide});
  write_without("");
  e = load_error(options());
  EXPECT_NE(e.find(file + ": /train/stimulus has 2 dimensions, expected 3 (frames, height, width)"), std::string::npos)
      << e;
  s = Session();

  // Two recordings of the same stimulus in one session folder.
  write_without("");
  fovea::io::write_h5(session_file("s1", "b_naturalscene.h5"), s.datasets());
  e = load_error(options());
  EXPECT_NE(e.find("2 files end in naturalscene.h5"), std::string::npos) << e;

  fovea::test::TempDir empty;
  o = options();
  o.dir = empty.path().string();
  e = load_error(o);
  EXPECT_NE(e.find("no session folder holds a file ending in naturalscene.h5"), std::string::npos) << e;
}

// The published neural_code_data.zip unpacks to
// neural_code_data/ganglion_cell_data/<session>/ (openretina-datasets §4.1):
// the folder it was unpacked in is a valid data.dir.
TEST_F(Maheswaranathan, ReadsTheUnpackedPublishedZipFolder) {
  Session s;
  const fs::path session = dir.path() / "neural_code_data" / "ganglion_cell_data" / "15-10-07";
  fs::create_directories(session);
  fovea::io::write_h5((session / "naturalscene.h5").string(), s.datasets());
  auto d = fovea::data::load_maheswaranathan_2023(options());
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"15-10-07"}));
  EXPECT_TRUE(d.responses.at("15-10-07").train.allclose(s.train.at("firing_rate_10ms")));
  fovea::data::MaheswaranathanOptions o = options();
  o.dir = (dir.path() / "neural_code_data").string();
  EXPECT_EQ(fovea::data::load_maheswaranathan_2023(o).sessions(), (std::vector<std::string>{"15-10-07"}));
}

}  // namespace
