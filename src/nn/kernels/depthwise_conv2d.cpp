// fovea's CPU depthwise convolution, with hand-written forward and backward.
//
// LibTorch 1.13's CPU backward of depthwise convolutions is slow: for
// minimodel's 9×9, 320-channel convolution it takes seconds (issue 5; see
// bench/bench_depthwise.cpp). Here all
// three passes are the same loop, a correlation of one zero-padded plane with
// one small kernel:
//   forward     out   = corr(pad(x, p),                w)
//   grad input  gin   = corr(pad(gout, k - 1 - p),     w flipped)   (the transposed convolution)
//   grad weight gw_kk = Σ_b corr(pad(x, p), gout) at the k_h × k_w tap offsets
// A padded plane is stored flat with row stride wp = wo + kw − 1. Output y, x
// then sits at i = y·wp + x and tap (ky, kx) reads padded[i + ky·wp + kx]: the
// whole plane is one 1-D correlation over i, whose inner loops run over long
// contiguous ranges with constant trip counts that GCC vectorises. The kw − 1
// columns x ≥ wo of each output row are junk (dropped; zeros in the gradient
// of grad weight): with the rounding to whole blocks, 13% extra work for
// minimodel's 33×65 maps.
#include "fovea/nn/kernels/depthwise_conv2d.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::nn {

namespace {

// Outputs per register block of the correlation: 64 accumulators are 4
// AVX-512 or 8 AVX registers, enough independent FMA chains to hide their
// latency. The tap sums of grad weight take kTaps taps of a kernel row at
// once, kLanes partial sums each, so that each load of the gradient feeds
// kTaps FMAs. (Sizes chosen by timing on AVX2 and AVX-512.)
constexpr int64_t kBlock = 64;
constexpr int64_t kTaps = 3, kLanes = 32;
static_assert(kBlock % kLanes == 0, "n is rounded to whole blocks, which must hold whole lane groups");
// The weight gradient of a single-channel conv (correlate_taps_shared):
// kShared filters and kTapsShared taps per pass, kLanesShared partial sums each.
constexpr int64_t kShared = 4, kTapsShared = 4, kLanesShared = 16;
static_assert(kBlock % kLanesShared == 0, "n is rounded to whole blocks, which must hold whole lane groups");

// Sizes of one pass over one plane.
struct Geometry {
  int64_t kh, kw, ho, wo;
  int64_t wp;      // row stride of the padded plane and of the output buffer: wo + kw − 1
  int64_t n;       // outputs computed: (ho − 1)·wp + wo, rounded up to whole blocks
  int64_t padded;  // padded plane buffer size: every element the blocks and tap groups read

  Geometry(int64_t kh_, int64_t kw_, int64_t ho_, int64_t wo_)
      : kh(kh_), kw(kw_), ho(ho_), wo(wo_), wp(wo_ + kw_ - 1) {
    n = ((ho - 1) * wp + wo + kBlock - 1) / kBlock * kBlock;
    padded = (kh - 1) * wp + (kw - 1) + n + std::max(kTaps, kTapsShared) - 1;
  }
};

// Writes src (hs × ws, contiguous) into dst as rows of `stride`, with src's
// (0, 0) at (top, left); what falls outside rows × stride is cut off
// (negative offsets crop: grad input when the padding exceeds k − 1). The
// rest of dst must be zero; it stays so, since every plane of a pass writes
// the same region, so a buffer is zeroed once (at construction) per thread.
void place(const float* src, int64_t hs, int64_t ws, int64_t top, int64_t left, int64_t rows, int64_t stride,
           float* dst) {
  const int64_t c0 = std::max<int64_t>(0, left), c1 = std::min(stride, left + ws);
  if (c1 <= c0) return;
  for (int64_t r = std::max<int64_t>(0, top); r < std::min(rows, top + hs); ++r)
    std::copy(src + (r - top) * ws + (c0 - left), src + (r - top) * ws + (c1 - left), dst + r * stride + c0);
}

// The two inner kernels, compiled three times: for x86-64-v4 (AVX-512),
// x86-64-v3 (AVX2 + FMA) and any x86-64, chosen once at load time by the
// CPU's features. (Not "arch=haswell": that clone is chosen by CPU model and
// never runs on AMD.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FOVEA_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FOVEA_MULTIVERSION
#endif

// out[i] = Σ_{ky,kx} w[ky, kx] · padded[i + ky·wp + kx] for i < n.
FOVEA_MULTIVERSION
void correlate(const float* __restrict padded, const float* __restrict w, const Geometry& g,
               float* __restrict out) {
  for (int64_t i = 0; i < g.n; i += kBlock) {
    // The block's outputs stay in registers over all taps (the j loops unroll):
    // one load and one FMA per tap and vector.
    float acc[kBlock] = {};
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const float* row = padded + i + ky * g.wp;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const float c = w[ky * g.kw + kx];
        for (int64_t j = 0; j < kBlock; ++j) acc[j] += c * row[kx + j];
      }
    }
    for (int64_t j = 0; j < kBlock; ++j) out[i + j] = acc[j];
  }
}

