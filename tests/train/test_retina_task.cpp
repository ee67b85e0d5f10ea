// openretina's training recipe as a TrainingTask: batches (LongCycler over
// sessions), the loss, the validation correlation, and a short fit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/model.h"
#include "fovea/train/retina_losses.h"
#include "fovea/train/retina_task.h"
#include "small_retina_model.h"

namespace {

using fovea::test::small_retina_model;

// A session whose responses follow a simple causal rule of the movie, so a model can learn it.
fovea::data::SessionClips session(int64_t frames, int64_t neurons, int64_t seed) {
  torch::manual_seed(seed);
  at::Tensor movie = torch::randn({1, frames, 8, 8});
  at::Tensor drive = movie.slice(2, 2, 6).slice(3, 2, 6).mean({0, 2, 3});  // (T): the central 4x4 pixels
  at::Tensor lagged = torch::cat({torch::zeros({2}), drive.narrow(0, 0, frames - 2)});
  at::Tensor rates = torch::nn::functional::softplus(3.0 * lagged).view({1, frames}).repeat({neurons, 1});
  fovea::data::ClipSplitOptions o;
  o.clip_length = 40;
  o.num_val_clips = 2;
  return fovea::data::split_session(movie, rates, o, "s" + std::to_string(seed));
}

}  // namespace

TEST(CorrelationPerNeuron3d, MatchesPearsonOverTimeAfterTheLag) {
  torch::manual_seed(0);
  at::Tensor out = torch::rand({3, 20, 4}) + 0.1;
  at::Tensor target = torch::rand({3, 25, 4});
  at::Tensor c = fovea::train::correlation_per_neuron_3d(out, target);
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{4}));
  for (int64_t n = 0; n < 4; ++n) {
    double sum = 0;
    for (int64_t b = 0; b < 3; ++b) {
      at::Tensor x = out.select(0, b).select(1, n).to(torch::kFloat64);
      at::Tensor y = target.select(0, b).select(1, n).narrow(0, 5, 20).to(torch::kFloat64);
      x = x - x.mean();
      y = y - y.mean();
      sum += ((x * y).sum() / torch::sqrt((x * x).sum() * (y * y).sum())).item<double>();
    }
    EXPECT_NEAR(c[n].item<double>(), sum / 3, 1e-5);
  }
}

TEST(RetinaTask, LongCyclerInterleavesSessionsAndRepeatsTheShorterOne) {
  std::map<std::string, fovea::data::SessionClips> sessions{{"long", session(40 * 12, 3, 1)},
                                                            {"short", session(40 * 6, 2, 2)}};
  auto model = small_retina_model({{"long", 3}, {"short", 2}});
  fovea::train::RetinaRecipe recipe;
  recipe.batch_size = 4;
  recipe.chunk_size = 20;
  fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
  // long: 400 training frames -> 20 chunks -> 5 batches; short: 160 -> 8 chunks -> 2 batches.
  auto batches = task.epoch_batches(0);
  ASSERT_EQ(batches.size(), 10u) << "sessions x the longest session's batch count";
  for (size_t i = 2; i < batches.size(); ++i) EXPECT_EQ(batches[i].data_key, batches[i - 2].data_key);
  EXPECT_NE(batches[0].data_key, batches[1].data_key);
  // Every chunk block of the long session is seen exactly once.
  std::set<int64_t> blocks;
  for (const auto& b : batches) {
    EXPECT_EQ(b.indices.numel(), 4);
    if (b.data_key != "long") continue;
    for (int64_t i = 0; i < b.indices.numel(); ++i) blocks.insert(b.indices[i].item<int64_t>() / 20);
  }
  EXPECT_EQ(blocks.size(), 20u);
  // Epochs differ; the same epoch is reproducible.
  auto again = task.epoch_batches(0), next = task.epoch_batches(1);
  EXPECT_TRUE(torch::equal(again[0].indices, batches[0].indices));
  bool differs = false;
  for (size_t i = 0; i < batches.size(); ++i)
    differs = differs || batches[i].data_key != next[i].data_key || !torch::equal(batches[i].indices, next[i].indices);
  EXPECT_TRUE(differs);
}

TEST(RetinaTask, BatchLossIsPoissonPlusCoreAndSessionRegularisers) {
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", session(40 * 6, 3, 1)}, {"b", session(40 * 6, 2, 2)}};
  auto model = small_retina_model({{"a", 3}, {"b", 2}});
  fovea::train::RetinaRecipe recipe;
  recipe.batch_size = 2;
  recipe.chunk_size = 20;
  fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
  model->train();
  const auto batch = task.epoch_batches(0).front();
  auto [inputs, targets] = task.batch_data(batch);
  ASSERT_EQ(inputs.sizes(), (std::vector<int64_t>{2, 1, 20, 8, 8}));
  ASSERT_EQ(targets.size(1), 20);
  const auto& s = sessions.at(batch.data_key);
  const int64_t start = batch.indices[1].item<int64_t>();
  EXPECT_TRUE(torch::equal(inputs[1], s.train_movie.narrow(1, start, 20)));
  EXPECT_TRUE(torch::equal(targets[1], s.train_responses.narrow(0, start, 20)));
  torch::NoGradGuard no_grad;
  model->eval();  // the same BatchNorm statistics in both computations
  const double loss = task.batch_loss(batch).item<double>();
  at::Tensor out = model->forward(inputs, batch.data_key);
  const at::Tensor y = targets.narrow(1, targets.size(1) - out.size(1), out.size(1));
  const double expected = (out - y * torch::log(out + 1e-16)).sum().item<double>() +
                          model->core()->regularizer().item<double>() +
                          model->readout()->regularizer(batch.data_key).item<double>();
  EXPECT_NEAR(loss, expected, 1e-4 * std::abs(expected));
}

TEST(RetinaTask, ShortFitRaisesTheValidationCorrelation) {
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", session(40 * 15, 3, 1)}};
  auto model = small_retina_model({{"a", 3}});
  auto gm = std::dynamic_pointer_cast<fovea::nn::MultiGaussianMaskReadout>(model->readout());
  gm->session("a")->initialize_bias(sessions.at("a").mean_response);
  fovea::train::RetinaRecipe recipe;
  recipe.batch_size = 8;
  recipe.chunk_size = 20;
  fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
  model->eval();
  const double before = task.validation_score();
  fovea::train::TrainerOptions o;
  o.lr_schedule = "plateau";
  o.lr = 0.01;
  o.max_epochs = 12;
  o.patience = 0;
  o.grad_clip_norm = 1.0;
  o.show_progress = false;
  auto result = fovea::train::fit(*model, task, o);
  EXPECT_GT(result.best_score, before + 0.2) << "before " << before;
  EXPECT_GT(result.best_score, 0.6);
}
