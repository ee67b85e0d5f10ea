// Parity with minimodel: the golden state dicts imported, run on the golden
// inputs, must give the reference outputs, core outputs and loss values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/io/npy.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/v1_cores.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/v1_task.h"
#include "test_util.h"

using fovea::test::golden;
using fovea::test::relative_error;

namespace {

struct Case {
  std::string name;
  std::vector<int64_t> input_shape;  // inferred from the state dict alone
  int64_t n_neurons;
  std::string core_activation;
  bool out_1x1;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class MinimodelParity : public ::testing::TestWithParam<Case> {};

TEST_P(MinimodelParity, ImportedModelReproducesReferenceOutputs) {
  SKIP_WITHOUT_GOLDEN();
  const Case& c = GetParam();
  const auto json = fovea::test::golden_json()[c.name];
  auto model = fovea::nn::import_checkpoint(golden(c.name + "/state_dict.pt"));

  // The architecture was inferred from tensor shapes only.
  EXPECT_EQ(model->input_shape(), c.input_shape);
  EXPECT_EQ(model->readout()->n_neurons(""), c.n_neurons);
  EXPECT_EQ(model->spec()["core"]["activation"], c.core_activation);
  EXPECT_EQ(model->spec()["core"]["out_1x1"], c.out_1x1);
  EXPECT_EQ(model->spec()["core"]["kernel_size"], json["build_model"]["kernel_size"]);
  EXPECT_EQ(model->spec()["core"]["n_conv_mid"], json["build_model"]["n_conv_mid"]);
  EXPECT_EQ(model->n_parameters(), json["n_parameters"].get<int64_t>());

  torch::NoGradGuard no_grad;
  at::Tensor input = fovea::io::read_npy(golden(c.name + "/input.npy"));
  at::Tensor output = model->forward(input);
  at::Tensor expected = fovea::io::read_npy(golden(c.name + "/output.npy"));
  ASSERT_EQ(output.sizes(), expected.sizes());
  const double output_error = relative_error(output, expected);
  EXPECT_LT(output_error, 1e-4);

  at::Tensor core_out = model->core()->forward(input);
  EXPECT_EQ(core_out.sizes().vec(), json["core_output_shape"].get<std::vector<int64_t>>());
  at::Tensor sums = core_out.sum({2, 3});
  const double core_error = relative_error(sums, fovea::io::read_npy(golden(c.name + "/core_channel_sums.npy")));
  EXPECT_LT(core_error, 1e-4);

  at::Tensor target = fovea::io::read_npy(golden(c.name + "/target.npy"));
  const double loss = fovea::train::v1_loss(*model, output, target, 0.03).item<double>();
  const double ref = json["loss_per_neuron_hs0.03"].get<double>();
  EXPECT_LT(std::abs(loss - ref) / std::abs(ref), 1e-4) << loss << " vs " << ref;
  std::cout << c.name << ": relative error of outputs " << output_error << ", core channel sums " << core_error
            << ", loss " << std::abs(loss - ref) / std::abs(ref) << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Golden, MinimodelParity,
                         ::testing::Values(Case{"minimodel_full", {1, 66, 130}, 24, "elu", true},
                                           Case{"minimodel_mini", {1, 33, 65}, 1, "relu", false}),
                         [](const auto& info) { return info.param.name; });

TEST(MinimodelParity, SavedModelFileReloadsToTheSameOutputs) {
  SKIP_WITHOUT_GOLDEN();
  fovea::test::TempDir dir;
  auto model = fovea::nn::import_checkpoint(golden("minimodel_full/state_dict.pt"));
  fovea::nn::save_model(dir.file("full.safetensors"), *model);
  auto again = fovea::nn::load_model(dir.file("full.safetensors"));
  torch::NoGradGuard no_grad;
  at::Tensor input = fovea::io::read_npy(golden("minimodel_full/input.npy"));
  EXPECT_TRUE(torch::equal(model->forward(input), again->forward(input)));
  // BatchNorm running statistics travel with the weights.
  auto a = model->state_dict(), b = again->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

}  // namespace
