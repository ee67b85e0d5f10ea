// Models of some of a recording's neurons (data.neurons; a one-neuron
// minimodel) evaluated against the full dataset: the spec records the
// file's neuron indices, and eval / visualize --data / an imported minimodel
// .pt named as minimodel names them (..._nn<ineuron>_...) pick those neurons.
// Tiny models on a small simulated dataset, trained for one or two epochs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "api/api_test_util.h"
#include "data/temp_dir.h"
#include "fovea/api/evaluate.h"
#include "fovea/api/export.h"
#include "fovea/api/simulate.h"
#include "fovea/api/train.h"
#include "fovea/api/visualize.h"
#include "fovea/data/v1_dataset.h"
#include "fovea/error.h"
#include "fovea/eval/metrics.h"
#include "fovea/nn/model_loader.h"
#include "fovea/nn/predict.h"
#include "test_util.h"

namespace {

using fovea::testing::TempDir;

// A small full model and a minimodel-shaped one (ReLU, no final 1x1, Wc 0.2)
// on 33x65 images.
const std::string kSubsetConfig = fovea::test::tiny_v1_config(4, 8, 2, 3);
const std::string kMinimodelConfig =
    fovea::test::tiny_v1_config(4, 8, 2, 3, ", activation: relu, out_1x1: false", ", Wc_coef: 0.2", ", hoyer_square: 0.03");

std::vector<int64_t> ints(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

class V1Published : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    dir_ = new TempDir("fovea_v1_published_api");
    fovea::api::SimulateV1Options sim;
    sim.dir = dir_->file("data");
    sim.n_neurons = 5, sim.n_train_images = 150, sim.n_test_images = 10, sim.n_repeats = 4, sim.seed = 2;
    fovea::api::simulate_v1(sim);
    // The full dataset as eval reads it (images halved as the configs say).
    fovea::data::V1LoadOptions o;
    o.images_path = dir_->file("data/images.npy");
    o.responses_path = dir_->file("data/responses.npz");
    o.downsample = 2;
    full_ = new fovea::data::V1Dataset(fovea::data::load_v1_dataset(o));
  }
  static void TearDownTestSuite() {
    delete full_;
    delete dir_;
  }
  static fovea::api::TrainResult train(const std::string& config, const std::string& neurons, const std::string& out) {
    fovea::api::TrainOptions o = fovea::test::v1_train_options("test config", config, dir_->file("data"), dir_->file(out));
    o.overrides.push_back("data.neurons=" + neurons);
    return fovea::api::train(o);
  }
  static fovea::api::EvaluateOptions on_full_data(const std::string& model) {
    fovea::api::EvaluateOptions eo;
    eo.model = model;
    eo.data.dir = dir_->file("data");
    eo.output = "";
    return eo;
  }
  // FEVE of `model` computed here from the full dataset's columns `neurons`.
  static at::Tensor feve_on(fovea::nn::Model& model, const std::vector<int64_t>& neurons) {
    at::Tensor pred = fovea::nn::predict(model, full_->test_images());
    return fovea::eval::feve(full_->test_responses.index_select(2, at::tensor(neurons, at::kLong)), pred);
  }
  static TempDir* dir_;
  static fovea::data::V1Dataset* full_;
};
TempDir* V1Published::dir_ = nullptr;
fovea::data::V1Dataset* V1Published::full_ = nullptr;

TEST_F(V1Published, NeuronSubsetIsTrainedAloneAndEvalOnTheFullDataPicksIt) {
  const auto run = train(kSubsetConfig, "[4, 1]", "subset");
  EXPECT_EQ(run.model->spec()["readout"]["n_neurons"].get<int64_t>(), 2);
  EXPECT_EQ(ints(run.model->spec()["data"]["neurons"]), (std::vector<int64_t>{4, 1}));

  const auto ev = fovea::api::evaluate(on_full_data(run.model_path));
  ASSERT_EQ(ev.report.table.size(0), 2);
  EXPECT_EQ(ints(ev.report.summary["neurons"]), (std::vector<int64_t>{4, 1}));
  // FEV of the rows are the recording's neurons 4 and 1 (independent of the model).
  const at::Tensor fev = ev.report.column("fev");
  EXPECT_NEAR(fev[0].item<double>(), full_->fev[4].item<double>(), 1e-9);
  EXPECT_NEAR(fev[1].item<double>(), full_->fev[1].item<double>(), 1e-9);
  const at::Tensor expected = feve_on(*run.model, {4, 1});
  EXPECT_NEAR(ev.report.column("feve")[0].item<double>(), expected[0].item<double>(), 1e-6);
  EXPECT_NEAR(ev.report.column("feve")[1].item<double>(), expected[1].item<double>(), 1e-6);
  // The training run's own evaluation is of the same neurons.
  EXPECT_NEAR(run.evaluation.column("feve")[0].item<double>(), expected[0].item<double>(), 1e-6);
}

