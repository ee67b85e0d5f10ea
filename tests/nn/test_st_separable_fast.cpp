// STSeparableBatchConv3d's fast kernel (a spatial and a temporal convolution)
// against the dense kernel and conv3d in float64: forward and the gradients of
// the input, sin_weights, cos_weights, weight_spatial, bias and a per-session
// log speed, on random weights of many shapes; the frozen cases; and the
// reference kernels' dense path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/kernels/st_separable.h"
#include "fovea/nn/st_separable_conv.h"
#include "kernel_test_util.h"
#include "test_util.h"

using fovea::nn::KernelSet;
using fovea::nn::Padding3d;
using fovea::nn::ScopedKernelSet;
using fovea::nn::STSeparableBatchConv3d;
using fovea::nn::STSeparableBatchConv3dOptions;
using fovea::test::graph_contains;
using fovea::test::max_relative_error;

namespace {

struct Shape {
  int64_t b, in, out, t, h, w, kt, kh, kw;
  std::string padding;  // "0", "same" or "t,h,w"
  bool bias = true;
};

void PrintTo(const Shape& s, std::ostream* os) {
  *os << "B" << s.b << " I" << s.in << " O" << s.out << " " << s.t << "x" << s.h << "x" << s.w << " k" << s.kt << "x"
      << s.kh << "x" << s.kw << " pad " << s.padding << (s.bias ? "" : " no bias");
}

Padding3d padding_of(const std::string& text) {
  if (text == "same") return Padding3d::from_json("same", "padding");
  if (text.find(',') == std::string::npos) return Padding3d::from_json(std::stoll(text), "padding");
  nlohmann::json sizes = nlohmann::json::array();
  size_t start = 0;
  for (size_t end; (end = text.find(',', start)) != std::string::npos; start = end + 1)
    sizes.push_back(std::stoll(text.substr(start, end - start)));
  sizes.push_back(std::stoll(text.substr(start)));
  return Padding3d::from_json(sizes, "padding");
}

// A layer with O(1) random weights (not the 0.01 initialisation).
STSeparableBatchConv3d make_layer(const Shape& s) {
  STSeparableBatchConv3dOptions o;
  o.in_channels = s.in;
  o.out_channels = s.out;
  o.temporal_kernel_size = s.kt;
  o.spatial_kernel_size = s.kh;
  o.spatial_kernel_size2 = s.kw;
  o.padding = padding_of(s.padding);
  o.bias = s.bias;
  STSeparableBatchConv3d layer(o);
  torch::NoGradGuard no_grad;
  for (auto& p : layer->parameters()) p.copy_(torch::randn(p.sizes()));
  return layer;
}

at::Tensor conv3d_padded(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const Padding3d& p) {
  if (p.same) return at::conv3d(x, w, bias, 1, "same");
  return at::conv3d(x, w, bias, 1, {p.size[0], p.size[1], p.size[2]});
}

// The layer's function as the reference computes it (the dense kernel and
// conv3d), in float64 from the same float32 temporal kernels.
at::Tensor dense_float64(STSeparableBatchConv3d& layer, const at::Tensor& x, const at::Tensor& log_speed) {
  const at::Tensor w = layer->temporal_kernels(log_speed).to(at::kDouble).unsqueeze(-1).unsqueeze(-1) *
                       layer->weight_spatial.to(at::kDouble);
  const at::Tensor bias = layer->bias.defined() ? layer->bias.to(at::kDouble) : at::Tensor();
  return conv3d_padded(x.to(at::kDouble), w, bias, layer->options().padding);
}

// The kernel itself (st_separable_conv3d, the temporal and spatial kernels as
// leaves) against conv3d with the dense kernel in float64.
void expect_kernel_matches_dense(const Shape& s, bool input_grad) {
  torch::manual_seed(s.b * 1000 + s.in * 100 + s.out * 10 + s.kt + s.kh + s.kw + 7);
  const Padding3d pad = padding_of(s.padding);
  std::array<int64_t, 3> before = pad.size, after = pad.size;
  const int64_t k[3] = {s.kt, s.kh, s.kw};
  if (pad.same)
    for (int d = 0; d < 3; ++d) before[d] = (k[d] - 1) / 2, after[d] = k[d] - 1 - before[d];
  std::vector<at::Tensor> leaves = {torch::randn({s.b, s.in, s.t, s.h, s.w}), torch::randn({s.out, s.in, s.kt}),
                                    torch::randn({s.out, s.in, s.kh, s.kw}),
                                    s.bias ? torch::randn({s.out}) : at::Tensor()};
  std::vector<at::Tensor> ref_leaves;
  for (auto& t : leaves) {
    ref_leaves.push_back(t.defined() ? t.to(at::kDouble).requires_grad_() : t);
    if (t.defined()) t.requires_grad_();
  }
  leaves[0].requires_grad_(input_grad);
  const at::Tensor dense = ref_leaves[1].unsqueeze(-1).unsqueeze(-1) * ref_leaves[2].unsqueeze(2);
  const at::Tensor ref = conv3d_padded(ref_leaves[0], dense, ref_leaves[3], pad);
  const at::Tensor gout = torch::randn(ref.sizes());
  ref.backward(gout.to(at::kDouble));
  const at::Tensor out = fovea::nn::st_separable_conv3d(leaves[0], leaves[1], leaves[2], leaves[3], before, after);
  ASSERT_EQ(out.sizes(), ref.sizes());
  EXPECT_LE(max_relative_error(out, ref), 1e-5);
  out.backward(gout);
  const char* names[] = {"input", "temporal", "spatial", "bias"};
  for (int j = 0; j < 4; ++j) {
    if (!leaves[j].defined() || !leaves[j].requires_grad()) continue;
    ASSERT_TRUE(leaves[j].grad().defined()) << names[j] << " got no gradient";
    EXPECT_LE(max_relative_error(leaves[j].grad(), ref_leaves[j].grad()), 1e-5) << names[j];
  }
}

// The module with the fast kernel against the same module in float64 with the
// reference kernels: forward, and the gradients of the input, the parameters
// and a per-session log speed. With `input_grad` false the input needs no
// gradient (a first layer in training); with `frozen` the weights need none
// (an MEI).
//
// The log speed's gradient is one number summed from the temporal kernels'
// gradients, whose terms largely cancel, so float32 can only be asked to get
// it right relative to the size of those terms, Σ |dL/dw_t| |dw_t/dlog_speed|.
void expect_module_matches_dense(const Shape& s, bool input_grad, bool frozen) {
  torch::manual_seed(s.b * 1000 + s.in * 100 + s.out * 10 + s.kt + s.kh + s.kw);
  auto layer = make_layer(s);
  auto ref_layer = std::dynamic_pointer_cast<fovea::nn::STSeparableBatchConv3dImpl>(layer->clone());
  ref_layer->to(at::kDouble);
  for (auto* l : {layer.ptr().get(), ref_layer.get()})
    for (auto& p : l->parameters()) p.requires_grad_(!frozen);
  const at::Tensor x = torch::randn({s.b, s.in, s.t, s.h, s.w}).requires_grad_(input_grad);
  const at::Tensor log_speed = (torch::randn({1}) * 0.3).requires_grad_(!frozen);
  const at::Tensor ref_x = x.to(at::kDouble).detach().requires_grad_(input_grad);
  const at::Tensor ref_log_speed = log_speed.to(at::kDouble).detach().requires_grad_(!frozen);

  // The reference through the temporal kernels, kept for the log speed's scale.
  const at::Tensor ref_wt = ref_layer->temporal_kernels(ref_log_speed);
  if (ref_wt.requires_grad()) ref_wt.retain_grad();
  const at::Tensor ref = conv3d_padded(ref_x, ref_wt.unsqueeze(-1).unsqueeze(-1) * ref_layer->weight_spatial,
                                       ref_layer->bias, ref_layer->options().padding);
  const at::Tensor gout = torch::randn(ref.sizes());
  ScopedKernelSet fast(KernelSet::fast);
  const at::Tensor out = layer->forward_with_log_speed(x, log_speed);
  ASSERT_EQ(out.sizes(), ref.sizes());
  EXPECT_LE(max_relative_error(out, ref), 1e-5);
  EXPECT_TRUE(graph_contains(out, "STSeparableConv3d")) << "the fast kernel did not run";
  ref.backward(gout.to(at::kDouble));
  out.backward(gout);

  std::vector<std::tuple<std::string, at::Tensor, at::Tensor>> pairs = {{"input", x, ref_x}};
  for (const auto& p : layer->named_parameters())
    pairs.emplace_back(p.key(), p.value(), ref_layer->named_parameters()[p.key()]);
  for (const auto& [name, mine, theirs] : pairs) {
    if (!mine.requires_grad() || mine.numel() == 0) continue;
    ASSERT_TRUE(mine.grad().defined()) << name << " got no gradient";
    EXPECT_LE(max_relative_error(mine.grad(), theirs.grad()), 1e-5) << name;
  }
  if (frozen || layer->sin_weights.numel() == 0) return;  // kt < 3: no basis functions, nothing depends on the speed
  ASSERT_TRUE(log_speed.grad().defined());
  torch::NoGradGuard no_grad;
  const double h = 1e-6;  // dw_t/dlog_speed by central differences in float64
  const at::Tensor slope =
      (ref_layer->temporal_kernels(ref_log_speed + h) - ref_layer->temporal_kernels(ref_log_speed - h)) / (2 * h);
  const double scale = (ref_wt.grad().abs() * slope.abs()).sum().item<double>();
  const double error = (log_speed.grad().to(at::kDouble) - ref_log_speed.grad()).abs().item<double>();
  EXPECT_LE(error, 1e-5 * scale) << "log_speed: " << log_speed.grad().item<double>() << " vs "
                                 << ref_log_speed.grad().item<double>() << ", terms of size " << scale;
}

class STSeparableFast : public ::testing::TestWithParam<Shape> {};

TEST_P(STSeparableFast, KernelMatchesDense) { expect_kernel_matches_dense(GetParam(), true); }

TEST_P(STSeparableFast, KernelMatchesDenseWithoutInputGradient) { expect_kernel_matches_dense(GetParam(), false); }

TEST_P(STSeparableFast, ModuleMatchesDense) { expect_module_matches_dense(GetParam(), true, false); }

TEST_P(STSeparableFast, ModuleMatchesDenseWithoutInputGradient) {
  expect_module_matches_dense(GetParam(), false, false);
}

TEST_P(STSeparableFast, ModuleMatchesDenseWithFrozenWeights) { expect_module_matches_dense(GetParam(), true, true); }

INSTANTIATE_TEST_SUITE_P(
    Shapes, STSeparableFast,
    ::testing::Values(Shape{2, 1, 1, 7, 6, 5, 3, 3, 3, "0"},            // one channel in and out
                      Shape{3, 2, 4, 9, 7, 8, 3, 3, 2, "1,2,2"},        // kh != kw, odd sizes
                      Shape{2, 3, 4, 25, 5, 6, 21, 3, 5, "0"},          // long temporal kernel
                      Shape{2, 3, 1, 6, 4, 5, 1, 3, 3, "same", false},  // kt 1, no bias
                      Shape{1, 2, 4, 8, 5, 7, 3, 4, 2, "same"},         // even kernels: asymmetric "same"
                      Shape{2, 3, 4, 5, 3, 2, 3, 5, 4, "1,2,2"},        // maps smaller than the kernel
                      Shape{2, 2, 16, 30, 18, 16, 21, 11, 11, "0"},     // the retina model's first layer
                      Shape{2, 16, 16, 20, 8, 6, 11, 5, 5, "0,2,2"},    // its second layer
                      Shape{3, 2, 20, 6, 5, 4, 3, 3, 3, "1,1,1"},       // two blocks of 16 output channels
                      Shape{5, 1, 4, 4, 3, 3, 1, 1, 1, "0"}));           // a 1x1x1 kernel

TEST(STSeparableFast, StridedInputAndSingleThread) {
  const Shape s{3, 2, 4, 9, 7, 8, 5, 3, 3, "1,2,2"};
  auto layer = make_layer(s);
  auto x = torch::randn({s.b, s.in, s.t, s.w, s.h}).transpose(3, 4);  // not contiguous
  auto log_speed = torch::zeros({1});
  auto ref = dense_float64(layer, x, log_speed);
  ScopedKernelSet fast(KernelSet::fast);
  EXPECT_LE(max_relative_error(layer->forward(x), ref), 1e-5);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  EXPECT_LE(max_relative_error(layer->forward(x), ref), 1e-5);
  at::set_num_threads(threads);
}

// A batch smaller than the threads (an MEI) splits the forward pass over the
// input channels and the backward pass over (batch element, channel) pairs.
TEST(STSeparableFast, SmallBatchesSplitAcrossThreads) {
  const int threads = at::get_num_threads();
  for (int n : {2, 3}) {
    at::set_num_threads(n);
    for (const Shape& s : {Shape{1, 2, 16, 30, 18, 16, 21, 11, 11, "0"},     // the retina model's first layer
                           Shape{1, 16, 16, 20, 8, 6, 11, 5, 5, "0,2,2"},   // its second layer
                           Shape{2, 3, 20, 6, 5, 4, 3, 3, 3, "1,1,1"},      // two blocks, batch 2
                           Shape{1, 5, 4, 7, 6, 5, 3, 3, 3, "same"},        // 5 channels over 2 or 3 threads
                           Shape{1, 1, 4, 7, 6, 5, 3, 3, 3, "0"}}) {        // one channel: nothing to split
      SCOPED_TRACE(std::to_string(n) + " threads, batch " + std::to_string(s.b) + ", " + std::to_string(s.in) +
                   " channels in");
      expect_kernel_matches_dense(s, true);
      expect_kernel_matches_dense(s, false);
    }
  }
  at::set_num_threads(threads);
}

// The retina model's first layer keeps its stage-1 fields from the forward
// pass for the backward pass (the second recomputes them; both are in the
// shapes above). A retained graph's backward reads the kept fields twice:
// twice the float64 conv3d's gradients, and a forward without grad mode keeps
// nothing and still gives the same output.
TEST(STSeparableFast, KeptFieldsServeARetainedGraphTwice) {
  torch::manual_seed(3);
  const std::array<int64_t, 3> zero{0, 0, 0};
  std::vector<at::Tensor> leaves = {torch::randn({2, 2, 24, 18, 16}), torch::randn({16, 2, 21}),
                                    torch::randn({16, 2, 11, 11}), torch::randn({16})};
  std::vector<at::Tensor> ref_leaves;
  for (auto& t : leaves) ref_leaves.push_back(t.to(at::kDouble).requires_grad_());
  for (size_t j = 1; j < leaves.size(); ++j) leaves[j].requires_grad_();  // the input needs none: a first layer
  const at::Tensor ref = at::conv3d(ref_leaves[0], ref_leaves[1].unsqueeze(-1).unsqueeze(-1) * ref_leaves[2].unsqueeze(2),
                                    ref_leaves[3]);
  const at::Tensor gout = torch::randn(ref.sizes());
  (2 * ref).backward(gout.to(at::kDouble));
  const at::Tensor out = fovea::nn::st_separable_conv3d(leaves[0], leaves[1], leaves[2], leaves[3], zero, zero);
  EXPECT_LE(max_relative_error(out, ref), 1e-5);
  out.backward(gout, /*retain_graph=*/true);
  out.backward(gout);
  const char* names[] = {"input", "temporal", "spatial", "bias"};
  for (int j = 1; j < 4; ++j) EXPECT_LE(max_relative_error(leaves[j].grad(), ref_leaves[j].grad()), 1e-5) << names[j];
  torch::NoGradGuard no_grad;
  EXPECT_LE(max_relative_error(fovea::nn::st_separable_conv3d(leaves[0], leaves[1], leaves[2], leaves[3], zero, zero), ref),
            1e-5);
}

TEST(STSeparableFast, ReferenceKernelsRunTheDenseConv3d) {
  const Shape s{2, 3, 4, 9, 7, 8, 3, 3, 5, "1,2,2"};
  auto layer = make_layer(s);
  auto x = torch::randn({s.b, s.in, s.t, s.h, s.w});
  ScopedKernelSet reference(KernelSet::reference);
  auto out = layer->forward(x);
  EXPECT_FALSE(graph_contains(out, "STSeparableConv3d"));
  EXPECT_TRUE(torch::equal(out, at::conv3d(x, layer->dense_kernel(), layer->bias, 1, {1, 2, 2})));
}

TEST(STSeparableFast, OtherStridesAndDtypesRunTheDenseConv3d) {
  Shape s{2, 3, 4, 9, 7, 8, 3, 3, 3, "1"};
  auto layer = make_layer(s);
  ScopedKernelSet fast(KernelSet::fast);
  auto x = torch::randn({s.b, s.in, s.t, s.h, s.w});
  auto x64 = x.to(at::kDouble);
  layer->to(at::kDouble);
  EXPECT_TRUE(torch::equal(layer->forward(x64), at::conv3d(x64, layer->dense_kernel(), layer->bias, 1, 1)));
  layer->to(at::kFloat);
  STSeparableBatchConv3dOptions o = layer->options();
  o.stride = {1, 2, 2};
  STSeparableBatchConv3d strided(o);
  auto out = strided->forward(x);
  EXPECT_FALSE(graph_contains(out, "STSeparableConv3d"));
  EXPECT_TRUE(torch::equal(out, at::conv3d(x, strided->dense_kernel(), strided->bias, {1, 2, 2}, 1)));
}

TEST(STSeparableFast, DoubleBackwardIsAnError) {
  const Shape s{1, 2, 4, 6, 5, 5, 3, 3, 3, "0"};
  auto layer = make_layer(s);
  auto x = torch::randn({s.b, s.in, s.t, s.h, s.w}).requires_grad_();
  ScopedKernelSet fast(KernelSet::fast);
  auto loss = layer->forward(x).pow(2).sum();
  const auto message = fovea::test::error_of([&] { torch::autograd::grad({loss}, {x}, {}, true, true); });
  EXPECT_NE(message.find("double backward"), std::string::npos) << message;
}

}  // namespace
