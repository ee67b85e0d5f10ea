// matmul_2d: oneDNN's sgemm against LibTorch's at::mm in float64, forward and
// both gradients, for contiguous and transposed (strided) operands; the
// reference kernels and other dtypes go through at::mm.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/kernels/gemm.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "test_util.h"

namespace {

using fovea::nn::KernelSet;
using fovea::nn::ScopedKernelSet;

// The product and both gradients for a loss Σ w ⊙ (a · b), in float64 through at::mm.
struct Expected {
  at::Tensor out, grad_a, grad_b;
};
Expected reference(const at::Tensor& a, const at::Tensor& b, const at::Tensor& w) {
  auto a64 = a.detach().to(torch::kDouble).requires_grad_(true), b64 = b.detach().to(torch::kDouble).requires_grad_(true);
  auto out = a64.mm(b64);
  (out * w.to(torch::kDouble)).sum().backward();
  return {out.detach(), a64.grad(), b64.grad()};
}

void expect_matches(const at::Tensor& a_in, const at::Tensor& b_in) {
  ScopedKernelSet fast(KernelSet::fast);
  auto a = a_in.detach().requires_grad_(true), b = b_in.detach().requires_grad_(true);
  const at::Tensor w = torch::randn({a.size(0), b.size(1)});
  const Expected want = reference(a, b, w);
  at::Tensor out = fovea::nn::matmul_2d(a, b);
  (out * w).sum().backward();
  EXPECT_LT(fovea::test::relative_error(out.to(torch::kDouble), want.out), 1e-6);
  EXPECT_LT(fovea::test::relative_error(a.grad().to(torch::kDouble), want.grad_a), 1e-6);
  EXPECT_LT(fovea::test::relative_error(b.grad().to(torch::kDouble), want.grad_b), 1e-6);
}

}  // namespace

TEST(MatmulFast, MatchesFloat64ProductAndGradients) {
  torch::manual_seed(3);
  expect_matches(torch::randn({7, 13}), torch::randn({13, 5}));
  expect_matches(torch::randn({64, 300}), torch::randn({300, 129}));
  // Strided operands (a transposed view, a column slice) are copied once and give the same numbers.
  expect_matches(torch::randn({13, 7}).t(), torch::randn({13, 10}).narrow(1, 2, 5));
}

TEST(MatmulFast, OneOperandWithoutGradient) {
  ScopedKernelSet fast(KernelSet::fast);
  torch::manual_seed(4);
  const at::Tensor a = torch::randn({6, 9});
  auto b = torch::randn({9, 4}).requires_grad_(true);
  fovea::nn::matmul_2d(a, b).sum().backward();
  EXPECT_LT(fovea::test::relative_error(b.grad(), a.t().mm(torch::ones({6, 4}))), 1e-6);
}

TEST(MatmulFast, EmptyInnerDimensionGivesZeros) {
  ScopedKernelSet fast(KernelSet::fast);
  const at::Tensor out = fovea::nn::matmul_2d(torch::randn({3, 0}), torch::randn({0, 4}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(out.abs().sum().item<float>(), 0.0f);
}

TEST(MatmulFast, ReferenceKernelsAndOtherDtypesUseAtMm) {
  torch::manual_seed(5);
  const at::Tensor a = torch::randn({5, 8}), b = torch::randn({8, 3});
  {
    ScopedKernelSet reference_kernels(KernelSet::reference);
    EXPECT_TRUE(fovea::nn::matmul_2d(a, b).equal(a.mm(b)));
  }
  ScopedKernelSet fast(KernelSet::fast);
  const at::Tensor a64 = a.to(torch::kDouble), b64 = b.to(torch::kDouble);
  EXPECT_TRUE(fovea::nn::matmul_2d(a64, b64).equal(a64.mm(b64)));
  // Mismatched shapes get LibTorch's own error.
  EXPECT_THROW(fovea::nn::matmul_2d(a, a), c10::Error);
}

TEST(PointwiseConvFast, MatchesFloat64Conv2dAndGradients) {
  ScopedKernelSet fast(KernelSet::fast);
  torch::manual_seed(6);
  for (const auto& [x_in, w_in] : std::vector<std::pair<at::Tensor, at::Tensor>>{
           {torch::randn({3, 5, 4, 7}), torch::randn({6, 5, 1, 1})},
           {torch::randn({2, 16, 9, 11}), torch::randn({32, 16, 1, 1})},
           // A channels-last input is copied once and gives the same numbers.
           {torch::randn({2, 4, 5, 6}).contiguous(at::MemoryFormat::ChannelsLast), torch::randn({3, 4, 1, 1})}}) {
    auto x = x_in.detach().requires_grad_(true), w = w_in.detach().requires_grad_(true);
    auto x64 = x_in.detach().to(torch::kDouble).requires_grad_(true);
    auto w64 = w_in.detach().to(torch::kDouble).requires_grad_(true);
    at::Tensor out = fovea::nn::pointwise_conv2d(x, w);
    at::Tensor want = at::conv2d(x64, w64);
    const at::Tensor g = torch::randn(want.sizes());
    (out * g).sum().backward();
    (want * g.to(torch::kDouble)).sum().backward();
    EXPECT_LT(fovea::test::relative_error(out.to(torch::kDouble), want.detach()), 1e-6);
    EXPECT_LT(fovea::test::relative_error(x.grad().to(torch::kDouble), x64.grad()), 1e-6);
    EXPECT_LT(fovea::test::relative_error(w.grad().to(torch::kDouble), w64.grad()), 1e-6);
  }
  // The reference kernels run at::conv2d itself.
  ScopedKernelSet reference_kernels(KernelSet::reference);
  const at::Tensor x = torch::randn({2, 3, 4, 4}), w = torch::randn({5, 3, 1, 1});
  EXPECT_TRUE(fovea::nn::pointwise_conv2d(x, w).equal(at::conv2d(x, w)));
}
