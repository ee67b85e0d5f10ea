// minimodel's monkey minimodel recipe through the binary: a tiny full model
// with configs/v1_monkey_fullmodel.yaml, then configs/v1_monkey_minimodel.yaml
// for one neuron of a small file in the exact layout of
// monkeyv1_cadena_2019.npz (missing trials included): its first layer is the
// full model's, frozen; no early stopping; evaluated with monkey FEVE over
// that neuron's own repeats.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "data/monkey_v1_files.h"
#include "fovea/io/safetensors.h"

using fovea::test::run_fovea;

namespace {

at::Tensor tensor_of(const std::string& file, const std::string& name) {
  for (const auto& [k, t] : fovea::io::read_safetensors(file).tensors)
    if (k == name) return t;
  ADD_FAILURE() << file << " has no " << name;
  return {};
}

TEST(MonkeyMinimodelCli, CopiesTheFullModelsFirstLayerAndEvaluatesMonkeyFeve) {
  fovea::test::TempDir dir;
  const std::string data = dir.file("data");
  std::filesystem::create_directories(data);
  fovea::test::synthetic_monkey_v1().write(data + "/monkeyv1_cadena_2019.npz");
  const std::string configs = std::string(FOVEA_SOURCE_DIR) + "/configs/";
  const std::string tiny = " model.core.n_conv=4 'model.core.kernel_size=[5, 3]' training.batch_size=40 --quiet --threads 1";
  auto full = run_fovea("train --config " + configs + "v1_monkey_fullmodel.yaml data.dir=" + data + " output.dir=" +
                            dir.file("full") + " model.core.n_conv_mid=8 'training.period_epochs=[1]'" + tiny,
                        dir);
  ASSERT_EQ(full.code, 0) << full.err;
  const std::string full_model = dir.file("full/model.safetensors");

  // Neuron 0 counts only its first 3 test repeats (synthetic_monkey_v1).
  auto mini = run_fovea("train --config " + configs + "v1_monkey_minimodel.yaml data.dir=" + data + " output.dir=" +
                            dir.file("mini") + " 'data.neurons=[0]' init.first_layer_from=" + full_model +
                            " model.core.n_conv_mid=6 'training.period_epochs=[2, 1]'" + tiny,
                        dir);
  ASSERT_EQ(mini.code, 0) << mini.err;
  const std::string model = dir.file("mini/model.safetensors");
  const auto spec = nlohmann::json::parse(fovea::io::read_safetensors(model).metadata.at("spec"));
  EXPECT_EQ(spec["data"]["layout"], "monkey_cadena_2019");
  EXPECT_EQ(spec["data"]["neurons"], (std::vector<int64_t>{0}));
  EXPECT_EQ(spec["readout"]["n_neurons"], 1);
  EXPECT_EQ(spec["core"]["frozen_first_layer"], true);
  EXPECT_EQ(spec["core"]["activation"], "relu");
  EXPECT_EQ(spec["core"]["out_1x1"], false);
  const std::string conv0 = "core.features.layer0.conv.weight";
  EXPECT_TRUE(torch::equal(tensor_of(model, conv0), tensor_of(full_model, conv0)));
  // No early stopping: every epoch of the schedule ran (2 + 1).
  EXPECT_EQ(fovea::test::line_count(fovea::test::slurp(dir.file("mini/metrics.csv"))), 1 + 3);

  std::ifstream in(dir.file("mini/eval.json"));
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["n_neurons"], 1);
  EXPECT_EQ(summary["n_repeats"], 4);
  EXPECT_EQ(summary["mean"]["repetitions"], 3) << summary.dump();  // monkey_feve over neuron 0's own repeats
  ASSERT_TRUE(summary["feve_all_neurons"].is_number()) << summary.dump();
  // `fovea eval` picks the same neuron from the full file and agrees.
  auto ev = run_fovea("eval --threads 1 --model " + model + " --data " + data + " -o " + dir.file("eval"), dir);
  ASSERT_EQ(ev.code, 0) << ev.err;
  std::ifstream again(dir.file("eval/eval.json"));
  EXPECT_NEAR(nlohmann::json::parse(again)["feve_all_neurons"].get<double>(), summary["feve_all_neurons"].get<double>(),
              1e-6);
}

}  // namespace
