// Matrix products in oneDNN's sgemm, forward and backward (see the header).
#include "fovea/nn/kernels/gemm.h"

#include <ATen/Parallel.h>
#include <dnnl.h>
#include <torch/torch.h>

#include <algorithm>

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::nn {

namespace {

// C (m, n) = op(A) · op(B) + beta · C on row-major storage, where op
// transposes the stored matrix when the flag is set: A is stored (m, k)
// with row stride lda, or (k, m) with transpose_a; B likewise (k, n) or
// (n, k). oneDNN's sgemm is row-major, unlike BLAS.
void sgemm_raw(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0 || k == 0) {
    if (k == 0 && beta == 0.0f)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  const dnnl_status_t status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, 1.0f, a, lda,
                                          b, ldb, beta, c, ldc);
  if (status != dnnl_success) fail("oneDNN sgemm", "failed with status " + std::to_string(status));
}

// The same on whole contiguous 2-D tensors, into a new (m, n) tensor.
at::Tensor sgemm(const at::Tensor& a, bool transpose_a, const at::Tensor& b, bool transpose_b) {
  const int64_t m = transpose_a ? a.size(1) : a.size(0), k = transpose_a ? a.size(0) : a.size(1);
  const int64_t n = transpose_b ? b.size(0) : b.size(1);
  at::Tensor c = at::empty({m, n}, a.options());
  sgemm_raw(transpose_a, transpose_b, m, n, k, a.data_ptr<float>(), a.size(1), b.data_ptr<float>(), b.size(1), 0.0f,
            c.data_ptr<float>(), n);
  return c;
}

class DnnlMatmulFunction : public torch::autograd::Function<DnnlMatmulFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b) {
    auto ac = a.contiguous(), bc = b.contiguous();
    ctx->save_for_backward({ac, bc});
    return sgemm(ac, false, bc, false);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    refuse_double_backward("matmul_2d");
    const auto saved = ctx->get_saved_variables();
    const auto &a = saved[0], &b = saved[1];
    const auto g = grads[0].contiguous();
    at::Tensor grad_a, grad_b;
    if (ctx->needs_input_grad(0)) grad_a = sgemm(g, false, b, true);  // (m, n) · (k, n)ᵀ
    if (ctx->needs_input_grad(1)) grad_b = sgemm(a, true, g, false);  // (m, k)ᵀ · (m, n)
    return {grad_a, grad_b};
  }
};

// out[b] = W (O × I) · x[b] (I × HW) for every image b.
class PointwiseConv2dFunction : public torch::autograd::Function<PointwiseConv2dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight) {
    auto x = input.contiguous(), w = weight.contiguous();
    ctx->save_for_backward({x, w});
    const int64_t B = x.size(0), I = x.size(1), HW = x.size(2) * x.size(3), O = w.size(0);
    at::Tensor out = at::empty({B, O, x.size(2), x.size(3)}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* op = out.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) sgemm_raw(false, false, O, HW, I, wp, I, xp + b * I * HW, HW, 0.0f, op + b * O * HW, HW);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    refuse_double_backward("pointwise_conv2d");
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const auto g = grads[0].contiguous();
    const int64_t B = x.size(0), I = x.size(1), HW = x.size(2) * x.size(3), O = w.size(0);
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    at::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0)) {  // grad_x[b] = Wᵀ (I × O) · g[b] (O × HW)
      grad_x = at::empty_like(x);
      float* p = grad_x.data_ptr<float>();
      for (int64_t b = 0; b < B; ++b) sgemm_raw(true, false, I, HW, O, wp, I, gp + b * O * HW, HW, 0.0f, p + b * I * HW, HW);
    }
    if (ctx->needs_input_grad(1)) {  // grad_W = Σ_b g[b] (O × HW) · x[b]ᵀ (HW × I)
      grad_w = at::zeros_like(w);
      float* p = grad_w.data_ptr<float>();
      for (int64_t b = 0; b < B; ++b) sgemm_raw(false, true, O, I, HW, gp + b * O * HW, HW, xp + b * I * HW, HW, 1.0f, p, I);
    }
    return {grad_x, grad_w};
  }
};

