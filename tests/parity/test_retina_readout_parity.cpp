// Parity with openretina's MultiGaussianMaskReadout and PoissonLoss3d: the
// golden readout weights, loaded by name, run on the golden core output, must
// give the reference responses, regularisers and Poisson losses.
// (The Poisson loss's unit tests are here too: test_nn does not link fovea_train.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <map>
#include <set>

#include "fovea/error.h"
#include "fovea/io/npy.h"
#include "fovea/io/pickle.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/train/retina_losses.h"
#include "test_util.h"

using fovea::test::golden;
using fovea::test::relative_error;

namespace {

const char* kCase = "openretina_core_readout";

std::string case_file(const std::string& name) { return golden(std::string(kCase) + "/" + name); }

// The readout registered as "readout" in a parent, so its keys read "readout.<session>...".
struct ReadoutInParent {
  std::shared_ptr<torch::nn::Module> parent = std::make_shared<torch::nn::Module>();
  std::shared_ptr<fovea::nn::MultiGaussianMaskReadout> readout;
};

ReadoutInParent build_golden_readout() {
  const auto spec = fovea::test::golden_json()[kCase]["readout"];
  ReadoutInParent m;
  m.readout = m.parent->register_module(
      "readout", std::make_shared<fovea::nn::MultiGaussianMaskReadout>(
                     spec.at("in_shape").get<std::vector<int64_t>>(),
                     spec.at("n_neurons_dict").get<std::map<std::string, int64_t>>(),
                     fovea::nn::GaussianMaskReadoutOptions::from_json(spec)));
  return m;
}

// Copies every `readout.*` tensor of the golden state dict into the model and
// checks that the two key sets are the same.
void load_readout_tensors(ReadoutInParent& m) {
  const auto state = fovea::io::read_state_dict(case_file("state_dict.pt"));
  std::map<std::string, at::Tensor> model_tensors;
  for (const auto& p : m.parent->named_parameters()) model_tensors[p.key()] = p.value();
  for (const auto& b : m.parent->named_buffers()) model_tensors[b.key()] = b.value();
  std::set<std::string> golden_keys;
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : state) {
    if (key.rfind("readout.", 0) != 0) continue;
    golden_keys.insert(key);
    auto it = model_tensors.find(key);
    if (it == model_tensors.end()) {
      ADD_FAILURE() << "golden key missing in the fovea readout: " << key;
      continue;
    }
    ASSERT_EQ(it->second.sizes(), tensor.sizes()) << key;
    // The grid is a buffer fovea computes itself: it must already equal openretina's.
    if (key.size() >= 5 && key.compare(key.size() - 5, 5, ".grid") == 0)
      EXPECT_TRUE(torch::allclose(it->second, tensor.to(at::kFloat), 1e-6, 1e-7)) << key;
    it->second.copy_(tensor);
  }
  EXPECT_FALSE(golden_keys.empty());
  for (const auto& [key, tensor] : model_tensors)
    EXPECT_TRUE(golden_keys.count(key)) << "fovea readout key absent from the golden state dict: " << key;
}

ReadoutInParent golden_readout() {
  auto m = build_golden_readout();
  load_readout_tensors(m);
  m.parent->eval();
  return m;
}

}  // namespace

TEST(RetinaReadoutParity, GoldenWeightsReproduceTheSessionOutputs) {
  SKIP_WITHOUT_GOLDEN();
  auto m = golden_readout();
  torch::NoGradGuard no_grad;
  const at::Tensor core_output = fovea::io::read_npy(case_file("core_output.npy")).to(at::kFloat);
  std::vector<at::Tensor> per_session;
  for (const std::string session : {"session_a", "session_b"}) {
    const at::Tensor expected = fovea::io::read_npy(case_file("output_" + session + ".npy"));
    const at::Tensor output = m.readout->forward(core_output, session);
    ASSERT_EQ(output.sizes(), expected.sizes()) << session;
    const double error = relative_error(output, expected);
    std::cout << "openretina readout output " << session << ": relative error " << error << std::endl;
    EXPECT_LT(error, 1e-4) << session;
    per_session.push_back(expected);
  }
  // Without a data_key: both sessions, concatenated in sorted order.
  const at::Tensor all = m.readout->forward(core_output, "");
  const double error = relative_error(all, torch::cat(per_session, -1));
  std::cout << "openretina readout output, all sessions: relative error " << error << std::endl;
  EXPECT_LT(error, 1e-4);
}

