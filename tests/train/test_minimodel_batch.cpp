// Many minimodels in one pass (minimodel_batch.h) give the minimodels that
// fitting them one after another (train_v1 per neuron) gives: the same
// parameters, BatchNorm statistics, best epoch and epochs run, within float
// rounding, for minimodels that stop early and ones that do not, whether
// all train at once or slots are refilled as minimodels finish.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "../kernel_test_util.h"
#include "../test_util.h"
#include "fovea/nn/kernels/gemm.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/model.h"
#include "fovea/nn/model_file.h"
#include "fovea/train/minimodel_batch.h"
#include "fovea/train/minimodels.h"

namespace {

using fovea::test::TempDir;

nlohmann::json full_spec() {
  return {{"family", "v1"},
          {"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", 8}, {"kernel_size", {7, 3}},
                    {"activation", "elu"}, {"out_1x1", true}}},
          {"readout", {{"type", "rank1"}, {"n_neurons", 4}}},
          {"input_shape", {1, 20, 24}}};
}

// 64 trials of 40 images (some shown twice) and 4 neurons; 10 test images
// shown twice. Neurons 0 and 1 follow the images (a blurred pixel), so
// their minimodels keep improving; neurons 2 and 3 are noise, whose
// validation score stops rising early.
fovea::data::V1Dataset dataset(bool masked) {
  torch::manual_seed(11);
  fovea::data::V1Dataset d;
  d.images = torch::avg_pool2d(torch::randn({50, 1, 22, 26}), 3, 1).squeeze(1).contiguous();
  d.train_image_index = torch::arange(64) % 40;
  d.test_image_index = torch::arange(40, 50);
  at::Tensor pixels = d.images.index_select(0, d.train_image_index);
  at::Tensor signal = torch::stack({pixels.select(1, 8).select(1, 10), pixels.select(1, 12).select(1, 6)}, 1);
  d.train_responses = torch::cat({torch::softplus(3 * signal) + 0.05 * torch::rand({64, 2}), torch::rand({64, 2}) + 0.2}, 1);
  d.test_responses = torch::rand({10, 2, 4}) + 0.2;
  d.fev = torch::full({4}, 0.5, torch::kFloat64);
  d.good_neurons = torch::ones({4}, torch::kBool);
  d.response_std = torch::ones({4});
  d.xpos = torch::rand({4}) * 24;
  d.ypos = torch::rand({4}) * 20;
  fovea::data::split_train_val(64, 0.75, d.itrain, d.ival);
  d.origin = "test data";
  if (masked) {
    // Monkey recordings miss some trials per neuron (minimodel's monkey_train):
    // the loss and the score leave them out, whatever they hold.
    d.real_responses = torch::rand({64, 4}) > 0.25;
    d.train_responses = d.train_responses.masked_fill(d.real_responses.logical_not(), NAN);
  }
  return d;
}

struct Fitted {
  std::vector<std::shared_ptr<fovea::nn::Model>> models;  // in the neurons' order
};

Fitted fit(const TempDir& dir, const std::string& name, int64_t batch, bool masked = false) {
  fovea::nn::ScopedKernelSet fast(fovea::nn::KernelSet::fast);
  const auto data = dataset(masked);
  torch::manual_seed(3);
  auto full = fovea::nn::build_model(full_spec());
  full->eval();
  const std::string full_path = dir.file("full.safetensors");
  if (!std::filesystem::exists(full_path)) fovea::nn::save_model(full_path, *full);
  auto saved = fovea::nn::load_model(full_path);
  nlohmann::json config = fovea::train::default_minimodel_config(*saved);
  config["data"] = {{"images", "in memory"}, {"responses", "in memory"}};
  config["model"]["core"]["n_conv_mid"] = 6;
  config["training"]["period_epochs"] = {5, 3};
  config["training"]["patience"] = 2;
  config["training"]["batch_size"] = 16;
  config["training"]["lr"] = 0.01;
  config["seed"] = 5;
  const std::vector<int64_t> neurons = {0, 2, 1, 3};
  const auto rows = fovea::train::fit_minimodels(*saved, full_path, data, neurons, config, dir.file(name), false, {},
                                                 false, batch);
  Fitted f;
  for (const auto& row : rows) f.models.push_back(fovea::nn::load_model(row.model_path));
  return f;
}

