// End to end through the binary: simulate a retina dataset with known ground
// truth (`fovea simulate retina`), train openretina's default core-readout
// model briefly and the linear-nonlinear-Poisson model on the same data,
// evaluate both, and check the core-readout model predicts the recorded
// trial averages clearly better. Then `eval`, `predict` and `info` on the
// saved model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "fovea/io/npy.h"

using fovea::test::run_fovea;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(RetinaEndToEnd, CoreReadoutModelBeatsTheLNModelOnSimulatedData) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  auto sim = run_fovea("simulate retina " + data + " --sessions 2 --neurons-per-session 20 --seed 3", dir);
  ASSERT_EQ(sim.code, 0) << sim.err;

  const std::string configs = std::string(FOVEA_SOURCE_DIR) + "/configs/";
  const std::string common = " data.dir=" + data + " training.batch_size=16 --quiet --threads 1";
  // The default architecture (2 layers of 16 channels, kernels 21/11 and 11/5).
  auto cnn = run_fovea("train --config " + configs + "retina_demo.yaml output.dir=" + dir.file("cnn") +
                           " training.max_epochs=20" + common,
                       dir);
  ASSERT_EQ(cnn.code, 0) << cnn.err;
  for (const char* f : {"model.safetensors", "metrics.csv", "eval.csv", "eval.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("cnn/") + f)) << f;
  // openretina's LNP model, with fovea's temporal filter of 31 frames.
  auto ln = run_fovea("train --config " + configs + "retina_lnp.yaml output.dir=" + dir.file("ln") +
                          " data.stimulus_size=null data.val_clip_indices=null data.num_val_clips=4"
                          " training.max_epochs=10" + common,
                      dir);
  ASSERT_EQ(ln.code, 0) << ln.err;

  const auto cnn_eval = read_json(dir.file("cnn/eval.json")), ln_eval = read_json(dir.file("ln/eval.json"));
  const double cnn_corr = cnn_eval["mean"]["corr_to_average"].get<double>();
  const double ln_corr = ln_eval["mean"]["corr_to_average"].get<double>();
  std::cout << "correlation to the trial average: core-readout " << cnn_corr << ", LN " << ln_corr
            << "; to the noise-free truth: " << cnn_eval["mean"]["corr_to_truth"] << ", "
            << ln_eval["mean"]["corr_to_truth"] << "; FEVE " << cnn_eval["mean"]["feve_openretina"] << ", "
            << ln_eval["mean"]["feve_openretina"] << std::endl;
  EXPECT_EQ(cnn_eval["n_neurons"].get<int64_t>(), 40);
  EXPECT_EQ(cnn_eval["n_repeats"].get<int64_t>(), 3);
  EXPECT_GT(cnn_corr, ln_corr + 0.15);
  EXPECT_GT(cnn_corr, 0.4);
  EXPECT_GT(cnn_eval["mean"]["corr_to_truth"].get<double>(), 0.45);

  // `fovea eval` on the saved model reproduces the training run's evaluation.
  auto ev = run_fovea("eval --model " + dir.file("cnn/model.safetensors") + " --data " + data + " -o " +
                          dir.file("eval2") + " --threads 1",
                      dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
  EXPECT_NEAR(read_json(dir.file("eval2/eval.json"))["mean"]["corr_to_average"].get<double>(), cnn_corr, 1e-6);

  // Figures of the evaluation: histograms and the neuron-by-neuron comparison of the two models.
  auto plots = run_fovea("plot-eval --eval " + dir.file("cnn/eval.csv") + " --eval " + dir.file("ln/eval.csv") +
                             " --name cnn --name ln -o " + dir.file("figs"),
                         dir);
  ASSERT_EQ(plots.code, 0) << plots.err;
  for (const char* f : {"cnn_vs_ln_corr_to_average.png", "cnn_vs_ln_feve.png", "ln_feve_histogram.png"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("figs/") + f)) << f;

  // visualize with the data: each neuron's evaluation figure and metrics join its weights and MEI.
  auto vis = run_fovea("visualize --model-path " + dir.file("cnn/model.safetensors") + " --save-folder " +
                           dir.file("vis") + " --data " + data + " --steps 2 --image-file-format png --threads 1",
                       dir);
  ASSERT_EQ(vis.code, 0) << vis.err;
  for (const char* f : {"evaluation/session_0/neuron_19.png", "evaluation/session_1/neuron_0.png",
                        "evaluation/corr_to_average_histogram.png", "output_neurons/session_1/19.mp4",
                        "weights_core/weights_layer_1/15_15_.png"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("vis/") + f)) << f;
  EXPECT_NE(fovea::test::slurp(dir.file("vis/index.html")).find("corr_to_average"), std::string::npos);

  // `fovea predict` on one session and on all of them.
  torch::manual_seed(0);
  fovea::io::write_npy(dir.file("movie.npy"), torch::randn({2, 2, 60, 18, 16}));
  auto one = run_fovea("predict --model " + dir.file("cnn/model.safetensors") + " --session session_1 --input " +
                           dir.file("movie.npy") + " -o " + dir.file("one.npy"),
                       dir);
  ASSERT_EQ(one.code, 0) << one.err;
  auto all = run_fovea("predict --model " + dir.file("cnn/model.safetensors") + " --input " + dir.file("movie.npy") +
                           " -o " + dir.file("all.npy"),
                       dir);
  ASSERT_EQ(all.code, 0) << all.err;
  const at::Tensor y1 = fovea::io::read_npy(dir.file("one.npy")), ya = fovea::io::read_npy(dir.file("all.npy"));
  EXPECT_EQ(y1.sizes(), (std::vector<int64_t>{2, 30, 20})) << "60 frames minus the lag of 30, 20 neurons";
  EXPECT_EQ(ya.sizes(), (std::vector<int64_t>{2, 30, 40}));
  EXPECT_TRUE(torch::allclose(ya.narrow(2, 20, 20), y1)) << "all sessions = sessions concatenated in sorted order";

  auto info = run_fovea("info " + dir.file("cnn/model.safetensors"), dir);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("session session_0: 20 neurons"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("family: retina"), std::string::npos) << info.out;
}
