// openretina's training losses (PoissonLoss3d, L1PoissonLoss3d, MSE3d,
// CorrelationLoss3d) against torch's own losses and an independent
// correlation, with a target longer than the output (the lag).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/train/retina_losses.h"

namespace {

using fovea::train::RetinaLossOptions;

struct Pair {
  at::Tensor output, target, aligned;  // aligned: target[:, lag:]
};

// Predictions (positive, as after a softplus) of 8 frames against targets of
// 12 frames: the losses compare with the last 8.
Pair sample() {
  torch::manual_seed(3);
  Pair p;
  p.output = torch::rand({3, 8, 5}, torch::kFloat64) * 2 + 0.05;
  p.target = torch::poisson(torch::rand({3, 12, 5}, torch::kFloat64) * 3);
  p.aligned = p.target.slice(1, 4);
  return p;
}

TEST(RetinaLosses, PoissonIsTorchsPoissonNllLossWithoutLogInput) {
  auto p = sample();
  const auto sum = torch::poisson_nll_loss(p.output, p.aligned, /*log_input=*/false, /*full=*/false, 1e-16, at::Reduction::Sum);
  const auto mean = torch::poisson_nll_loss(p.output, p.aligned, false, false, 1e-16, at::Reduction::Mean);
  EXPECT_NEAR(fovea::train::poisson_loss_3d(p.output, p.target).item<double>(), sum.item<double>(), 1e-10);
  RetinaLossOptions o;  // poisson is the default
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(), sum.item<double>(), 1e-10);
  o.avg = true;
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(), mean.item<double>(), 1e-12);
}

TEST(RetinaLosses, L1PoissonAddsGammaTimesTheL1NormOfTheOutput) {
  auto p = sample();
  const auto zeros = torch::zeros_like(p.output);
  const double poisson = torch::poisson_nll_loss(p.output, p.aligned, false, false, 1e-16, at::Reduction::Sum).item<double>();
  const double l1 = torch::l1_loss(p.output, zeros, at::Reduction::Sum).item<double>();
  RetinaLossOptions o;
  o.name = "l1_poisson";
  o.gamma_l1 = 0.25;
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(), poisson + 0.25 * l1, 1e-10);
  o.avg = true;
  const double poisson_mean = torch::poisson_nll_loss(p.output, p.aligned, false, false, 1e-16, at::Reduction::Mean).item<double>();
  const double l1_mean = torch::l1_loss(p.output, zeros, at::Reduction::Mean).item<double>();
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(), poisson_mean + 0.25 * l1_mean, 1e-12);
  // openretina's default gamma_l1 is 0.001.
  EXPECT_DOUBLE_EQ(RetinaLossOptions{}.gamma_l1, 0.001);
  // Per neuron: each neuron's mean Poisson term plus gamma times its mean |o|.
  fovea::train::PoissonLoss3dOptions per;
  per.per_neuron = true;
  const auto pn = fovea::train::l1_poisson_loss_3d(p.output, p.target, 0.25, per);
  const auto elementwise = p.output - p.aligned * torch::log(p.output + 1e-16) + 0.25 * p.output.abs();
  EXPECT_TRUE(torch::allclose(pn, elementwise.reshape({-1, 5}).mean(0), 1e-12, 1e-12));
}

TEST(RetinaLosses, MseIsTorchsSummedMseLoss) {
  auto p = sample();
  RetinaLossOptions o;
  o.name = "mse";
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(),
              torch::mse_loss(p.output, p.aligned, at::Reduction::Sum).item<double>(), 1e-10);
}

TEST(RetinaLosses, CorrelationIsMinusThePearsonCorrelationOverTime) {
  auto p = sample();
  // Pearson's r per (sample, neuron) = the cosine of the centred series.
  const auto xo = p.output - p.output.mean(1, true);
  const auto yo = p.aligned - p.aligned.mean(1, true);
  const auto r = torch::cosine_similarity(xo, yo, /*dim=*/1, /*eps=*/0.0);  // (3, 5)
  RetinaLossOptions o;
  o.name = "correlation";
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(), -r.sum().item<double>(), 1e-9);
  o.avg = true;
  EXPECT_NEAR(fovea::train::retina_loss(p.output, p.target, o).item<double>(), -r.mean().item<double>(), 1e-10);
  // A perfect prediction (up to scale and offset) gives −1 per series.
  EXPECT_NEAR(fovea::train::correlation_loss_3d(p.aligned * 3 + 1, p.target, 1e-16, true).item<double>(), -1.0, 1e-9);
}

TEST(RetinaLosses, UnknownNamesAndMismatchedShapesAreErrors) {
  auto p = sample();
  RetinaLossOptions o;
  o.name = "poison";
  try {
    fovea::train::retina_loss(p.output, p.target, o);
    FAIL() << "expected an error";
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown loss 'poison'"), std::string::npos) << e.what();
  }
  o.name = "mse";
  EXPECT_THROW(fovea::train::retina_loss(p.output, p.target.slice(2, 1), o), fovea::Error);
  EXPECT_THROW(fovea::train::retina_loss(p.target, p.output, o), fovea::Error);  // output longer than the target
}

}  // namespace
