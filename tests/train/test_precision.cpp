// training.precision (precision.h): the bf16 autocast region, the fast
// float32 kernels inside it, and the forward-only region of the training
// tasks (bf16 forward, float32 loss, parameters and gradients).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include <functional>
#include <map>
#include <vector>

#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/nn/kernels/depthwise_conv2d.h"
#include "fovea/nn/kernels/gemm.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/model.h"
#include "fovea/nn/st_separable_conv.h"
#include "fovea/nn/v1_readouts.h"
#include "fovea/train/precision.h"
#include "fovea/train/retina_task.h"
#include "fovea/train/trainer.h"
#include "fovea/train/v1_task.h"
#include "small_retina_model.h"
#include "test_util.h"

namespace {

using fovea::nn::KernelSet;
using fovea::nn::ScopedKernelSet;
using fovea::train::AutocastRegion;
using fovea::train::Precision;
using fovea::train::PrecisionScope;

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST(AutocastRegion, Bf16RegionCastsMatmulsAndConvsAndEndsWithTheRegion) {
  torch::manual_seed(0);
  at::Tensor a = torch::randn({16, 32}), b = torch::randn({32, 8});
  at::Tensor x = torch::randn({2, 3, 10, 10}), w = torch::randn({4, 3, 3, 3});
  {
    AutocastRegion region(Precision::bf16);
    EXPECT_EQ(at::mm(a, b).scalar_type(), at::kBFloat16);
    EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kBFloat16);
    // The product of the bf16-rounded operands (accumulated in float32), not the float32 product.
    const at::Tensor rounded = at::mm(a.to(at::kBFloat16).to(at::kFloat), b.to(at::kBFloat16).to(at::kFloat));
    at::Tensor y = at::mm(a, b).to(at::kFloat);
    EXPECT_LT(fovea::test::relative_error(y, rounded), 8e-3);
    {
      AutocastRegion inner(Precision::bf16);
    }
    EXPECT_EQ(at::mm(a, b).scalar_type(), at::kBFloat16) << "an inner region's end ended the outer one";
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
  {
    AutocastRegion region(Precision::float32);
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
  }
}

TEST(AutocastRegion, TheNextRegionSeesWeightsChangedAfterTheLastOne) {
  // Autocast caches the bf16 copies of leaf parameters within a region; the
  // optimiser changes them between forwards, so each region must cast anew.
  torch::manual_seed(1);
  at::Tensor x = torch::randn({4, 8});
  at::Tensor w = torch::randn({8, 8}).requires_grad_(true);
  {
    AutocastRegion region(Precision::bf16);
    (void)at::mm(x, w);
  }
  {
    torch::NoGradGuard no_grad;
    w.add_(1.0);
  }
  at::Tensor y;
  {
    AutocastRegion region(Precision::bf16);
    y = at::mm(x, w).detach().to(at::kFloat);
  }
  const at::Tensor expected = at::mm(x, w.detach()).to(at::kFloat);
  EXPECT_LT(fovea::test::relative_error(y, expected), 8e-3) << "a stale cast of the weight was used";
}

TEST(Precision, SettingsResolveAndBadOnesNameTheField) {
  EXPECT_EQ(fovea::train::resolve_precision("float32", "v1", c10::DeviceType::CPU, "f"), Precision::float32);
  EXPECT_EQ(fovea::train::resolve_precision("bf16", "retina", c10::DeviceType::CPU, "f"), Precision::bf16);
  // auto: no model trained faster in bf16 on the measured CPU (precision.cpp), nor was a GPU measured.
  for (const char* family : {"v1", "retina"}) {
    EXPECT_EQ(fovea::train::resolve_precision("auto", family, c10::DeviceType::CPU, "f"), Precision::float32);
    EXPECT_EQ(fovea::train::resolve_precision("auto", family, c10::DeviceType::CUDA, "f"), Precision::float32);
  }
  const std::string message = fovea::test::error_of([] {
    fovea::train::resolve_precision("fp16", "v1", c10::DeviceType::CPU, "config field 'training.precision'");
  });
  EXPECT_NE(message.find("config field 'training.precision'"), std::string::npos) << message;
  EXPECT_NE(message.find("'fp16'"), std::string::npos) << message;
}

// --- fovea's fast kernels inside a bf16 region --------------------------------

namespace {

using Op = std::function<at::Tensor(const at::Tensor&)>;

// `op` applied to `input` with the fast kernels: inside a bf16 region it
// computes in float32 (the same numbers as outside it, bit for bit), for a
// float32 input and for a bf16 one (cast up), and its gradients are float32
// and equal too. The same op with the reference kernels does compute in bf16
// there (which shows that a bf16 computation would have been caught).
void expect_float32_kernel(const std::string& name, const Op& op, const at::Tensor& input,
                           const std::vector<at::Tensor>& params) {
  SCOPED_TRACE(name);
  auto run = [&](const at::Tensor& x, bool autocast) {
    for (auto p : params) p.mutable_grad() = at::Tensor();
    at::Tensor leaf = x.detach().requires_grad_(true);
    at::Tensor out;
    {
      AutocastRegion region(autocast ? Precision::bf16 : Precision::float32);
      out = op(leaf);
    }
    torch::manual_seed(5);
    at::Tensor upstream = torch::randn(out.sizes());
    (out.to(at::kFloat) * upstream).sum().backward();
    std::vector<at::Tensor> grads{leaf.grad()};
    for (const auto& p : params) grads.push_back(p.grad());
    return std::make_pair(out.detach(), grads);
  };
  ScopedKernelSet fast(KernelSet::fast);
  const auto [plain, plain_grads] = run(input, false);
  ASSERT_EQ(plain.scalar_type(), at::kFloat);
  const auto [in_region, region_grads] = run(input, true);
  EXPECT_EQ(in_region.scalar_type(), at::kFloat);
  EXPECT_EQ(max_abs_diff(in_region, plain), 0.0) << "the fast kernel computed differently inside the region";
  for (size_t i = 0; i < plain_grads.size(); ++i) {
    ASSERT_TRUE(region_grads[i].defined()) << "gradient " << i;
    EXPECT_EQ(region_grads[i].scalar_type(), at::kFloat) << "gradient " << i;
    EXPECT_EQ(max_abs_diff(region_grads[i], plain_grads[i]), 0.0) << "gradient " << i;
  }
  // A bf16 input (the output of a layer autocast ran in bf16) is cast up.
  const at::Tensor half = input.to(at::kBFloat16);
  const auto [from_bf16, bf16_grads] = run(half, true);
  const auto [expected, expected_grads] = run(half.to(at::kFloat), false);
  EXPECT_EQ(from_bf16.scalar_type(), at::kFloat);
  EXPECT_EQ(max_abs_diff(from_bf16, expected), 0.0);
  EXPECT_EQ(bf16_grads[0].scalar_type(), at::kBFloat16);  // the gradient of a bf16 input is bf16, as autograd gives it
  EXPECT_LT(fovea::test::relative_error(bf16_grads[0], expected_grads[0]), 8e-3);
  for (size_t i = 1; i < bf16_grads.size(); ++i) EXPECT_EQ(max_abs_diff(bf16_grads[i], expected_grads[i]), 0.0);
  // The reference op in the region is bf16, and measurably so.
  ScopedKernelSet reference(KernelSet::reference);
  const auto [ref_region, ref_grads] = run(input, true);
  EXPECT_EQ(ref_region.scalar_type(), at::kBFloat16);
  EXPECT_GT(fovea::test::relative_error(ref_region, plain), 1e-4);
  EXPECT_LT(fovea::test::relative_error(ref_region, plain), 2e-2);
}

}  // namespace

TEST(Float32Kernel, FastKernelsStayFloat32InsideABf16Region) {
  torch::manual_seed(2);
  at::Tensor dw = torch::randn({6, 1, 5, 5}).requires_grad_(true);
  expect_float32_kernel("depthwise_conv2d", [&](const at::Tensor& x) { return fovea::nn::depthwise_conv2d(x, dw, {2, 2}); },
                        torch::randn({2, 6, 12, 14}), {dw});
  at::Tensor first = torch::randn({4, 1, 7, 7}).requires_grad_(true);
  expect_float32_kernel("single_channel_conv2d",
                        [&](const at::Tensor& x) { return fovea::nn::single_channel_conv2d(x, first, {3, 3}); },
                        torch::randn({3, 1, 16, 18}), {first});
  at::Tensor pw = torch::randn({5, 6, 1, 1}).requires_grad_(true);
  expect_float32_kernel("pointwise_conv2d", [&](const at::Tensor& x) { return fovea::nn::pointwise_conv2d(x, pw); },
                        torch::randn({2, 6, 7, 9}), {pw});
  at::Tensor m = torch::randn({24, 10}).requires_grad_(true);
  expect_float32_kernel("matmul_2d", [&](const at::Tensor& x) { return fovea::nn::matmul_2d(x, m); },
                        torch::randn({12, 24}), {m});
  fovea::nn::STSeparableBatchConv3dOptions o;
  o.in_channels = 2;
  o.out_channels = 3;
  o.temporal_kernel_size = 5;
  o.spatial_kernel_size = 3;
  fovea::nn::STSeparableBatchConv3d st(o);
  expect_float32_kernel("st_separable_conv3d", [&](const at::Tensor& x) { return st->forward(x); },
                        torch::randn({2, 2, 12, 8, 9}), st->parameters());
}

// --- the training tasks' forward-only region ------------------------------------

namespace {

// The loss of the task's first batch and the parameters' gradients, with
// the forward in `precision`, as train_one_epoch computes them.
struct LossAndGrads {
  double loss;
  at::ScalarType loss_dtype;
  std::vector<at::Tensor> grads;
};

LossAndGrads loss_and_grads(fovea::train::TrainingTask& task, torch::nn::Module& model, Precision precision) {
  model.zero_grad();
  at::Tensor loss;
  {
    PrecisionScope scope(precision);
    loss = task.batch_loss(task.epoch_batches(0).front());
  }
  loss.backward();
  LossAndGrads r{loss.item<double>(), loss.scalar_type(), {}};
  for (const auto& p : model.parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kFloat);
    if (p.requires_grad()) r.grads.push_back(p.grad().clone());
  }
  return r;
}

// bf16 and float32 give nearly the same loss and gradients, all float32, and
// (`bf16_ops`) not the same numbers: the forward did run ops in bf16. Without
// bf16_ops the model has no op left that autocast lowers (all its convs and
// products are fast float32 kernels) and the numbers are float32's.
void expect_bf16_forward_float32_rest(fovea::train::TrainingTask& task, torch::nn::Module& model, bool bf16_ops) {
  const auto f32 = loss_and_grads(task, model, Precision::float32);
  const auto bf16 = loss_and_grads(task, model, Precision::bf16);
  EXPECT_EQ(f32.loss_dtype, at::kFloat);
  EXPECT_EQ(bf16.loss_dtype, at::kFloat);
  if (bf16_ops)
    EXPECT_NE(bf16.loss, f32.loss) << "the forward did not run in bf16";
  else
    EXPECT_EQ(bf16.loss, f32.loss) << "a fast float32 kernel ran in bf16";
  EXPECT_NEAR(bf16.loss, f32.loss, 2e-2 * std::abs(f32.loss));
  ASSERT_EQ(bf16.grads.size(), f32.grads.size());
  for (size_t i = 0; i < f32.grads.size(); ++i) {
    ASSERT_TRUE(bf16.grads[i].defined()) << "gradient " << i;
    EXPECT_EQ(bf16.grads[i].scalar_type(), at::kFloat) << "gradient " << i;
    if (f32.grads[i].norm().item<double>() > 1e-6)
      EXPECT_LT(fovea::test::relative_error(bf16.grads[i], f32.grads[i]), 0.1) << "gradient " << i;
  }
  // Outside the trainer's scope the forward is float32 again.
  const auto again = loss_and_grads(task, model, Precision::float32);
  EXPECT_EQ(again.loss, f32.loss);
}

fovea::train::V1TrainingData v1_data() {
  torch::manual_seed(7);
  fovea::train::V1TrainingData d;
  d.images = torch::randn({20, 1, 20, 24});
  d.image_index = torch::arange(20);
  d.responses = torch::rand({20, 3}) + 0.1;
  d.train_trials = torch::arange(16);
  d.val_trials = torch::arange(16, 20);
  return d;
}

std::shared_ptr<fovea::nn::Model> v1_model() {
  torch::manual_seed(3);
  auto model = fovea::nn::build_model(
      {{"core", {{"type", "minimodel_core"}, {"n_conv", 4}, {"n_conv_mid", 8}, {"kernel_size", {7, 3}},
                 {"activation", "elu"}, {"out_1x1", true}}},
       {"readout", {{"type", "rank1"}, {"n_neurons", 3}}},
       {"input_shape", {1, 20, 24}}});
  // Readout weights of a trained model's size (the initial ones are 0.01
  // scale), so that the predictions, and the loss, depend on the features.
  torch::NoGradGuard no_grad;
  auto readout = std::dynamic_pointer_cast<fovea::nn::Rank1Readout>(model->readout());
  readout->Wy.uniform_(0.0, 0.5);
  readout->Wx.uniform_(0.0, 0.5);
  readout->Wc.normal_(0.0, 0.5);
  return model;
}

}  // namespace

