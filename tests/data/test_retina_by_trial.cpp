// Repeated test trials in openretina's generic HDF5 layout: the three places
// a session file may hold them, the trial average derived when it is absent,
// and clear errors for conflicting or misfit trials.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "fovea/data/retina_dataset.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"
#include "test_util.h"

namespace {

using Datasets = std::vector<std::pair<std::string, at::Tensor>>;

class RetinaByTrial : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.path() / "stimuli");
    fovea::io::write_npy(dir.file("stimuli/train.npy"), torch::randn({1, 40, 3, 4}));
    fovea::io::write_npy(dir.file("stimuli/test.npy"), torch::randn({1, 12, 3, 4}));
  }
  fovea::data::RetinaDataset load() {
    fovea::data::RetinaLoadOptions o;
    o.dir = dir.path().string();
    o.test_names = {"test"};
    return fovea::data::load_hdf5_layout(o);
  }
  // The fovea::Error of loading, or "" if it loads.
  std::string load_error() {
    try {
      load();
    } catch (const fovea::Error& e) {
      return e.what();
    }
    return "";
  }
  fovea::test::TempDir dir;
  at::Tensor train = torch::rand({5, 40}), trials = torch::rand({3, 5, 12});
};

TEST_F(RetinaByTrial, GroupDatasetWithAverage) {
  const at::Tensor average = torch::rand({5, 12});  // need not be the mean: the file's average is kept
  fovea::io::write_h5(dir.file("s.h5"),
                      {{"responses_train", train}, {"responses_test", average}, {"test_by_trial/test", trials}});
  auto d = load();
  const auto& r = d.responses.at("s");
  EXPECT_TRUE(r.test.at("test").equal(average));
  EXPECT_TRUE(r.test_by_trial.at("test").equal(trials));
  EXPECT_TRUE(r.train.equal(train));
  EXPECT_EQ(d.movies.at("s").test.at("test").size(1), 12);
}

TEST_F(RetinaByTrial, SuffixedDatasetWithoutAverageGivesTheMean) {
  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train}, {"responses_test_by_trial", trials}});
  auto d = load();
  const auto& r = d.responses.at("s");
  EXPECT_TRUE(r.test_by_trial.at("test").equal(trials));
  EXPECT_TRUE(r.test.at("test").allclose(trials.mean(0)));
  EXPECT_EQ(r.test.size(), 1u) << "test_by_trial must not become a stimulus of its own";
}

TEST_F(RetinaByTrial, ThreeDimensionalTestResponses) {
  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train}, {"responses_test", trials}});
  auto d = load();
  EXPECT_TRUE(d.responses.at("s").test_by_trial.at("test").equal(trials));
  EXPECT_TRUE(d.responses.at("s").test.at("test").allclose(trials.mean(0)));
}

TEST_F(RetinaByTrial, FilesWithoutTrialsHaveNone) {
  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train}, {"responses_test", torch::rand({5, 12})}});
  EXPECT_TRUE(load().responses.at("s").test_by_trial.empty());
}

TEST_F(RetinaByTrial, MisfitOrConflictingTrialsAreClearErrors) {
  const at::Tensor average = trials.mean(0);
  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train},
                                         {"responses_test", average},
                                         {"test_by_trial/test", trials},
                                         {"responses_test_by_trial", trials}});
  std::string e = load_error();
  EXPECT_NE(e.find("s.h5: repeated trials of 'test' are given twice"), std::string::npos) << e;

  fovea::io::write_h5(dir.file("s.h5"),
                      {{"responses_train", train}, {"responses_test", average}, {"test_by_trial/test", trials.slice(2, 0, 10)}});
  e = load_error();
  EXPECT_NE(e.find("s.h5: test_by_trial/test has 10 frames, the stimulus has 12"), std::string::npos) << e;

  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train},
                                         {"responses_test", average},
                                         {"test_by_trial/test", torch::rand({3, 4, 12})}});
  e = load_error();
  EXPECT_NE(e.find("test_by_trial/test has 4 neurons, the trial average 5"), std::string::npos) << e;

  fovea::io::write_h5(dir.file("s.h5"),
                      {{"responses_train", train}, {"responses_test", average}, {"test_by_trial/train", trials}});
  e = load_error();
  EXPECT_NE(e.find("test_by_trial/train holds repeated trials of 'train', which is not one of the test stimuli"),
            std::string::npos)
      << e;

  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train},
                                         {"responses_test", average},
                                         {"responses_train_by_trial", torch::rand({2, 5, 40})}});
  e = load_error();
  EXPECT_NE(e.find("responses_train_by_trial holds repeated trials of 'train'"), std::string::npos) << e;

  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", torch::rand({2, 5, 40})}, {"responses_test", average}});
  e = load_error();
  EXPECT_NE(e.find("responses_train must be (neurons, time), got (2, 5, 40)"), std::string::npos) << e;

  at::Tensor with_nan = trials.clone();
  with_nan[1][2][3] = NAN;
  fovea::io::write_h5(dir.file("s.h5"), {{"responses_train", train}, {"test_by_trial/test", with_nan}});
  e = load_error();
  EXPECT_NE(e.find("test_by_trial/test contains 1 NaN values"), std::string::npos) << e;
}

}  // namespace
