// fovea's depthwise convolution against LibTorch's: forward, grad input and
// grad weight on random inputs of many shapes, the frozen cases, the fallback
// to at::conv2d, and minimodel's core with fast and reference kernels; the
// single-input-channel conv (the V1 models' first layer) likewise.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/kernels/depthwise_conv2d.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/v1_cores.h"
#include "kernel_test_util.h"
#include "test_util.h"

using fovea::nn::depthwise_conv2d;
using fovea::nn::single_channel_conv2d;
using fovea::nn::KernelSet;
using fovea::nn::ScopedKernelSet;
using fovea::test::graph_contains;
using fovea::test::max_relative_error;

namespace {

struct Shape {
  int64_t b, c, h, w, kh, kw, ph, pw;
};

void PrintTo(const Shape& s, std::ostream* os) {
  *os << "B" << s.b << " C" << s.c << " " << s.h << "x" << s.w << " k" << s.kh << "x" << s.kw << " pad " << s.ph
      << "," << s.pw;
}

class DepthwiseConv2d : public ::testing::TestWithParam<Shape> {};

// The fast kernel's output and gradients against at::conv2d's in float64.
void expect_matches_reference(const Shape& s, bool channels_last = false) {
  torch::manual_seed(s.b * 1000 + s.kh * 10 + s.kw);
  auto x = torch::randn({s.b, s.c, s.h, s.w}), w = torch::randn({s.c, 1, s.kh, s.kw});
  auto gout = torch::randn({s.b, s.c, s.h + 2 * s.ph - s.kh + 1, s.w + 2 * s.pw - s.kw + 1});

  auto xd = x.to(at::kDouble).requires_grad_(), wd = w.to(at::kDouble).requires_grad_();
  auto ref = at::conv2d(xd, wd, {}, 1, {s.ph, s.pw}, 1, s.c);
  ref.backward(gout.to(at::kDouble));

  ScopedKernelSet fast(KernelSet::fast);
  auto xf = (channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.clone()).requires_grad_();
  auto wf = w.clone().requires_grad_();
  auto out = depthwise_conv2d(xf, wf, {s.ph, s.pw});
  EXPECT_TRUE(graph_contains(out, "DepthwiseConv2d")) << "the fast kernel did not run";
  ASSERT_EQ(out.sizes(), ref.sizes());
  out.backward(gout);
  EXPECT_LE(max_relative_error(out, ref), 1e-5);
  EXPECT_LE(max_relative_error(xf.grad(), xd.grad()), 1e-5);
  EXPECT_LE(max_relative_error(wf.grad(), wd.grad()), 1e-5);
}

TEST_P(DepthwiseConv2d, MatchesLibTorchForwardAndGradients) { expect_matches_reference(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseConv2d,
                         ::testing::Values(Shape{3, 5, 7, 11, 3, 3, 1, 1},    // odd sizes
                                           Shape{2, 4, 5, 6, 9, 9, 4, 4},     // maps smaller than the kernel
                                           Shape{2, 3, 8, 10, 3, 5, 1, 2},    // kh != kw
                                           Shape{2, 3, 9, 7, 5, 2, 2, 1},     // kh != kw, one even
                                           Shape{2, 3, 6, 9, 4, 4, 2, 2},     // even k: output one larger
                                           Shape{2, 3, 5, 5, 1, 1, 0, 0},     // 1x1
                                           Shape{1, 1, 13, 17, 5, 5, 2, 2},   // one plane
                                           Shape{2, 3, 10, 12, 3, 3, 0, 0},   // no padding: smaller output
                                           Shape{2, 2, 4, 5, 3, 3, 3, 4},     // padding beyond k - 1
                                           Shape{4, 8, 33, 65, 9, 9, 4, 4}),  // minimodel's layer
                         [](const auto& info) { return "shape" + std::to_string(info.index); });

TEST(DepthwiseConv2dFast, ChannelsLastInputAndTwoThreads) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  expect_matches_reference({3, 7, 12, 20, 9, 9, 4, 4}, /*channels_last=*/true);
  expect_matches_reference({5, 3, 9, 8, 3, 3, 1, 1});
  at::set_num_threads(threads);
}

TEST(DepthwiseConv2dFast, FrozenWeightGivesOnlyTheInputGradient) {
  ScopedKernelSet fast(KernelSet::fast);
  auto x = torch::randn({2, 3, 9, 10}, torch::requires_grad()), w = torch::randn({3, 1, 3, 3});
  depthwise_conv2d(x, w, {1, 1}).square().sum().backward();
  auto xr = x.detach().clone().requires_grad_();
  at::conv2d(xr, w, {}, 1, {1, 1}, 1, 3).square().sum().backward();
  EXPECT_FALSE(w.grad().defined());
  EXPECT_LE(max_relative_error(x.grad(), xr.grad()), 1e-5);
}

TEST(DepthwiseConv2dFast, InputWithoutGradGivesOnlyTheWeightGradient) {
  ScopedKernelSet fast(KernelSet::fast);
  auto x = torch::randn({2, 3, 9, 10}), w = torch::randn({3, 1, 5, 3}, torch::requires_grad());
  depthwise_conv2d(x, w, {2, 1}).square().sum().backward();
  auto wr = w.detach().clone().requires_grad_();
  at::conv2d(x, wr, {}, 1, {2, 1}, 1, 3).square().sum().backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_LE(max_relative_error(w.grad(), wr.grad()), 1e-5);
}

TEST(DepthwiseConv2dFast, DoubleBackwardThrows) {
  ScopedKernelSet fast(KernelSet::fast);
  auto x = torch::randn({1, 2, 5, 5}, torch::requires_grad()), w = torch::randn({2, 1, 3, 3});
  auto loss = depthwise_conv2d(x, w, {1, 1}).square().sum();
  const auto message = fovea::test::error_of([&] { torch::autograd::grad({loss}, {x}, {}, true, true); });
  EXPECT_NE(message.find("double backward"), std::string::npos) << message;
}

TEST(DepthwiseConv2dFallback, ReferenceKernelsAndFloat64AreAtConv2dExactly) {
  auto x = torch::randn({2, 3, 7, 8}), w = torch::randn({3, 1, 3, 3});
  {
    ScopedKernelSet reference(KernelSet::reference);
    EXPECT_TRUE(torch::equal(depthwise_conv2d(x, w, {1, 1}), at::conv2d(x, w, {}, 1, {1, 1}, 1, 3)));
    auto xd = x.to(at::kDouble), wd = w.to(at::kDouble);
    EXPECT_TRUE(torch::equal(depthwise_conv2d(xd, wd, {1, 1}), at::conv2d(xd, wd, {}, 1, {1, 1}, 1, 3)));
  }
  ScopedKernelSet fast(KernelSet::fast);
  auto xd = x.to(at::kDouble).requires_grad_(), wd = w.to(at::kDouble);
  auto out = depthwise_conv2d(xd, wd, {1, 1});
  EXPECT_TRUE(torch::equal(out, at::conv2d(xd, wd, {}, 1, {1, 1}, 1, 3)));
  EXPECT_FALSE(graph_contains(out, "DepthwiseConv2d"));
}

// One image channel to C filters: against at::conv2d in float64, for filter
// counts that do and do not fill the kernel's blocks of four, at 2 threads.
TEST(SingleChannelConv2d, MatchesLibTorchForwardAndGradients) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  for (const Shape& s : {Shape{3, 16, 20, 30, 9, 9, 4, 4}, Shape{2, 5, 11, 13, 5, 3, 2, 1},
                         Shape{2, 3, 8, 9, 4, 4, 2, 2}, Shape{1, 7, 6, 5, 7, 7, 3, 3}}) {
    torch::manual_seed(s.c);
    auto x = torch::randn({s.b, 1, s.h, s.w}), w = torch::randn({s.c, 1, s.kh, s.kw});
    auto gout = torch::randn({s.b, s.c, s.h + 2 * s.ph - s.kh + 1, s.w + 2 * s.pw - s.kw + 1});
    auto xd = x.to(at::kDouble).requires_grad_(), wd = w.to(at::kDouble).requires_grad_();
    at::conv2d(xd, wd, {}, 1, {s.ph, s.pw}).backward(gout.to(at::kDouble));
    auto ref = at::conv2d(xd, wd, {}, 1, {s.ph, s.pw});

    ScopedKernelSet fast(KernelSet::fast);
    auto xf = x.clone().requires_grad_(), wf = w.clone().requires_grad_();
    auto out = single_channel_conv2d(xf, wf, {s.ph, s.pw});
    EXPECT_TRUE(graph_contains(out, "SingleChannelConv2d")) << "the fast kernel did not run";
    ASSERT_EQ(out.sizes(), ref.sizes());
    out.backward(gout);
    EXPECT_LE(max_relative_error(out, ref), 1e-5) << s.c << " filters";
    EXPECT_LE(max_relative_error(xf.grad(), xd.grad()), 1e-5) << s.c << " filters";
    EXPECT_LE(max_relative_error(wf.grad(), wd.grad()), 1e-5) << s.c << " filters";
  }
  at::set_num_threads(threads);
}