// gw[ky, kx] += Σ_i grad[i] · padded[i + ky·wp + kx] (grad is 0 in the junk columns).
FOVEA_MULTIVERSION
void correlate_taps(const float* __restrict padded, const float* __restrict grad, const Geometry& g,
                    double* __restrict gw) {
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx0 = 0; kx0 < g.kw; kx0 += kTaps) {
      const float* p = padded + ky * g.wp + kx0;
      // Independent partial sums per tap and lane: vectorised without
      // reassociating. Taps past kw (when kTaps does not divide it) read the
      // buffer's slack and are dropped.
      float acc[kTaps][kLanes] = {};
      for (int64_t i = 0; i < g.n; i += kLanes)
        for (int64_t t = 0; t < kTaps; ++t)
          for (int64_t j = 0; j < kLanes; ++j) acc[t][j] += grad[i + j] * p[t + i + j];
      for (int64_t t = 0; t < kTaps && kx0 + t < g.kw; ++t) {
        double sum = 0;
        for (float a : acc[t]) sum += a;
        gw[ky * g.kw + kx0 + t] += sum;
      }
    }
}

// The tap correlations of one padded plane with kShared gradient planes at
// once (a single-channel conv's filters all read the same image):
// gw[c][ky, kx] += Σ_i grad_c[i] · padded[i + ky·wp + kx]. Each load of the
// plane feeds kShared FMAs and each load of a gradient kTapsShared, so the
// loop is bound by FMAs, not loads. Written with GCC's vector type (one
// AVX-512 register, two AVX ones) so that the kShared × kTapsShared
// accumulators stay in registers.
typedef float Lanes __attribute__((vector_size(kLanesShared * sizeof(float))));
inline Lanes load_lanes(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}

FOVEA_MULTIVERSION
void correlate_taps_shared(const float* __restrict padded, const float* __restrict grads, int64_t grad_stride,
                           const Geometry& g, double* __restrict gw) {
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx0 = 0; kx0 < g.kw; kx0 += kTapsShared) {
      const float* p = padded + ky * g.wp + kx0;
      Lanes acc[kShared][kTapsShared] = {};
      for (int64_t i = 0; i < g.n; i += kLanesShared) {
        Lanes plane[kTapsShared];
        for (int64_t t = 0; t < kTapsShared; ++t) plane[t] = load_lanes(p + t + i);
        for (int64_t c = 0; c < kShared; ++c) {
          const Lanes grad = load_lanes(grads + c * grad_stride + i);
          for (int64_t t = 0; t < kTapsShared; ++t) acc[c][t] += grad * plane[t];
        }
      }
      for (int64_t c = 0; c < kShared; ++c)
        for (int64_t t = 0; t < kTapsShared && kx0 + t < g.kw; ++t) {
          double sum = 0;
          for (int64_t j = 0; j < kLanesShared; ++j) sum += acc[c][t][j];
          gw[(c * g.kh + ky) * g.kw + kx0 + t] += sum;
        }
    }
}

