// Parity with openretina's SimpleCoreWrapper: the golden core weights, loaded
// by name, run on the golden movie, must give the reference core output and
// the reference regulariser terms.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <set>

#include "fovea/io/npy.h"
#include "fovea/io/pickle.h"
#include "fovea/nn/retina_core.h"
#include "test_util.h"

using fovea::test::golden;
using fovea::test::relative_error;

namespace {

const char* kCase = "openretina_core_readout";

// The core registered as "core" in a parent, so its keys read "core.features...".
struct CoreInParent {
  std::shared_ptr<torch::nn::Module> parent = std::make_shared<torch::nn::Module>();
  std::shared_ptr<fovea::nn::SimpleCoreWrapper> core;
};

CoreInParent build_golden_core() {
  CoreInParent m;
  const auto spec = fovea::test::golden_json()[kCase]["core"];
  m.core = m.parent->register_module(
      "core", std::make_shared<fovea::nn::SimpleCoreWrapper>(fovea::nn::SimpleCoreWrapperOptions::from_json(spec)));
  return m;
}

// Copies every `core.*` tensor of the golden state dict into the model and
// checks that the two key sets are the same.
void load_core_tensors(CoreInParent& m) {
  const auto state = fovea::io::read_state_dict(golden(std::string(kCase) + "/state_dict.pt"));
  std::map<std::string, at::Tensor> model_tensors;
  for (const auto& p : m.parent->named_parameters()) model_tensors[p.key()] = p.value();
  for (const auto& b : m.parent->named_buffers()) model_tensors[b.key()] = b.value();
  std::set<std::string> golden_keys;
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : state) {
    if (key.rfind("core.", 0) != 0) continue;
    golden_keys.insert(key);
    auto it = model_tensors.find(key);
    if (it == model_tensors.end()) {
      ADD_FAILURE() << "golden key missing in the fovea core: " << key;
      continue;
    }
    ASSERT_EQ(it->second.sizes(), tensor.sizes()) << key;
    it->second.copy_(tensor);
  }
  for (const auto& [key, tensor] : model_tensors)
    EXPECT_TRUE(golden_keys.count(key)) << "fovea core key absent from the golden state dict: " << key;
}

}  // namespace

TEST(RetinaCoreParity, GoldenWeightsReproduceTheCoreOutput) {
  SKIP_WITHOUT_GOLDEN();
  auto m = build_golden_core();
  load_core_tensors(m);
  m.parent->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor input = fovea::io::read_npy(golden(std::string(kCase) + "/input.npy"));
  const at::Tensor expected = fovea::io::read_npy(golden(std::string(kCase) + "/core_output.npy"));
  const at::Tensor output = m.core->forward(input.to(at::kFloat));
  ASSERT_EQ(output.sizes(), expected.sizes());
  EXPECT_EQ(m.core->output_shape(std::vector<int64_t>(input.sizes().begin() + 1, input.sizes().end())),
            std::vector<int64_t>(expected.sizes().begin() + 1, expected.sizes().end()));
  const double error = relative_error(output, expected);
  std::cout << "openretina core output: relative error " << error << std::endl;
  EXPECT_LT(error, 1e-4);
}

TEST(RetinaCoreParity, GoldenWeightsReproduceTheRegularizerTerms) {
  SKIP_WITHOUT_GOLDEN();
  auto m = build_golden_core();
  load_core_tensors(m);
  const auto reference = fovea::test::golden_json()[kCase]["core_regularizer_terms"];
  const auto terms = m.core->regularizer_terms();
  for (const char* name : {"spatial_laplace", "temporal_smoothness", "group_sparsity_0", "group_sparsity", "total"}) {
    ASSERT_TRUE(terms.count(name)) << name;
    const double ref = reference.at(name).get<double>();
    const double value = terms.at(name).item<double>();
    const double error = std::abs(value - ref) / std::abs(ref);
    std::cout << "openretina core regulariser " << name << ": " << value << " vs " << ref << ", relative error "
              << error << std::endl;
    EXPECT_LT(error, 1e-4) << name;
  }
  const double total = m.core->regularizer().item<double>();
  EXPECT_LT(std::abs(total - reference.at("total").get<double>()) / reference.at("total").get<double>(), 1e-4);
}
