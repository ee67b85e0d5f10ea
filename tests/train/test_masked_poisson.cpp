// minimodel's monkey_train loss and validation score with missing trials,
// against values worked out by hand from model_trainer.py's formulas.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "fovea/train/masked_poisson.h"

namespace {

const float kNaN = std::nanf("");

// Per neuron Σ mask·(ŷ − y log ŷ) / (Σ mask + 1e-6): neuron 0 keeps trial 0
// only: (1 − 2·log 1) / (1 + 1e-6); neuron 1 keeps trial 0: (2 − 0) / (1 + 1e-6)
// (its trial 1 holds NaN and must not matter, for the value or the gradient).
TEST(MaskedPoisson, OnlyRealResponsesCountPerNeuron) {
  at::Tensor pred = torch::tensor({1.f, 2.f, std::exp(1.f), 1.f}).reshape({2, 2}).set_requires_grad(true);
  at::Tensor target = torch::tensor({2.f, 0.f, 1.f, kNaN}).reshape({2, 2});
  at::Tensor mask = torch::tensor({true, true, false, false}).reshape({2, 2});
  at::Tensor loss = fovea::train::masked_poisson_per_neuron(pred, target, mask);
  ASSERT_EQ(loss.sizes(), (at::IntArrayRef{2}));
  EXPECT_NEAR(loss[0].item<double>(), 1.0 / (1.0 + 1e-6), 1e-6);
  EXPECT_NEAR(loss[1].item<double>(), 2.0 / (1.0 + 1e-6), 1e-6);
  loss.sum().backward();
  at::Tensor g = pred.grad();
  EXPECT_TRUE(g.isfinite().all().item<bool>()) << g;
  // d/dŷ (ŷ − y log ŷ) = 1 − y/ŷ on the real trials, 0 on the missing ones.
  EXPECT_NEAR(g[0][0].item<double>(), (1.0 - 2.0) / (1.0 + 1e-6), 1e-6);
  EXPECT_NEAR(g[0][1].item<double>(), 1.0 / (1.0 + 1e-6), 1e-6);
  EXPECT_EQ(g[1][0].item<double>(), 0.0);
  EXPECT_EQ(g[1][1].item<double>(), 0.0);
  // A neuron without a real trial in the batch contributes 0 (the 1e-6 keeps it finite).
  at::Tensor none = fovea::train::masked_poisson_per_neuron(pred.detach(), target, torch::zeros({2, 2}, torch::kBool));
  EXPECT_EQ(none.abs().sum().item<double>(), 0.0);
}

// Per neuron 1 − Σ_real (y−ŷ)² / Σ_real (y−ȳ_real)²:
//   neuron 0: real {1, 3} (the 100 is missing), predictions {1, 2}: 1 − 1/2 = 0.5;
//   neuron 1: all real, perfect predictions: 1;
//   neuron 2: one real value: no variance -> not finite, left out of the mean.
TEST(MaskedPoisson, ValidationScoreUsesRealResponsesOnly) {
  at::Tensor target = torch::tensor({1.f, 0.f, 5.f, 3.f, 2.f, 0.f, 100.f, 4.f, 0.f}).reshape({3, 3});
  at::Tensor pred = torch::tensor({1.f, 0.f, 4.f, 2.f, 2.f, 1.f, 0.f, 4.f, 1.f}).reshape({3, 3});
  at::Tensor mask = torch::tensor({true, true, true, true, true, false, false, true, false}).reshape({3, 3});
  EXPECT_NEAR(fovea::train::masked_variance_explained(pred, target, mask), 0.75, 1e-12);
}

}  // namespace