TEST_F(V1Published, OneNeuronMinimodelNamesItsNeuronForEvalVisualizeAndImport) {
  const auto run = train(kMinimodelConfig, "[3]", "minimodel");
  EXPECT_EQ(ints(run.model->spec()["data"]["neurons"]), (std::vector<int64_t>{3}));
  const double expected = feve_on(*run.model, {3})[0].item<double>();

  const auto ev = fovea::api::evaluate(on_full_data(run.model_path));
  ASSERT_EQ(ev.report.table.size(0), 1);
  EXPECT_EQ(ints(ev.report.summary["neurons"]), (std::vector<int64_t>{3}));
  EXPECT_NEAR(ev.report.column("feve")[0].item<double>(), expected, 1e-6);
  EXPECT_NEAR(ev.report.column("fev")[0].item<double>(), full_->fev[3].item<double>(), 1e-9);

  // A minimodel file as `fovea minimodels` wrote it before data.neurons: provenance.neuron.
  auto legacy = fovea::nn::load_any_model(run.model_path);
  legacy->spec()["data"].erase("neurons");
  legacy->spec()["minimodel"] = true;
  legacy->spec()["provenance"]["neuron"] = 3;
  EXPECT_NEAR(fovea::api::evaluate(*legacy, on_full_data("legacy")).report.column("feve")[0].item<double>(), expected,
              1e-6);

  // visualize --data: the page's evaluation is of neuron 3.
  fovea::api::VisualizeOptions vo;
  vo.model_path = run.model_path;
  vo.save_folder = dir_->file("visualize");
  vo.data = dir_->file("data");
  vo.weights = false;
  vo.meis = false;
  const auto vis = fovea::api::visualize(vo);
  ASSERT_TRUE(vis.evaluation.has_value());
  ASSERT_EQ(vis.evaluation->table.size(0), 1);
  EXPECT_NEAR(vis.evaluation->column("feve")[0].item<double>(), expected, 1e-6);

  // Exported as minimodel names its files and imported back: the name gives the mouse and the neuron.
  fovea::api::ExportOptions xo;
  xo.model = run.model_path;
  xo.format = "minimodel-pt";
  xo.output = dir_->file("FX10_051623_2layer_4_8_clamp_norm_depthsep_pool_nn3_hs3e-02.pt");
  fovea::api::export_model(xo);
  auto imported = fovea::nn::load_any_model(xo.output);
  EXPECT_EQ(imported->spec()["data"]["mouse"].get<std::string>(), "FX10");
  EXPECT_EQ(ints(imported->spec()["data"]["neurons"]), (std::vector<int64_t>{3}));
  const auto ev_imported = fovea::api::evaluate(on_full_data(xo.output));
  ASSERT_EQ(ev_imported.report.table.size(0), 1);
  EXPECT_NEAR(ev_imported.report.column("feve")[0].item<double>(), expected, 1e-5);
}

TEST_F(V1Published, NeuronOutOfRangeIsNamed) {
  fovea::api::TrainOptions o;
  o.config = "test config";
  o.config_text = kSubsetConfig;
  o.overrides = {"data.images=" + dir_->file("data/images.npy"), "data.responses=" + dir_->file("data/responses.npz"),
                 "data.neurons=[7]"};
  o.output = dir_->file("out_of_range");
  o.quiet = true;
  const std::string m = fovea::test::error_of([&] { fovea::api::train(o); });
  EXPECT_NE(m.find("data.neurons"), std::string::npos) << m;
  EXPECT_NE(m.find("neuron 7 is out of range"), std::string::npos) << m;
  EXPECT_NE(m.find("responses.npz has 5 neurons"), std::string::npos) << m;
  EXPECT_FALSE(std::filesystem::exists(dir_->file("out_of_range")));  // nothing written
}

}  // namespace