// out[b, g] = W_g (Og × Ig) · x[b, g] (Ig × HW) for every image b and group g:
// the 1×1 convolutions of many minimodels trained at once (minimodel_batch.h).
// The products are small (16 → 64 channels), so the (image, group) pairs run
// in parallel, each product on one thread.
class GroupedPointwiseConv2dFunction : public torch::autograd::Function<GroupedPointwiseConv2dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            int64_t groups) {
    auto x = input.contiguous(), w = weight.contiguous();
    ctx->save_for_backward({x, w});
    ctx->saved_data["groups"] = groups;
    const int64_t B = x.size(0), HW = x.size(2) * x.size(3), O = w.size(0), Og = O / groups, Ig = w.size(1);
    at::Tensor out = at::empty({B, O, x.size(2), x.size(3)}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, B * groups, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / groups, g = i % groups;
        sgemm_raw(false, false, Og, HW, Ig, wp + g * Og * Ig, Ig, xp + (b * groups + g) * Ig * HW, HW, 0.0f,
                  op + (b * groups + g) * Og * HW, HW);
      }
    });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    refuse_double_backward("pointwise_conv2d");
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const auto gr = grads[0].contiguous();
    const int64_t B = x.size(0), HW = x.size(2) * x.size(3), O = w.size(0), Og = O / groups, Ig = w.size(1);
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* gp = gr.data_ptr<float>();
    at::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0)) {  // grad_x[b, g] = W_gᵀ (Ig × Og) · gr[b, g] (Og × HW)
      grad_x = at::empty_like(x);
      float* p = grad_x.data_ptr<float>();
      at::parallel_for(0, B * groups, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t b = i / groups, g = i % groups;
          sgemm_raw(true, false, Ig, HW, Og, wp + g * Og * Ig, Ig, gp + (b * groups + g) * Og * HW, HW, 0.0f,
                    p + (b * groups + g) * Ig * HW, HW);
        }
      });
    }
    if (ctx->needs_input_grad(1)) {  // grad_W_g = Σ_b gr[b, g] (Og × HW) · x[b, g]ᵀ (HW × Ig); groups in parallel
      grad_w = at::zeros_like(w);
      float* p = grad_w.data_ptr<float>();
      at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
        for (int64_t g = begin; g < end; ++g)
          for (int64_t b = 0; b < B; ++b)
            sgemm_raw(false, true, Og, Ig, HW, gp + (b * groups + g) * Og * HW, HW, xp + (b * groups + g) * Ig * HW,
                      HW, 1.0f, p + g * Og * Ig, Ig);
      });
    }
    return {grad_x, grad_w, at::Tensor()};
  }
};

}  // namespace

at::Tensor pointwise_conv2d(const at::Tensor& x, const at::Tensor& weight, int64_t groups) {
  if (groups == 1) return pointwise_conv2d(x, weight);
  const bool fast = use_fast_cpu_kernel(x) && use_fast_cpu_kernel(weight) && x.dim() == 4 && weight.dim() == 4 &&
                    groups > 1 && weight.size(0) % groups == 0 && weight.size(1) * groups == x.size(1) &&
                    weight.size(2) == 1 && weight.size(3) == 1;
  if (!fast) return at::conv2d(x, weight, at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, groups);
  Float32Kernel f32;
  return GroupedPointwiseConv2dFunction::apply(Float32Kernel::input(x), Float32Kernel::input(weight), groups);
}

at::Tensor pointwise_conv2d(const at::Tensor& x, const at::Tensor& weight) {
  const bool fast = use_fast_cpu_kernel(x) && use_fast_cpu_kernel(weight) && x.dim() == 4 && weight.dim() == 4 &&
                    weight.size(1) == x.size(1) && weight.size(2) == 1 && weight.size(3) == 1;
  if (!fast) return at::conv2d(x, weight);
  Float32Kernel f32;
  return PointwiseConv2dFunction::apply(Float32Kernel::input(x), Float32Kernel::input(weight));
}

at::Tensor matmul_2d(const at::Tensor& a, const at::Tensor& b) {
  const bool fast = use_fast_cpu_kernel(a) && use_fast_cpu_kernel(b) && a.dim() == 2 && b.dim() == 2 &&
                    a.size(1) == b.size(0);
  // Anything else (other devices and dtypes, and mismatched shapes, for LibTorch's own error) is at::mm.
  if (!fast) return a.mm(b);
  Float32Kernel f32;
  return DnnlMatmulFunction::apply(Float32Kernel::input(a), Float32Kernel::input(b));
}

}  // namespace fovea::nn