// dst[b, c] = corr(src[b, c] placed at (top, left), w[c]) for every plane,
// planes in parallel. src, w contiguous; dst (B, C, ho, wo) contiguous.
void correlate_planes(const at::Tensor& src, const at::Tensor& w, int64_t top, int64_t left, at::Tensor& dst) {
  const int64_t C = src.size(1), hs = src.size(2), ws = src.size(3);
  const Geometry g(w.size(2), w.size(3), dst.size(2), dst.size(3));
  const float* s = src.data_ptr<float>();
  const float* wt = w.data_ptr<float>();
  float* d = dst.data_ptr<float>();
  at::parallel_for(0, src.size(0) * C, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> padded(g.padded), out(g.n);  // zeroed
    for (int64_t p = begin; p < end; ++p) {
      place(s + p * hs * ws, hs, ws, top, left, g.ho + g.kh - 1, g.wp, padded.data());
      correlate(padded.data(), wt + (p % C) * g.kh * g.kw, g, out.data());
      for (int64_t y = 0; y < g.ho; ++y)
        std::copy(out.data() + y * g.wp, out.data() + y * g.wp + g.wo, d + (p * g.ho + y) * g.wo);
    }
  });
}

// Σ over the batch of each channel's tap correlations; channels in parallel,
// so each thread owns its channels' sums (no atomics). Accumulated in double
// over the batch.
at::Tensor weight_grad(const at::Tensor& x, const at::Tensor& gout, int64_t kh, int64_t kw, int64_t ph, int64_t pw) {
  const int64_t B = x.size(0), C = x.size(1), h = x.size(2), w = x.size(3);
  const Geometry g(kh, kw, gout.size(2), gout.size(3));
  auto gw = at::empty({C, 1, kh, kw}, x.options());
  const float* xs = x.data_ptr<float>();
  const float* gs = gout.data_ptr<float>();
  float* out = gw.data_ptr<float>();
  at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> padded(g.padded), grad(g.n);  // zeroed
    std::vector<double> sums(kh * kw);
    for (int64_t c = begin; c < end; ++c) {
      std::fill(sums.begin(), sums.end(), 0.0);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t plane = b * C + c;
        place(xs + plane * h * w, h, w, ph, pw, g.ho + kh - 1, g.wp, padded.data());
        place(gs + plane * g.ho * g.wo, g.ho, g.wo, 0, 0, g.ho, g.wp, grad.data());
        correlate_taps(padded.data(), grad.data(), g, sums.data());
      }
      std::copy(sums.begin(), sums.end(), out + c * kh * kw);
    }
  });
  return gw;
}

// The weight gradient of a single-channel conv: x (B, 1, h, w), gout (B, C,
// ho, wo). Blocks of kShared filters in parallel (each thread owns its
// filters' sums), summed over the batch in double. C is padded to whole
// blocks with zero gradient planes.
at::Tensor shared_plane_weight_grad(const at::Tensor& x, const at::Tensor& gout, int64_t kh, int64_t kw, int64_t ph,
                                    int64_t pw) {
  const int64_t B = x.size(0), C = gout.size(1), h = x.size(2), w = x.size(3);
  const Geometry g(kh, kw, gout.size(2), gout.size(3));
  const int64_t blocks = (C + kShared - 1) / kShared;
  std::vector<double> sums(static_cast<size_t>(blocks * kShared * kh * kw), 0.0);
  const float* xs = x.data_ptr<float>();
  const float* gs = gout.data_ptr<float>();
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> padded(g.padded), grads(kShared * g.n);  // zeroed; junk columns stay 0
    for (int64_t block = begin; block < end; ++block) {
      const int64_t c0 = block * kShared, count = std::min(kShared, C - c0);
      for (int64_t b = 0; b < B; ++b) {
        place(xs + b * h * w, h, w, ph, pw, g.ho + kh - 1, g.wp, padded.data());
        for (int64_t c = 0; c < count; ++c)
          place(gs + (b * C + c0 + c) * g.ho * g.wo, g.ho, g.wo, 0, 0, g.ho, g.wp, grads.data() + c * g.n);
        correlate_taps_shared(padded.data(), grads.data(), g.n, g, sums.data() + c0 * kh * kw);
      }
    }
  });
  return at::from_blob(sums.data(), {C, 1, kh, kw}, at::kDouble).to(at::kFloat);
}