TEST(PrecisionTraining, V1TaskForwardIsBf16AndLossAndGradientsFloat32) {
  for (auto kernels : {KernelSet::reference, KernelSet::fast}) {
    SCOPED_TRACE(fovea::nn::to_string(kernels));
    ScopedKernelSet scope(kernels);
    auto model = v1_model();
    fovea::train::V1Recipe recipe;
    recipe.batch_size = 8;
    fovea::train::V1Task task(model, v1_data(), recipe, torch::kCPU);
    model->train();
    // With the fast kernels every conv and product of the V1 model is a float32 kernel.
    expect_bf16_forward_float32_rest(task, *model, kernels == KernelSet::reference);
  }
}

TEST(PrecisionTraining, RetinaTaskForwardIsBf16AndLossAndGradientsFloat32) {
  torch::manual_seed(1);
  at::Tensor movie = torch::randn({1, 200, 8, 8});
  at::Tensor rates = torch::rand({2, 200}) + 0.1;
  fovea::data::ClipSplitOptions split;
  split.clip_length = 40;
  split.num_val_clips = 1;
  std::map<std::string, fovea::data::SessionClips> sessions{{"a", fovea::data::split_session(movie, rates, split, "a")}};
  for (auto kernels : {KernelSet::reference, KernelSet::fast}) {
    SCOPED_TRACE(fovea::nn::to_string(kernels));
    ScopedKernelSet scope(kernels);
    torch::manual_seed(4);
    auto model = fovea::test::small_retina_model({{"a", 2}});
    {
      torch::NoGradGuard no_grad;  // readout weights that make the output depend on the core's features
      for (auto& item : model->readout()->named_parameters())
        if (item.key().find("features") != std::string::npos) item.value().uniform_(5.0, 15.0);
    }
    fovea::train::RetinaRecipe recipe;
    recipe.batch_size = 4;
    recipe.chunk_size = 20;
    fovea::train::RetinaTask task(model, sessions, recipe, torch::kCPU);
    model->eval();  // the same BatchNorm statistics in every forward
    // With the fast kernels the core is float32 and the readout's product bf16.
    expect_bf16_forward_float32_rest(task, *model, true);
  }
}

TEST(PrecisionTraining, TheTrainerRunsTheForwardInTheOptionsPrecision) {
  ScopedKernelSet scope(KernelSet::reference);
  auto run = [](Precision precision) {
    auto model = v1_model();
    fovea::train::V1Recipe recipe;
    recipe.batch_size = 8;
    fovea::train::V1Task task(model, v1_data(), recipe, torch::kCPU);
    fovea::train::TrainerOptions options;
    options.show_progress = false;
    options.precision = precision;
    auto optimizer = fovea::train::make_optimizer(task, 1e-3, options);
    const auto stats = fovea::train::train_one_epoch(*model, task, *optimizer, 0, options);
    for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), at::kFloat);
    EXPECT_EQ(fovea::train::forward_precision(), Precision::float32) << "the trainer's scope outlived the epoch";
    return stats.mean_loss;
  };
  const double f32 = run(Precision::float32), bf16 = run(Precision::bf16);
  EXPECT_NE(bf16, f32);
  EXPECT_NEAR(bf16, f32, 2e-2 * std::abs(f32));
}
