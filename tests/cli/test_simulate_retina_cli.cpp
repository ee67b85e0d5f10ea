// `fovea simulate retina`: a small dataset that the generic HDF5 reader
// loads with the requested sizes, and bad options that exit non-zero with one
// line naming the option.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "cli_runner.h"
#include "fovea/data/retina_dataset.h"
#include "fovea/io/npy.h"

using fovea::test::run_fovea;

namespace {

TEST(SimulateRetinaCli, WritesAReadableDataset) {
  fovea::test::TempDir dir;
  const std::string out = dir.file("retina");
  auto r = run_fovea("simulate retina " + out +
                         " --sessions 2 --neurons-per-session 5,7 --stimulus natural --colors 2 --height 18 --width 16"
                         " --train-frames 200 --test-frames 40 --repeats 3 --seed 3",
                     dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2 sessions (5, 7 neurons"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mean FEV of the test repeats"), std::string::npos) << r.out;

  fovea::data::RetinaLoadOptions o;
  o.dir = out;
  o.test_names = {"test"};
  o.stimulus_size = {2, 18, 16};
  const auto d = fovea::data::load_hdf5_layout(o);
  ASSERT_EQ(d.sessions(), (std::vector<std::string>{"session_0", "session_1"}));
  EXPECT_EQ(d.n_neurons_dict().at("session_0"), 5);
  EXPECT_EQ(d.n_neurons_dict().at("session_1"), 7);
  EXPECT_EQ(d.responses.at("session_1").train.sizes(), (at::IntArrayRef{7, 200}));
  EXPECT_EQ(d.responses.at("session_1").test_by_trial.at("test").sizes(), (at::IntArrayRef{3, 7, 40}));
  EXPECT_EQ(fovea::io::read_npy(out + "/ground_truth/session_1.npy").sizes(), (at::IntArrayRef{7, 40}));
  for (const char* name : {"ground_truth/cells.json", "README.txt", "stimuli/train.npy", "stimuli/test.npy"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + name)) << name;

  // The same seed again gives the same stimulus and truth.
  auto again = run_fovea("simulate retina " + dir.file("again") +
                             " --sessions 2 --neurons-per-session 5,7 --stimulus natural --train-frames 200"
                             " --test-frames 40 --seed 3",
                         dir);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(fovea::io::read_npy(out + "/ground_truth/session_0.npy")
                  .equal(fovea::io::read_npy(dir.file("again/ground_truth/session_0.npy"))));
}

TEST(SimulateRetinaCli, BadOptionsExitNonZeroWithOneLine) {
  fovea::test::TempDir dir;
  const std::string out = dir.file("never");
  struct Case {
    std::string args;
    int code;
    std::string phrase;
  };
  const std::vector<Case> cases = {
      {"--stimulus gratings", 2, "--stimulus"},
      {"--no-such-option 3", 2, "--no-such-option"},
      {"--repeats 1", 2, "--repeats"},
      {"--sessions 2 --neurons-per-session 3,4,5", 1, "one per session (2), got 3"},
      {"--train-frames 20 --filter-frames 30", 1, "at least as long as the filters (30)"},
  };
  for (const Case& c : cases) {
    auto r = run_fovea("simulate retina " + out + " " + c.args, dir);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.phrase), std::string::npos) << c.args << ": " << r.err;
    if (c.code == 1) {
      EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
      EXPECT_EQ(r.err.rfind("error: simulate retina: ", 0), 0u) << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(out)) << c.args << " wrote " << out;
  }
  // The directory argument is required.
  EXPECT_EQ(run_fovea("simulate retina --seed 1", dir).code, 2);
}

}  // namespace