class SingleChannelConv2dFunction : public torch::autograd::Function<SingleChannelConv2dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            int64_t ph, int64_t pw) {
    auto x = input.contiguous(), w = weight.contiguous();
    ctx->save_for_backward({x, w});
    ctx->saved_data["ph"] = ph;
    ctx->saved_data["pw"] = pw;
    at::AutoDispatchBelowADInplaceOrView no_autograd;
    return at::conv2d(x, w, {}, 1, {ph, pw}).contiguous();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    refuse_double_backward("single_channel_conv2d");
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const int64_t ph = ctx->saved_data["ph"].toInt(), pw = ctx->saved_data["pw"].toInt();
    const auto gout = grads[0].contiguous();
    at::Tensor grad_input, grad_weight;
    if (ctx->needs_input_grad(0))
      grad_input = std::get<0>(at::convolution_backward(gout, x, w, c10::nullopt, {1, 1}, {ph, pw}, {1, 1}, false,
                                                        {0, 0}, 1, {true, false, false}));
    if (ctx->needs_input_grad(1)) grad_weight = shared_plane_weight_grad(x, gout, w.size(2), w.size(3), ph, pw);
    return {grad_input, grad_weight, at::Tensor(), at::Tensor()};
  }
};

class DepthwiseConv2dFunction : public torch::autograd::Function<DepthwiseConv2dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& weight, int64_t ph, int64_t pw) {
    // Channels-last and other strided inputs are copied once; the copy is what backward reads.
    auto x = input.contiguous(), w = weight.contiguous();
    ctx->save_for_backward({x, w});
    ctx->saved_data["ph"] = ph;
    ctx->saved_data["pw"] = pw;
    const int64_t ho = x.size(2) + 2 * ph - w.size(2) + 1, wo = x.size(3) + 2 * pw - w.size(3) + 1;
    auto out = at::empty({x.size(0), x.size(1), ho, wo}, x.options());
    correlate_planes(x, w, ph, pw, out);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    refuse_double_backward("depthwise_conv2d");
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const int64_t ph = ctx->saved_data["ph"].toInt(), pw = ctx->saved_data["pw"].toInt();
    const int64_t kh = w.size(2), kw = w.size(3);
    const auto gout = grads[0].contiguous();
    at::Tensor grad_input, grad_weight;
    if (ctx->needs_input_grad(0)) {
      grad_input = at::empty_like(x);
      correlate_planes(gout, w.flip({2, 3}).contiguous(), kh - 1 - ph, kw - 1 - pw, grad_input);
    }
    if (ctx->needs_input_grad(1)) grad_weight = weight_grad(x, gout, kh, kw, ph, pw);
    return {grad_input, grad_weight, at::Tensor(), at::Tensor()};
  }
};

// What both functions' fast kernels need: the fast kernels selected, float32
// CPU tensors, input (B, ·, H, W) and weight (C, 1, k_h, k_w), both non-empty,
// and a padded map at least as large as the kernel. Anything else (other
// devices and dtypes, and invalid shapes, for LibTorch's own error) is at::conv2d.
bool fast_kernel_fits(const at::Tensor& input, const at::Tensor& weight, int64_t ph, int64_t pw) {
  return use_fast_cpu_kernel(input) && use_fast_cpu_kernel(weight) && input.dim() == 4 && weight.dim() == 4 &&
         weight.size(1) == 1 && input.numel() > 0 && weight.numel() > 0 && ph >= 0 && pw >= 0 &&
         input.size(2) + 2 * ph >= weight.size(2) && input.size(3) + 2 * pw >= weight.size(3);
}

}  // namespace

at::Tensor depthwise_conv2d(const at::Tensor& input, const at::Tensor& weight, std::array<int64_t, 2> padding) {
  const auto [ph, pw] = padding;
  const bool fast = fast_kernel_fits(input, weight, ph, pw) && weight.size(0) == input.size(1);
  if (!fast) return at::conv2d(input, weight, {}, 1, {ph, pw}, 1, weight.size(0));
  Float32Kernel f32;
  return DepthwiseConv2dFunction::apply(Float32Kernel::input(input), Float32Kernel::input(weight), ph, pw);
}

at::Tensor single_channel_conv2d(const at::Tensor& input, const at::Tensor& weight, std::array<int64_t, 2> padding) {
  const auto [ph, pw] = padding;
  const bool fast = fast_kernel_fits(input, weight, ph, pw) && input.size(1) == 1;
  if (!fast) return at::conv2d(input, weight, {}, 1, {ph, pw});
  Float32Kernel f32;
  return SingleChannelConv2dFunction::apply(Float32Kernel::input(input), Float32Kernel::input(weight), ph, pw);
}

}  // namespace fovea::nn
