// Bad input on the retina path: exit code 1, one line on stderr naming the
// offending file (and field), and no output file left behind (no model, no
// eval.csv, no temporary *.tmp files). Datasets are a small `fovea simulate
// retina` dataset with one session file rewritten; bad checkpoints are the
// golden openretina checkpoint rewritten by tests/torch_archive_writer.h.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>

#include "cli_runner.h"
#include "fovea/io/hdf5.h"
#include "fovea/io/npy.h"
#include "fovea/io/pickle.h"
#include "torch_archive_writer.h"

namespace fs = std::filesystem;
using fovea::test::run_fovea;

namespace {

class RetinaBadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fovea::test::TempDir();
    auto sim = run_fovea("simulate retina " + dir_->file("data") +
                             " --sessions 2 --neurons-per-session 3 --height 8 --width 8 --train-frames 300"
                             " --test-frames 60 --repeats 2 --filter-frames 8",
                         *dir_);
    ASSERT_EQ(sim.code, 0) << sim.err;
    // A small model of the default architecture (temporal kernels 5 and 3:
    // every prediction looks 6 frames back).
    auto train = run_fovea(train_args(dir_->file("data"), dir_->file("model")), *dir_);
    ASSERT_EQ(train.code, 0) << train.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string train_args(const std::string& data, const std::string& out) {
    return "train --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/retina_demo.yaml data.dir=" + data +
           " output.dir=" + out +
           " training.max_epochs=1 training.batch_size=4 training.chunk_size=20 data.clip_length=50"
           " data.num_val_clips=1 model.hidden_channels=[4,4] model.core.temporal_kernel_sizes=[5,3]"
           " model.core.spatial_kernel_sizes=[3,3] --quiet --threads 1";
  }
  static std::string model() { return dir_->file("model/model.safetensors"); }

  // A copy of the simulated dataset in `name` whose session_0.h5 holds the
  // datasets `edit` makes of the original ones (responses_train,
  // responses_test, test_by_trial/test).
  static std::string dataset_with(const std::string& name,
                                  const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
    const std::string copy = dir_->file(name);
    fs::copy(dir_->file("data"), copy, fs::copy_options::recursive);
    const std::string session = copy + "/session_0.h5";
    std::map<std::string, at::Tensor> d;
    for (const char* key : {"responses_train", "responses_test", "test_by_trial/test"})
      d[key] = fovea::io::read_h5_dataset(session, key);
    edit(d);
    fovea::io::write_h5(session, {d.begin(), d.end()});
    return copy;
  }

