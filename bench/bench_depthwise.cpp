// bench_depthwise: minimodel's 9×9 depthwise convolution (the V1 full model's
// spatial conv: batch 100, 320 channels, 33×65 maps, padding 4) in LibTorch
// (at::conv2d on NCHW and on channels-last tensors) and in fovea's kernel:
// the forward alone, and forward + backward (input and weight gradients).
// Then the V1 models' first conv (1 -> 16 channels, 25×25, padding 12, on
// 66×130 images): at::conv2d (NCHW, channels-last) against fovea's
// single_channel_conv2d (as MinimodelLayer runs it with the fast kernels),
// the forward and forward + weight gradient (training: the images need no
// gradient).
// Prints best-of-n seconds and GFLOP/s; the process's malloc (tcmalloc, as in
// the fovea command line) serves every row.
//   bench_depthwise [--batch 100] [--threads 2] [--repeats 3]
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <string>

#include "baseline_runner.h"
#include "fovea/nn/kernels/depthwise_conv2d.h"
#include "fovea/nn/kernels/kernel_set.h"
#include "fovea/nn/process_allocator.h"

int main(int argc, char** argv) {
  std::map<std::string, int64_t> opt = {{"--batch", 100}, {"--threads", 2}, {"--repeats", 3}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!opt.count(argv[i])) {
      std::fprintf(stderr, "unknown option %s (known: --batch, --threads, --repeats)\n", argv[i]);
      return 2;
    }
    opt[argv[i]] = std::stoll(argv[i + 1]);
  }
  at::set_num_threads(static_cast<int>(opt["--threads"]));
  const int repeats = static_cast<int>(opt["--repeats"]);
  const int64_t B = opt["--batch"], C = 320, H = 33, W = 65, k = 9, pad = 4;
  torch::manual_seed(0);
  const auto x = torch::randn({B, C, H, W}), w = torch::randn({C, 1, k, k}) * 0.1, gout = torch::randn({B, C, H, W});
  const double gflop = 2.0 * B * C * H * W * k * k / 1e9;  // one pass; backward = two passes

  std::printf("depthwise conv %lldx%lldx%lldx%lld, k %lld, padding %lld, %d threads, %s (best of %d)\n",
              static_cast<long long>(B), static_cast<long long>(C), static_cast<long long>(H),
              static_cast<long long>(W), static_cast<long long>(k), static_cast<long long>(pad),
              at::get_num_threads(), fovea::nn::process_allocator().c_str(), repeats);
  std::printf("%-26s %12s %10s %16s %10s\n", "", "forward (s)", "GFLOP/s", "fwd+bwd (s)", "GFLOP/s");
  auto row = [&](const char* name, fovea::nn::KernelSet kernels, at::MemoryFormat format) {
    fovea::nn::ScopedKernelSet scoped(kernels);
    const auto xf = x.contiguous(format), gf = gout.contiguous(format);
    auto forward = [&] {
      torch::NoGradGuard no_grad;
      fovea::nn::depthwise_conv2d(xf, w, {pad, pad});
    };
    auto forward_backward = [&] {
      auto xi = xf.detach().requires_grad_(), wi = w.detach().requires_grad_();
      fovea::nn::depthwise_conv2d(xi, wi, {pad, pad}).backward(gf);
    };
    forward();  // warm-up (allocations, oneDNN primitives)
    const double f = fovea::bench::best_of(repeats, forward);
    forward_backward();
    const double fb = fovea::bench::best_of(repeats, forward_backward);
    std::printf("%-26s %12.3f %10.1f %16.3f %10.1f\n", name, f, gflop / f, fb, 3 * gflop / fb);
  };
  using fovea::nn::KernelSet;
  row("at::conv2d NCHW", KernelSet::reference, at::MemoryFormat::Contiguous);
  row("at::conv2d channels-last", KernelSet::reference, at::MemoryFormat::ChannelsLast);
  row("fovea fast kernel", KernelSet::fast, at::MemoryFormat::Contiguous);

  const int64_t C1 = 16, H1 = 66, W1 = 130, k1 = 25, pad1 = 12;
  const auto images = torch::randn({B, 1, H1, W1}), w1 = torch::randn({C1, 1, k1, k1}) * 0.05,
             gout1 = torch::randn({B, C1, H1, W1});
  const double gflop1 = 2.0 * B * C1 * H1 * W1 * k1 * k1 / 1e9;
  std::printf("\nfirst conv %lldx1x%lldx%lld -> %lld channels, k %lld, padding %lld\n", static_cast<long long>(B),
              static_cast<long long>(H1), static_cast<long long>(W1), static_cast<long long>(C1),
              static_cast<long long>(k1), static_cast<long long>(pad1));
  std::printf("%-26s %12s %10s %16s %10s\n", "", "forward (s)", "GFLOP/s", "fwd+wgrad (s)", "GFLOP/s");
  auto first_conv_row = [&](const char* name, bool fovea_kernel, at::MemoryFormat format) {
    const auto xf = images.contiguous(format), gf = gout1.contiguous(format);
    auto conv = [&](const at::Tensor& weight) {
      return fovea_kernel ? fovea::nn::single_channel_conv2d(xf, weight, {pad1, pad1})
                          : at::conv2d(xf, weight.contiguous(format), {}, 1, {pad1, pad1});
    };
    fovea::nn::ScopedKernelSet scoped(fovea_kernel ? KernelSet::fast : KernelSet::reference);
    auto forward = [&] {
      torch::NoGradGuard no_grad;
      conv(w1);
    };
    auto forward_backward = [&] { conv(w1.detach().requires_grad_()).backward(gf); };
    forward();
    const double f = fovea::bench::best_of(repeats, forward);
    forward_backward();
    const double fb = fovea::bench::best_of(repeats, forward_backward);
    std::printf("%-26s %12.3f %10.1f %16.3f %10.1f\n", name, f, gflop1 / f, fb, 2 * gflop1 / fb);
  };
  first_conv_row("at::conv2d NCHW", false, at::MemoryFormat::Contiguous);
  first_conv_row("at::conv2d channels-last", false, at::MemoryFormat::ChannelsLast);
  first_conv_row("fovea single_channel_conv2d", true, at::MemoryFormat::Contiguous);
  return 0;
}
