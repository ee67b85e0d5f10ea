// openretina's generic HDF5 layout: sorted concatenation of training stimuli,
// test stimuli by name, session-specific stimuli, and errors naming the file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "fovea/data/retina_dataset.h"
#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"
#include "test_util.h"

namespace {

TEST(RetinaDataset, ReadsTheGenericLayout) {
  fovea::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "stimuli");
  auto b = torch::randn({2, 30, 4, 5}), a = torch::randn({2, 20, 4, 5}), t = torch::randn({2, 10, 4, 5});
  fovea::io::write_npy(dir.file("stimuli/b_movie.npy"), b);
  fovea::io::write_npy(dir.file("stimuli/a_movie.npy"), a);
  fovea::io::write_npy(dir.file("stimuli/test.npy"), t);
  auto ra = torch::rand({3, 20}), rb = torch::rand({3, 30}), rt = torch::rand({3, 10});
  fovea::io::write_h5(dir.file("s1.h5"), {{"responses_b_movie", rb}, {"responses_a_movie", ra}, {"responses_test", rt},
                                          {"session_info/roi_ids", torch::arange(3, torch::kInt64)}});
  auto own = torch::randn({2, 10, 4, 5});
  fovea::io::write_h5(dir.file("s0.h5"), {{"responses_test", torch::rand({4, 10})}, {"stimulus_test", own},
                                          {"responses_a_movie", torch::rand({4, 20})}});
  fovea::data::RetinaLoadOptions o;
  o.dir = dir.path().string();
  o.test_names = {"test"};
  o.stimulus_size = {2, 4, 5};
  o.norm_mean = 1.0;
  o.norm_std = 2.0;
  auto d = fovea::data::load_hdf5_layout(o);
  EXPECT_EQ(d.sessions(), (std::vector<std::string>{"s0", "s1"}));
  EXPECT_EQ(d.n_neurons_dict().at("s0"), 4);
  // Sorted name order: a_movie then b_movie.
  EXPECT_TRUE(torch::allclose(d.responses["s1"].train, torch::cat({ra, rb}, 1)));
  EXPECT_TRUE(torch::allclose(d.movies["s1"].train, (torch::cat({a, b}, 1) - 1.0) / 2.0));
  EXPECT_TRUE(torch::allclose(d.movies["s1"].test["test"], (t - 1.0) / 2.0));
  // A session-specific stimulus replaces the shared one.
  EXPECT_TRUE(torch::allclose(d.movies["s0"].test["test"], (own - 1.0) / 2.0));
  EXPECT_TRUE(torch::equal(d.responses["s1"].info["roi_ids"], torch::arange(3, torch::kInt64)));
}

TEST(RetinaDataset, MismatchedLengthsAndMissingStimuliAreClearErrors) {
  fovea::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "stimuli");
  fovea::io::write_npy(dir.file("stimuli/train.npy"), torch::randn({2, 150, 4, 5}));
  fovea::io::write_h5(dir.file("session_2.h5"), {{"responses_train", torch::rand({3, 120})}});
  fovea::data::RetinaLoadOptions o;
  o.dir = dir.path().string();
  try {
    fovea::data::load_hdf5_layout(o);
    FAIL();
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("session_2.h5: responses_train has 120 frames, the stimulus has 150"),
              std::string::npos)
        << e.what();
  }
  fovea::io::write_h5(dir.file("session_2.h5"), {{"responses_chirp", torch::rand({3, 120})}});
  try {
    fovea::data::load_hdf5_layout(o);
    FAIL();
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("responses_chirp has no stimulus"), std::string::npos) << e.what();
  }
}

}  // namespace

#include "fovea/data/create_data.h"

namespace {

TEST(CreateData, WritesALayoutTheReaderAccepts) {
  fovea::test::TempDir dir;
  fovea::data::CreateDataOptions o;
  o.num_colors = 2;
  o.num_stimuli = 3;
  o.num_sessions = 2;
  o.clip_length = 4;
  fovea::data::create_data(dir.path().string(), o);
  fovea::data::RetinaLoadOptions r;
  r.dir = dir.path().string();
  r.test_names = {"random_noise_2"};
  r.stimulus_size = {2, 16, 8};
  auto d = fovea::data::load_hdf5_layout(r);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"session_0", "session_1"}));
  for (const auto& [session, n] : d.n_neurons_dict()) {
    EXPECT_GE(n, 10);
    EXPECT_LE(n, 29);
    // Training = random_noise_0 (70 clips) + random_noise_1 (71 clips).
    EXPECT_EQ(d.responses[session].train.size(1), (70 + 71) * 4);
    EXPECT_EQ(d.movies[session].test["random_noise_2"].size(1), 72 * 4);
    EXPECT_EQ(d.responses[session].info["celltypes"].size(0), n);
  }
  // The responses follow the stimulus: not constant over time.
  EXPECT_GT(d.responses["session_0"].train.std(1).min().item<double>(), 0.01);
}

}  // namespace