  // Paths under `dir` whose name holds ".tmp" (the atomic writers' temporary files).
  static std::vector<std::string> temporary_files(const std::string& dir) {
    std::vector<std::string> found;
    if (!fs::exists(dir)) return found;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().filename().string().find(".tmp") != std::string::npos) found.push_back(e.path().string());
    return found;
  }

  // Runs a command that must fail cleanly: exit 1, one "error: " line naming
  // every string in `names`, none of `outputs` written, no temporary files in `out_dir`.
  static void expect_clean_failure(const std::string& args, const std::vector<std::string>& names,
                                   const std::vector<std::string>& outputs, const std::string& out_dir) {
    auto r = run_fovea(args, *dir_);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_EQ(fovea::test::line_count(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    for (const auto& n : names) EXPECT_NE(r.err.find(n), std::string::npos) << "message does not name '" << n << "': " << r.err;
    for (const auto& o : outputs) EXPECT_FALSE(fs::exists(o)) << o << " was written";
    EXPECT_TRUE(temporary_files(out_dir).empty()) << temporary_files(out_dir).front();
  }

  static void expect_train_and_eval_fail(const std::string& data, const std::vector<std::string>& names,
                                         const std::string& tag) {
    const std::string train_out = dir_->file("train_" + tag), eval_out = dir_->file("eval_" + tag);
    expect_clean_failure(train_args(data, train_out), names,
                         {train_out + "/model.safetensors", train_out + "/eval.csv", train_out + "/metrics.csv"},
                         train_out);
    expect_clean_failure("eval --model " + model() + " --data " + data + " -o " + eval_out + " --threads 1", names,
                         {eval_out + "/eval.csv", eval_out + "/eval.json"}, eval_out);
  }

  // ---- checkpoints: the golden openretina checkpoint, rewritten ----

  // {hyper_parameters (plain dicts), state_dict} of the golden checkpoint, for `edit` to change.
  static std::string checkpoint_with(const std::string& name,
                                     const std::function<void(const fovea::io::PyRef& hp, const fovea::io::PyRef& sd)>& edit) {
    const auto golden = fovea::io::read_torch_archive(
        fovea::test::golden("openretina_core_readout/checkpoint.ckpt"));
    const auto hp = fovea::io::omegaconf_to_plain(golden->get("hyper_parameters"));
    const auto sd = fovea::test::py_dict();
    for (const auto& [k, v] : golden->get("state_dict")->entries) sd->entries.emplace_back(k, v);
    edit(hp, sd);
    const std::string path = dir_->file(name);
    fovea::test::write_torch_archive(path, fovea::test::py_dict({{"epoch", fovea::test::py_int(41)},
                                                                  {"state_dict", sd},
                                                                  {"hyper_parameters", hp}}));
    return path;
  }

  // import, info and predict on a bad checkpoint: each fails naming the file and `names`.
  static void expect_checkpoint_rejected(const std::string& ckpt, std::vector<std::string> names, const std::string& tag) {
    names.insert(names.begin(), ckpt);
    const std::string out = dir_->file("import_" + tag);
    fs::create_directories(out);
    expect_clean_failure("import " + ckpt + " -o " + out + "/model.safetensors", names, {out + "/model.safetensors"}, out);
    expect_clean_failure("info " + ckpt, names, {}, out);
    const std::string movie = dir_->file("golden_movie.npy");
    fovea::io::write_npy(movie, torch::zeros({1, 2, 40, 18, 16}));
    expect_clean_failure("predict --model " + ckpt + " --input " + movie + " -o " + out + "/y.npy --threads 1", names,
                         {out + "/y.npy"}, out);
  }

  static fovea::test::TempDir* dir_;
};
fovea::test::TempDir* RetinaBadInput::dir_ = nullptr;

TEST_F(RetinaBadInput, ResponsesWithOtherFramesThanTheirStimulus) {
  const std::string data = dataset_with("data_frames", [](auto& d) {
    d["responses_train"] = d["responses_train"].slice(1, 0, 250).contiguous();
  });
  expect_train_and_eval_fail(data, {data + "/session_0.h5", "responses_train", "250 frames"}, "frames");
}

TEST_F(RetinaBadInput, ResponsesWithoutAStimulus) {
  // responses_flash: neither stimuli/flash.npy nor stimulus_flash exists.
  const std::string data = dataset_with("data_nostim", [](auto& d) { d["responses_flash"] = d["responses_test"]; });
  expect_train_and_eval_fail(data, {data + "/session_0.h5", "responses_flash", "stimulus_flash"}, "nostim");
}

TEST_F(RetinaBadInput, PredictWithAnUnknownSession) {
  const std::string movie = dir_->file("movie.npy"), out = dir_->file("predict_session");
  fovea::io::write_npy(movie, torch::zeros({1, 2, 30, 8, 8}));
  fs::create_directories(out);
  // The known sessions are listed.
  expect_clean_failure("predict --model " + model() + " --session session_9 --input " + movie + " -o " + out +
                           "/y.npy --threads 1",
                       {model(), "session_9", "session_0, session_1"}, {out + "/y.npy"}, out);
}

TEST_F(RetinaBadInput, PredictOnAMovieTheModelCannotRead) {
  const std::string out = dir_->file("predict_movie");
  fs::create_directories(out);
  const std::string channels = dir_->file("three_channels.npy");
  fovea::io::write_npy(channels, torch::zeros({1, 3, 30, 8, 8}));
  expect_clean_failure("predict --model " + model() + " --session session_0 --input " + channels + " -o " + out +
                           "/y.npy --threads 1",
                       {channels, "(1, 3, 30, 8, 8)", "(n, 2, frames, 8, 8)"}, {out + "/y.npy"}, out);
  // The model reaches 4 + 2 frames back: 6 frames are too few, 7 give one prediction.
  const std::string short_movie = dir_->file("six_frames.npy");
  fovea::io::write_npy(short_movie, torch::zeros({1, 2, 6, 8, 8}));
  expect_clean_failure("predict --model " + model() + " --input " + short_movie + " -o " + out + "/y.npy --threads 1",
                       {short_movie, "6 frames", "at least 7"}, {out + "/y.npy"}, out);
  const std::string just_enough = dir_->file("seven_frames.npy");
  fovea::io::write_npy(just_enough, torch::zeros({1, 2, 7, 8, 8}));
  auto r = run_fovea("predict --model " + model() + " --input " + just_enough + " -o " + out + "/y.npy --threads 1", *dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(fovea::io::read_npy(out + "/y.npy").sizes(), (std::vector<int64_t>{1, 1, 6}));
}

TEST_F(RetinaBadInput, EvalOnADatasetWithOtherSessions) {
  const std::string data = dir_->file("data_sessions");
  fs::copy(dir_->file("data"), data, fs::copy_options::recursive);
  fs::rename(data + "/session_1.h5", data + "/session_x.h5");
  const std::string out = dir_->file("eval_sessions");
  expect_clean_failure("eval --model " + model() + " --data " + data + " -o " + out + " --threads 1",
                       {data + "/session_x.h5", "session_x", "session_0, session_1"},
                       {out + "/eval.csv", out + "/eval.json"}, out);
}

TEST_F(RetinaBadInput, EvalOnADatasetWithOtherNeuronCounts) {
  const std::string data = dataset_with("data_neurons", [](auto& d) {
    d["responses_train"] = d["responses_train"].slice(0, 0, 2).contiguous();
    d["responses_test"] = d["responses_test"].slice(0, 0, 2).contiguous();
    d["test_by_trial/test"] = d["test_by_trial/test"].slice(1, 0, 2).contiguous();
  });
  const std::string out = dir_->file("eval_neurons");
  expect_clean_failure("eval --model " + model() + " --data " + data + " -o " + out + " --threads 1",
                       {data + "/session_0.h5", "2 neurons", "3"}, {out + "/eval.csv", out + "/eval.json"}, out);
}

TEST_F(RetinaBadInput, RewrittenGoldenCheckpointImports) {
  // The control for the cases below: the rewrite itself (plain dicts for the
  // OmegaConf configs) is a checkpoint fovea imports.
  SKIP_WITHOUT_GOLDEN();
  const std::string ckpt = checkpoint_with("control.ckpt", [](const auto&, const auto&) {});
  fs::create_directories(dir_->file("import_control"));
  const std::string out = dir_->file("import_control/model.safetensors");
  auto r = run_fovea("import " + ckpt + " -o " + out, *dir_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out));
}

TEST_F(RetinaBadInput, CheckpointWithAnUnknownCoreClass) {
  SKIP_WITHOUT_GOLDEN();
  const std::string target = "openretina.modules.core.gru_core.ConvGRUCoreNoSuchThing";
  const std::string ckpt = checkpoint_with("unknown_core.ckpt", [&](const auto& hp, const auto&) {
    fovea::test::py_set(hp->get("core"), "_target_", fovea::test::py_str(target));
  });
  expect_checkpoint_rejected(ckpt, {"hyper_parameters.core._target_", target}, "unknown_core");
}

TEST_F(RetinaBadInput, CheckpointWithAMissingWeight) {
  SKIP_WITHOUT_GOLDEN();
  const std::string key = "readout.session_b.mask_mean";
  const std::string ckpt = checkpoint_with("missing_weight.ckpt", [&](const auto&, const auto& sd) {
    ASSERT_TRUE(fovea::test::py_erase(sd, key));
  });
  expect_checkpoint_rejected(ckpt, {key, "missing"}, "missing");
}

TEST_F(RetinaBadInput, CheckpointWithAnExtraWeight) {
  SKIP_WITHOUT_GOLDEN();
  const std::string key = "readout.session_a.extra_weight";
  const std::string ckpt = checkpoint_with("extra_weight.ckpt", [&](const auto&, const auto& sd) {
    fovea::test::py_set(sd, key, fovea::test::py_tensor(torch::ones({3})));
  });
  expect_checkpoint_rejected(ckpt, {key}, "extra");
}

TEST_F(RetinaBadInput, CheckpointWithAWronglyShapedWeight) {
  SKIP_WITHOUT_GOLDEN();
  const std::string key = "core.features.layer0.conv.weight_spatial";  // (16, 2, 1, 11, 11)
  const std::string ckpt = checkpoint_with("wrong_shape.ckpt", [&](const auto&, const auto& sd) {
    fovea::test::py_set(sd, key, fovea::test::py_tensor(torch::zeros({16, 2, 1, 9, 9})));
  });
  expect_checkpoint_rejected(ckpt, {key, "(16, 2, 1, 9, 9)", "(16, 2, 1, 11, 11)"}, "shape");
}

}  // namespace
