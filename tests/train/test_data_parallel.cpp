// The pieces of data-parallel training that one process can check (the
// two-worker runs are tests/cli/test_data_parallel_cli.cpp): SyncBatchNorm
// on a one-worker c10d group is LibTorch's BatchNorm (forward, backward,
// running statistics); the shares of a partition of a batch plus the
// regulariser are the batch's loss and gradient, for the V1 losses (plain,
// masked, Hoyer-square) and the retina losses (means and sums); the parts
// cover a batch; the gradient all-reduce leaves an absent gradient absent.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <map>

#include "fovea/nn/batch_norm_sync.h"
#include "fovea/nn/model.h"
#include "fovea/train/data_parallel.h"
#include "fovea/train/distributed.h"
#include "fovea/train/retina_task.h"
#include "fovea/train/v1_task.h"
#include "small_retina_model.h"

namespace {

using fovea::train::DataParallel;

std::shared_ptr<DataParallel> one_worker(bool sync_batch_norm) {
  fovea::train::WorkerEnv env;
  env.master_port = fovea::train::free_local_port();
  return std::make_shared<DataParallel>(std::make_shared<fovea::train::ProcessGroup>(env, std::chrono::seconds(20)),
                                        sync_batch_norm);
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = std::max(b.abs().max().item<double>(), 1e-6);
  EXPECT_LE((a - b).abs().max().item<double>(), tol * scale) << what;
}

TEST(DataParallel, SyncBatchNormOnOneWorkerIsLibTorchsBatchNorm) {
  auto dp = one_worker(true);
  for (bool cumulative : {false, true}) {
    torch::manual_seed(1);
    auto options = torch::nn::BatchNormOptions(4).eps(1e-3);
    if (cumulative) options.momentum(c10::nullopt);
    torch::nn::BatchNorm3d synced(options), plain(options);
    {
      torch::NoGradGuard no_grad;
      synced->weight.uniform_(0.5, 1.5);
      synced->bias.uniform_(-1, 1);
      plain->weight.copy_(synced->weight);
      plain->bias.copy_(synced->bias);
    }
    for (int step = 0; step < 2; ++step) {
      at::Tensor x = (torch::randn({3, 4, 5, 6, 2}) * 3 + 1).requires_grad_();
      at::Tensor x2 = x.detach().clone().requires_grad_();
      at::Tensor w = torch::randn({3, 4, 5, 6, 2});
      at::Tensor y = fovea::nn::batch_norm(synced, x);
      at::Tensor y2 = plain->forward(x2);
      expect_close(y, y2, 1e-5, "output");
      (y * w).sum().backward();
      (y2 * w).sum().backward();
      expect_close(x.grad(), x2.grad(), 1e-4, "input gradient");
    }
    expect_close(synced->weight.grad(), plain->weight.grad(), 1e-5, "weight gradient");
    expect_close(synced->bias.grad(), plain->bias.grad(), 1e-5, "bias gradient");
    expect_close(synced->running_mean, plain->running_mean, 1e-5, "running mean");
    expect_close(synced->running_var, plain->running_var, 1e-5, "running var");
    EXPECT_EQ(synced->num_batches_tracked.item<int64_t>(), 2);
    // In eval mode the running statistics are used, synchronised or not.
    synced->eval();
    plain->eval();
    at::Tensor x = torch::randn({2, 4, 3, 3, 3});
    expect_close(fovea::nn::batch_norm(synced, x), plain->forward(x), 1e-5, "eval output");
  }
  EXPECT_NE(fovea::nn::batch_norm_sync(), nullptr);
  dp.reset();
  EXPECT_EQ(fovea::nn::batch_norm_sync(), nullptr) << "uninstalled with its DataParallel";
}

TEST(DataParallel, PartsCoverTheBatchAndASmallBatchIsSharedWhole) {
  at::Tensor batch = torch::arange(10, 17);
  std::vector<at::Tensor> parts;
  for (int64_t r = 0; r < 3; ++r) {
    double weight = 0;
    parts.push_back(DataParallel::part_of(batch, r, 3, &weight));
    EXPECT_EQ(weight, 1.0);
  }
  EXPECT_TRUE(torch::equal(torch::cat(parts), batch));
  EXPECT_EQ(parts[0].numel(), 2);  // 7 = 2 + 2 + 3
  EXPECT_EQ(parts[2].numel(), 3);
  double weight = 0;
  EXPECT_TRUE(torch::equal(DataParallel::part_of(torch::arange(2), 2, 4, &weight), torch::arange(2)));
  EXPECT_EQ(weight, 0.25);
}

TEST(DataParallel, GradientAllReduceKeepsAbsentGradientsAbsent) {
  auto dp = one_worker(false);
  at::Tensor a = torch::ones({3}).requires_grad_(), b = torch::ones({2}).requires_grad_();
  (a * torch::tensor({1.f, 2.f, 3.f})).sum().backward();
  EXPECT_DOUBLE_EQ(dp->all_reduce_gradients({a, b}, 2.5), 2.5);
  EXPECT_TRUE(torch::equal(a.grad(), torch::tensor({1.f, 2.f, 3.f})));
  EXPECT_FALSE(b.grad().defined());
  EXPECT_EQ(dp->all_reduce_steps(), 1);
}

// Σ over a partition of batch_loss_share, plus batch_regularizer, against
// batch_loss: the value and every parameter's gradient. The model is in eval
// mode, so BatchNorm does not tie the parts together.
void expect_shares_add_up(fovea::train::TrainingTask& task, torch::nn::Module& model,
                          const fovea::train::BatchRef& batch, const std::string& what) {
  model.eval();
  auto params = model.parameters();
  auto gradients = [&] {
    std::vector<at::Tensor> g;
    for (auto& p : params) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    return g;
  };
  at::Tensor whole = task.batch_loss(batch);
  whole.backward();
  const auto whole_grads = gradients();
  const int64_t n = batch.indices.numel();
  at::Tensor sum = task.batch_regularizer(batch);
  for (int64_t start = 0, k = 0; start < n; start += k) {
    k = std::min<int64_t>(n - start, 1 + start % 3);  // parts of 1, 2, 3, ... samples
    sum = sum + task.batch_loss_share(batch, batch.indices.narrow(0, start, k));
  }
  sum.backward();
  const auto share_grads = gradients();
  EXPECT_NEAR(sum.item<double>(), whole.item<double>(), 1e-5 * std::abs(whole.item<double>())) << what;
  // Relative to the largest gradient: some are zero but for rounding (the
  // readout's bias under the correlation loss, which ignores offsets).
  double scale = 0;
  for (const auto& g : whole_grads) scale = std::max(scale, g.abs().max().item<double>());
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_LE((share_grads[i] - whole_grads[i]).abs().max().item<double>(), 1e-5 * scale) << what << ", parameter " << i;
}

TEST(DataParallel, V1SharesAddUpToTheBatchLoss) {
  nlohmann::json spec = {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", 6},
                                   {"kernel_size", {7, 3}}, {"activation", "elu"}}},
                         {"readout", {{"type", "rank1"}, {"n_neurons", 3}}},
                         {"input_shape", {1, 20, 24}}};
  torch::manual_seed(3);
  fovea::train::V1TrainingData d;
  d.images = torch::randn({25, 1, 20, 24});
  d.image_index = torch::arange(40) % 25;
  d.responses = torch::rand({40, 3}) + 0.1;
  d.train_trials = torch::arange(30);
  d.val_trials = torch::arange(30, 40);
  for (bool masked : {false, true}) {
    if (masked) d.real_responses = torch::rand({40, 3}) > 0.3;
    auto model = fovea::nn::build_model(spec);
    fovea::train::V1Recipe recipe;
    recipe.batch_size = 9;
    recipe.hoyer_square = 0.03;
    fovea::train::V1Task task(model, d, recipe, torch::kCPU);
    expect_shares_add_up(task, *model, task.epoch_batches(0)[0], masked ? "masked" : "plain");
  }
}

TEST(DataParallel, RetinaSharesAddUpToTheBatchLossForMeansAndSums) {
  torch::manual_seed(5);
  at::Tensor movie = torch::randn({1, 400, 8, 8});
  at::Tensor rates = torch::rand({3, 400}) + 0.1;
  fovea::data::ClipSplitOptions split;
  split.clip_length = 40;
  split.num_val_clips = 2;
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", fovea::data::split_session(movie, rates, split, "a")}};
  for (const auto& [name, avg] : std::vector<std::pair<std::string, bool>>{
           {"poisson", true}, {"poisson", false}, {"l1_poisson", true}, {"mse", true}, {"correlation", true}}) {
    auto model = fovea::test::small_retina_model({{"a", 3}});
    fovea::train::RetinaRecipe recipe;
    recipe.batch_size = 7;
    recipe.chunk_size = 20;
    recipe.loss.name = name;
    recipe.loss.avg = avg;
    fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
    expect_shares_add_up(task, *model, task.epoch_batches(0)[0], name + (avg ? " (mean)" : " (sum)"));
  }
}

}  // namespace
