#pragma once
// Which implementation runs the hot operations of the models.
//   reference: LibTorch's own ops, computed as openretina / minimodel compute
//              them (the dense space-time kernel and conv3d, at::conv2d for
//              the depthwise convolution, ...).
//   fast:      fovea's CPU kernels (src/nn/kernels/), the same functions with
//              hand-written forward and backward passes. Used only for float32
//              tensors on the CPU; other devices and dtypes fall back on the
//              reference op, so CUDA keeps working through LibTorch.
// The choice is process-wide (the CLI's --kernels); fast is the default.
#include <ATen/core/Tensor.h>

#include <string>

namespace fovea::nn {

enum class KernelSet { reference, fast };

KernelSet kernel_set();
void set_kernel_set(KernelSet kernels);
// "reference" or "fast"; anything else throws fovea::Error naming `where`.
KernelSet parse_kernel_set(const std::string& name, const std::string& where = "--kernels");
std::string to_string(KernelSet kernels);

// True when the fast kernels are selected and `x` is a float32 CPU tensor,
// or a bf16 one inside a CPU autocast region (training.precision: bf16), where
// the kernel runs as a Float32Kernel.
bool use_fast_cpu_kernel(const at::Tensor& x);

// Held while a fast kernel runs. The kernels compute in float32 only; inside
// a bf16 autocast region they behave as autocast's own float32 ops: their
// inputs are cast up (input()), and autocast is suspended while they run, so
// the LibTorch ops inside them (the V1 first conv's forward) stay float32 and
// the gradients their backward receives are float32 too. Outside a region it
// changes nothing.
class Float32Kernel {
 public:
  Float32Kernel();
  ~Float32Kernel();
  Float32Kernel(const Float32Kernel&) = delete;
  Float32Kernel& operator=(const Float32Kernel&) = delete;
  // `x` as float32 (a bf16 tensor cast up, differentiably; anything else as it is).
  static at::Tensor input(const at::Tensor& x);

 private:
  bool suspended_;
};

// Called first in every fast kernel's backward: its gradients carry no
// graph, so differentiating them again (backward with create_graph) would
// silently give zeros; this stops such a backward with an error naming `op`.
void refuse_double_backward(const char* op);

// Selects a kernel set for a scope (tests, benchmarks) and restores the old one.
class ScopedKernelSet {
 public:
  explicit ScopedKernelSet(KernelSet kernels) : previous_(kernel_set()) { set_kernel_set(kernels); }
  ~ScopedKernelSet() { set_kernel_set(previous_); }
  ScopedKernelSet(const ScopedKernelSet&) = delete;
  ScopedKernelSet& operator=(const ScopedKernelSet&) = delete;

 private:
  KernelSet previous_;
};

}  // namespace fovea::nn