// The whole core (1x1 → depthwise → 1x1 → BN → ELU, twice) with both kernel sets.
TEST(DepthwiseConv2dV1Core, FastAndReferenceKernelsAgree) {
  fovea::nn::Json spec = {{"type", "minimodel_core"}, {"n_layers", 3}, {"n_conv", 4}, {"n_conv_mid", 6},
                          {"kernel_size", {5, 3}}};
  torch::manual_seed(0);
  fovea::nn::MinimodelCore core(fovea::nn::MinimodelCoreOptions::from_json(spec));
  auto input = torch::randn({3, 1, 33, 65});
  auto run = [&](KernelSet kernels) {
    ScopedKernelSet scoped(kernels);
    core.zero_grad();
    auto out = core.forward(input);
    out.square().sum().backward();
    std::vector<at::Tensor> result{out.detach()};
    for (const auto& p : core.parameters()) result.push_back(p.grad().clone());
    return std::make_pair(result, graph_contains(out, "DepthwiseConv2d"));
  };
  const auto [fast, fast_ran] = run(KernelSet::fast);
  const auto [reference, reference_ran] = run(KernelSet::reference);
  EXPECT_TRUE(fast_ran);
  EXPECT_FALSE(reference_ran);
  ASSERT_EQ(fast.size(), reference.size());
  // Both sides are float32 and sum in different orders (the fast set's 1×1
  // convs are oneDNN GEMMs, its depthwise conv fovea's own), and three layers
  // of BatchNorm backward amplify that rounding: 2e-5 was measured on the
  // gradients. Each fast kernel alone is held to 1e-6 against float64
  // (test_gemm.cpp) or 1e-5 (above).
  for (size_t i = 0; i < fast.size(); ++i)
    EXPECT_LE(max_relative_error(fast[i], reference[i]), 1e-4) << (i == 0 ? "output" : "gradient " + std::to_string(i));
}

}  // namespace