TEST(RetinaReadoutParity, GoldenWeightsReproduceTheRegularizers) {
  SKIP_WITHOUT_GOLDEN();
  auto m = golden_readout();
  const auto g = fovea::test::golden_json()[kCase];
  torch::NoGradGuard no_grad;
  for (const std::string session : {"session_a", "session_b"}) {
    const double expected = g.at("readout_regularizer_" + session).get<double>();
    const double value = m.readout->regularizer(session).item<double>();
    const double error = std::abs(value - expected) / std::abs(expected);
    std::cout << "openretina readout regularizer " << session << ": " << value << " vs " << expected
              << ", relative error " << error << std::endl;
    EXPECT_LT(error, 1e-4) << session;
  }
}

TEST(RetinaReadoutParity, GoldenOutputsGiveTheReferencePoissonLoss) {
  SKIP_WITHOUT_GOLDEN();
  auto m = golden_readout();
  const auto g = fovea::test::golden_json()[kCase];
  torch::NoGradGuard no_grad;
  const at::Tensor core_output = fovea::io::read_npy(case_file("core_output.npy")).to(at::kFloat);
  for (const std::string session : {"session_a", "session_b"}) {
    const at::Tensor target = fovea::io::read_npy(case_file("target_" + session + ".npy")).to(at::kFloat);
    const at::Tensor output = m.readout->forward(core_output, session);
    const double expected = g.at("poisson_loss_" + session).get<double>();
    const double value = fovea::train::poisson_loss_3d(output, target).item<double>();
    const double error = std::abs(value - expected) / std::abs(expected);
    std::cout << "openretina Poisson loss " << session << " (target " << target.sizes() << "): " << value
              << " vs " << expected << ", relative error " << error << std::endl;
    EXPECT_LT(error, 1e-4) << session;
  }
}

// ---- unit tests of the Poisson loss ----

TEST(PoissonLoss3d, SumsOverTheLaggedTarget) {
  at::Tensor out = torch::tensor({0.5f, 2.0f}).view({1, 2, 1});
  at::Tensor target = torch::tensor({100.0f, 1.0f, 3.0f}).view({1, 3, 1});  // lag 1: the 100 is skipped
  const double expected = (0.5 - 1.0 * std::log(0.5)) + (2.0 - 3.0 * std::log(2.0));
  EXPECT_NEAR(fovea::train::poisson_loss_3d(out, target).item<double>(), expected, 1e-5);
  fovea::train::PoissonLoss3dOptions avg;
  avg.avg = true;
  EXPECT_NEAR(fovea::train::poisson_loss_3d(out, target, avg).item<double>(), expected / 2, 1e-5);
  // A zero prediction with a zero target contributes 0, not NaN (0·log(1e-16)).
  at::Tensor zero = torch::zeros({1, 1, 1});
  EXPECT_EQ(fovea::train::poisson_loss_3d(zero, zero).item<double>(), 0.0);
}

TEST(PoissonLoss3d, PerNeuronMeansOverBatchAndTime) {
  torch::manual_seed(4);
  at::Tensor out = torch::rand({2, 3, 4}) + 0.1;
  at::Tensor target = torch::rand({2, 5, 4});
  fovea::train::PoissonLoss3dOptions per;
  per.per_neuron = true;
  at::Tensor l = fovea::train::poisson_loss_3d(out, target, per);
  ASSERT_EQ(l.sizes(), (std::vector<int64_t>{4}));
  at::Tensor y = target.slice(1, 2);
  at::Tensor ref = (out - y * torch::log(out + 1e-16)).mean(at::IntArrayRef{0, 1});
  EXPECT_TRUE(torch::allclose(l, ref, 1e-5, 1e-6));
}

TEST(PoissonLoss3d, ShapeErrors) {
  EXPECT_THROW(fovea::train::poisson_loss_3d(torch::ones({1, 4, 2}), torch::ones({1, 3, 2})), fovea::Error);
  EXPECT_THROW(fovea::train::poisson_loss_3d(torch::ones({1, 3, 2}), torch::ones({1, 3, 3})), fovea::Error);
  EXPECT_THROW(fovea::train::poisson_loss_3d(torch::ones({3, 2}), torch::ones({3, 2})), fovea::Error);
}
