// The process-wide choice between LibTorch's reference ops and fovea's kernels.
#include "fovea/nn/kernels/kernel_set.h"

#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>

#include <atomic>
#include <string>

#include "fovea/error.h"

namespace fovea::nn {

namespace {
std::atomic<KernelSet> current{KernelSet::fast};
}

KernelSet kernel_set() { return current.load(std::memory_order_relaxed); }

void set_kernel_set(KernelSet kernels) { current.store(kernels, std::memory_order_relaxed); }

KernelSet parse_kernel_set(const std::string& name, const std::string& where) {
  if (name == "reference") return KernelSet::reference;
  if (name == "fast") return KernelSet::fast;
  fail(where, "must be 'reference' or 'fast', got '" + name + "'");
}

std::string to_string(KernelSet kernels) { return kernels == KernelSet::fast ? "fast" : "reference"; }

bool use_fast_cpu_kernel(const at::Tensor& x) {
  return kernel_set() == KernelSet::fast && x.device().is_cpu() &&
         (x.scalar_type() == at::kFloat || (x.scalar_type() == at::kBFloat16 && at::autocast::is_cpu_enabled()));
}

Float32Kernel::Float32Kernel() : suspended_(at::autocast::is_cpu_enabled()) {
  if (suspended_) at::autocast::set_cpu_enabled(false);
}

Float32Kernel::~Float32Kernel() {
  if (suspended_) at::autocast::set_cpu_enabled(true);
}

at::Tensor Float32Kernel::input(const at::Tensor& x) {
  return x.defined() && x.scalar_type() == at::kBFloat16 ? x.to(at::kFloat) : x;
}

void refuse_double_backward(const char* op) {
  if (at::GradMode::is_enabled())
    fail(op, std::string("the fast CPU kernel has no double backward (backward with create_graph); ") +
                 "select the reference kernels (--kernels reference) for higher-order gradients");
}

}  // namespace fovea::nn
