// Parity of the whole openretina default model (SimpleCoreWrapper +
// MultiGaussianMaskReadout) built through fovea's model spec and registry:
// once from the golden state dict with the golden constructor arguments, and
// once from checkpoint.ckpt alone (fovea import), which must rebuild the same
// model from the Lightning checkpoint's hyper_parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "fovea/io/npy.h"
#include "fovea/io/pickle.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/retina_core.h"
#include "fovea/train/retina_losses.h"
#include "test_util.h"

using fovea::test::golden;
using fovea::test::relative_error;

namespace {

const char* kCase = "openretina_core_readout";
std::string case_file(const std::string& name) { return golden(std::string(kCase) + "/" + name); }

std::shared_ptr<fovea::nn::Model> model_from_state_dict() {
  const auto g = fovea::test::golden_json()[kCase];
  nlohmann::json spec;
  spec["family"] = "retina";
  spec["core"] = g["core"];
  spec["core"]["type"] = "simple_core_wrapper";
  spec["readout"] = g["readout"];
  spec["readout"]["type"] = "gaussian_mask";
  spec["readout"].erase("in_shape");
  spec["input_shape"] = {2, 60, 18, 16};
  auto model = fovea::nn::build_model(spec);
  model->load_state_dict(fovea::io::read_state_dict(case_file("state_dict.pt")), case_file("state_dict.pt"));
  model->eval();
  return model;
}

// Runs the golden movie and checks the core output, both sessions' outputs,
// the regulariser terms and the Poisson losses.
void expect_reference_numbers(fovea::nn::Model& model, const std::string& label) {
  const auto g = fovea::test::golden_json()[kCase];
  torch::NoGradGuard no_grad;
  const at::Tensor input = fovea::io::read_npy(case_file("input.npy")).to(at::kFloat);
  const at::Tensor core_out = model.core()->forward(input);
  const double core_error = relative_error(core_out, fovea::io::read_npy(case_file("core_output.npy")));
  std::cout << label << ": core output relative error " << core_error << std::endl;
  EXPECT_LT(core_error, 1e-4);
  for (const std::string session : {"session_a", "session_b"}) {
    const at::Tensor out = model.forward(input, session);
    const at::Tensor expected = fovea::io::read_npy(case_file("output_" + session + ".npy"));
    ASSERT_EQ(out.sizes(), expected.sizes()) << session;
    const double error = relative_error(out, expected);
    const at::Tensor target = fovea::io::read_npy(case_file("target_" + session + ".npy")).to(at::kFloat);
    const double loss = fovea::train::poisson_loss_3d(out, target).item<double>();
    const double loss_ref = g.at("poisson_loss_" + session).get<double>();
    const double reg = model.readout()->regularizer(session).item<double>();
    const double reg_ref = g.at("readout_regularizer_" + session).get<double>();
    std::cout << label << ": " << session << " output relative error " << error << ", Poisson loss " << loss
              << " vs " << loss_ref << ", readout regulariser " << reg << " vs " << reg_ref << std::endl;
    EXPECT_LT(error, 1e-4) << session;
    EXPECT_LT(std::abs(loss - loss_ref) / std::abs(loss_ref), 1e-4) << session;
    EXPECT_LT(std::abs(reg - reg_ref) / std::abs(reg_ref), 1e-4) << session;
  }
  auto core = std::dynamic_pointer_cast<fovea::nn::SimpleCoreWrapper>(model.core());
  ASSERT_TRUE(core);
  const auto terms = core->regularizer_terms();
  for (const auto& [name, value] : g["core_regularizer_terms"].items()) {
    ASSERT_TRUE(terms.count(name)) << name;
    const double v = terms.at(name).item<double>(), ref = value.get<double>();
    std::cout << label << ": core regulariser " << name << " " << v << " vs " << ref << std::endl;
    EXPECT_LT(std::abs(v - ref) / std::abs(ref), 1e-4) << name;
  }
  const double total = model.core()->regularizer().item<double>();
  EXPECT_LT(std::abs(total - g["core_regularizer_terms"]["total"].get<double>()) /
                g["core_regularizer_terms"]["total"].get<double>(),
            1e-4);
}

}  // namespace

TEST(RetinaModelParity, FromTheStateDictThroughTheRegistry) {
  SKIP_WITHOUT_GOLDEN();
  auto model = model_from_state_dict();
  expect_reference_numbers(*model, "state_dict.pt");
}

TEST(RetinaModelParity, FromTheLightningCheckpointAlone) {
  SKIP_WITHOUT_GOLDEN();
  auto model = fovea::nn::import_checkpoint(case_file("checkpoint.ckpt"));
  EXPECT_EQ(model->spec().value("family", ""), "retina");
  const auto keys = model->readout_keys();
  EXPECT_EQ(keys, (std::vector<std::string>{"session_a", "session_b"}));
  EXPECT_EQ(model->readout()->n_neurons("session_a"), 7);
  EXPECT_EQ(model->readout()->n_neurons("session_b"), 5);
  expect_reference_numbers(*model, "checkpoint.ckpt");
}

TEST(RetinaModelParity, ImportedCheckpointSurvivesTheFoveaModelFile) {
  SKIP_WITHOUT_GOLDEN();
  fovea::test::TempDir dir;
  auto imported = fovea::nn::import_checkpoint(case_file("checkpoint.ckpt"));
  fovea::nn::save_model(dir.file("model.safetensors"), *imported);
  auto model = fovea::nn::load_model(dir.file("model.safetensors"));
  expect_reference_numbers(*model, "ckpt -> safetensors");
}
