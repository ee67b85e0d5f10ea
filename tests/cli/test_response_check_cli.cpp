// Responses that break the loss's assumptions (issue 19, "your own
// recording"): negative values under a Poisson loss and NaNs stop `fovea
// train` before training with one line naming the count, the first neurons
// and what to do; constant neurons are a warning and training goes on.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"

using fovea::test::run_fovea;
namespace fs = std::filesystem;

namespace {

// Rewrites responses_train of a simulated session file through `edit`.
template <typename Edit>
void edit_training_responses(const std::string& file, Edit edit) {
  using fovea::io::read_h5_dataset;
  std::vector<std::pair<std::string, at::Tensor>> sets;
  at::Tensor train = read_h5_dataset(file, "responses_train").clone();
  edit(train);
  sets.emplace_back("responses_train", train);
  sets.emplace_back("responses_test", read_h5_dataset(file, "responses_test"));
  sets.emplace_back("test_by_trial/test", read_h5_dataset(file, "test_by_trial/test"));
  for (const auto& name : fovea::io::h5_members(file, "session_info"))
    sets.emplace_back("session_info/" + name, read_h5_dataset(file, "session_info/" + name));
  fovea::io::write_h5(file, sets);
}

class ResponseCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    auto sim = run_fovea("simulate retina " + data_ +
                             " --sessions 2 --neurons-per-session 6 --train-frames 1500 --test-frames 90 --seed 5",
                         dir_);
    ASSERT_EQ(sim.code, 0) << sim.err;
  }
  fovea::test::CliResult train(const std::string& extra) {
    return run_fovea("train --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/retina_demo.yaml data.dir=" +
                         data_ + " output.dir=" + dir_.file("run") +
                         " training.max_epochs=1 training.batch_size=8 --quiet --threads 1" + extra,
                     dir_);
  }
  fovea::test::TempDir dir_;
  std::string data_;
};

}  // namespace

TEST_F(ResponseCheck, NegativeResponsesUnderAPoissonLossStopTrainingAndMseAcceptsThem) {
  // ΔF/F-like traces: neurons 1, 3 and 4 of session_1 go below zero.
  edit_training_responses(data_ + "/session_1.h5", [](at::Tensor& r) {
    for (int64_t n : {1, 3, 4}) r[n] -= r[n].max() + 0.5;
  });
  auto poisson = train("");
  EXPECT_EQ(poisson.code, 1);
  EXPECT_EQ(fovea::test::line_count(poisson.err), 1) << poisson.err;
  for (const char* part : {"3 neurons (session_1 neuron 1, session_1 neuron 3, session_1 neuron 4)", "negative",
                           "poisson loss", "use loss: mse"})
    EXPECT_NE(poisson.err.find(part), std::string::npos) << part << " in: " << poisson.err;
  EXPECT_FALSE(fs::exists(dir_.file("run/model.safetensors"))) << "stopped before training";

  auto mse = train(" training.loss=mse");
  EXPECT_EQ(mse.code, 0) << mse.err;
  EXPECT_TRUE(fs::exists(dir_.file("run/model.safetensors")));
}

TEST_F(ResponseCheck, ConstantNeuronsAreAWarningAndTrainingGoesOn) {
  edit_training_responses(data_ + "/session_0.h5", [](at::Tensor& r) { r[2].fill_(0.0); });
  auto run = train("");
  ASSERT_EQ(run.code, 0) << run.err;
  const std::string log = run.out + run.err;  // spdlog writes its warnings to stdout
  EXPECT_NE(log.find("[warning]"), std::string::npos) << log;
  EXPECT_NE(log.find("1 neuron (session_0 neuron 2)"), std::string::npos) << log;
  EXPECT_NE(log.find("never change"), std::string::npos) << log;
}