void expect_same_minimodels(const Fitted& a, const Fitted& b, int64_t* early_stopped) {
  ASSERT_EQ(a.models.size(), b.models.size());
  for (size_t m = 0; m < a.models.size(); ++m) {
    const auto& pa = a.models[m]->spec()["provenance"];
    const auto& pb = b.models[m]->spec()["provenance"];
    EXPECT_EQ(pa["best_epoch"], pb["best_epoch"]) << "minimodel " << m;
    EXPECT_EQ(pa["epochs_run"], pb["epochs_run"]) << "minimodel " << m;
    EXPECT_EQ(pa["neuron"], pb["neuron"]);
    EXPECT_NEAR(pa["best_val_varexp"].get<double>(), pb["best_val_varexp"].get<double>(), 1e-4) << "minimodel " << m;
    if (pa["epochs_run"].get<int64_t>() < 8) ++*early_stopped;
    auto sa = a.models[m]->named_parameters(), sb = b.models[m]->named_parameters();
    for (const auto& p : sa) {
      const at::Tensor q = sb[p.key()];
      EXPECT_LT(fovea::test::max_relative_error(p.value(), q), 2e-4) << "minimodel " << m << " " << p.key();
    }
    auto ba = a.models[m]->named_buffers(), bb = b.models[m]->named_buffers();
    for (const auto& p : ba)
      EXPECT_LT(fovea::test::max_relative_error(p.value().to(torch::kDouble), bb[p.key()].to(torch::kDouble)), 2e-4)
          << "minimodel " << m << " " << p.key();
  }
}

TEST(MinimodelBatch, OnePassGivesTheMinimodelsOfTheSequentialFit) {
  TempDir dir;
  const Fitted one_by_one = fit(dir, "sequential", 1);
  const Fitted together = fit(dir, "together", 4);
  int64_t early = 0;
  expect_same_minimodels(one_by_one, together, &early);
  // The data make some minimodels stop a period early: the test covers a
  // slot whose schedule differs from the others'.
  EXPECT_GE(early, 1);
  EXPECT_LT(early, 4);
}

TEST(MinimodelBatch, RefilledSlotsInDifferentEpochsGiveTheSameMinimodels) {
  // Two slots for four minimodels: a finished minimodel's slot takes the
  // next neuron, which then trains in other epochs (other batches) than
  // the slot beside it.
  TempDir dir;
  const Fitted one_by_one = fit(dir, "sequential", 1);
  const Fitted two_slots = fit(dir, "two", 2);
  int64_t early = 0;
  expect_same_minimodels(one_by_one, two_slots, &early);
}

TEST(MinimodelBatch, MissingTrialsAreLeftOutAsInTheSequentialFit) {
  TempDir dir;
  const Fitted one_by_one = fit(dir, "sequential", 1, true);
  const Fitted together = fit(dir, "together", 3, true);
  int64_t early = 0;
  expect_same_minimodels(one_by_one, together, &early);
  for (const auto& m : together.models)
    for (const auto& p : m->parameters()) EXPECT_TRUE(p.isfinite().all().item<bool>());
}

TEST(MinimodelBatch, GroupedPointwiseConvMatchesLibTorch) {
  fovea::nn::ScopedKernelSet fast(fovea::nn::KernelSet::fast);
  torch::manual_seed(1);
  const at::Tensor x = torch::randn({3, 3 * 4, 5, 7}, torch::kFloat64);
  const at::Tensor w = torch::randn({3 * 6, 4, 1, 1}, torch::kFloat64);
  const at::Tensor g = torch::randn({3, 3 * 6, 5, 7}, torch::kFloat64);
  auto xr = x.clone().requires_grad_(), wr = w.clone().requires_grad_();
  at::Tensor ref = at::conv2d(xr, wr, at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0},
                              at::IntArrayRef{1, 1}, 3);
  ref.backward(g);
  auto xf = x.to(torch::kFloat32).requires_grad_(), wf = w.to(torch::kFloat32).requires_grad_();
  at::Tensor out = fovea::nn::pointwise_conv2d(xf, wf, 3);
  EXPECT_TRUE(fovea::test::graph_contains(out, "GroupedPointwiseConv2d"));
  out.backward(g.to(torch::kFloat32));
  EXPECT_LT(fovea::test::max_relative_error(out, ref), 1e-5);
  EXPECT_LT(fovea::test::max_relative_error(xf.grad(), xr.grad()), 1e-5);
  EXPECT_LT(fovea::test::max_relative_error(wf.grad(), wr.grad()), 1e-5);
}

TEST(MinimodelBatch, ZeroSlotsIsRefused) {
  TempDir dir;
  const std::string message = fovea::test::error_of([&] { fit(dir, "none", 0); });
  EXPECT_NE(message.find("--batch-minimodels"), std::string::npos) << message;
}

}  // namespace
