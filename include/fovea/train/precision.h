#pragma once
// The numeric precision of a model's forward pass (training.precision):
// float32, or bfloat16 autocast as Lightning's precision="bf16-mixed" and
// torch.autocast("cpu", dtype=torch.bfloat16) run it: inside the region,
// LibTorch's autocast casts the inputs of convolutions and matrix products to
// bf16 (oneDNN runs them with the CPU's bf16 dot products) and the ops after
// them follow their inputs' dtype. Parameters, gradients, the loss, the
// metrics and the optimiser stay float32: the region is the forward only and
// its output is cast back to float32 (autocast_forward).
//
// fovea's fast kernels (src/nn/kernels/) are float32 kernels; inside the
// region they act as autocast's float32 ops do: a bf16 input is cast up,
// autocast is suspended while they run, and their output is float32
// (nn/kernels/kernel_set.h).
#include <c10/core/DeviceType.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>

namespace fovea::train {

enum class Precision { float32, bf16 };

std::string to_string(Precision precision);

// Whether this CPU has bf16 dot-product instructions (AVX512_BF16 or AMX):
// without them oneDNN emulates bf16 and autocast only slows a model down.
bool cpu_has_bf16();

// Resolves a precision setting: "float32", "bf16" or "auto". `auto` would
// pick bf16 only where it measured faster and kept the validation score
// within 0.01 of float32's; no model measured faster in bf16 on this
// project's CPU (numbers in precision.cpp), so it is float32. An explicit
// bf16 runs, with a warning on the CPU that says why it is slower (`family`:
// "v1" or "retina"). Anything else throws fovea::Error naming `where`.
Precision resolve_precision(const std::string& setting, const std::string& family, c10::DeviceType device,
                            const std::string& where);

// Enters bf16 autocast (CPU and CUDA) for its lifetime when `precision` is
// bf16, and does nothing for float32; on leaving the outermost region the
// cast-weight cache is cleared, so that the next region casts the weights
// the optimiser has changed since (torch.autocast's __exit__).
class AutocastRegion {
 public:
  explicit AutocastRegion(Precision precision);
  ~AutocastRegion();
  AutocastRegion(const AutocastRegion&) = delete;
  AutocastRegion& operator=(const AutocastRegion&) = delete;

 private:
  bool active_ = false;
  bool prev_cpu_ = false, prev_gpu_ = false;
  at::ScalarType prev_cpu_dtype_ = at::kBFloat16, prev_gpu_dtype_ = at::kHalf;
};

// The precision the current thread's model forwards run in; float32 unless a
// PrecisionScope says otherwise. The trainer sets it from
// TrainerOptions::precision around training and validation; the API around
// predictions.
Precision forward_precision();

class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

// Runs `forward` (a model's forward pass, returning its output tensor) in
// forward_precision() and returns the output as float32, so that the loss
// and the metrics computed from it are float32.
template <typename F>
at::Tensor autocast_forward(F&& forward) {
  if (forward_precision() == Precision::float32) return std::forward<F>(forward)();
  at::Tensor out;
  {
    AutocastRegion region(Precision::bf16);
    out = std::forward<F>(forward)();
  }
  return out.is_floating_point() && out.scalar_type() != at::kFloat && out.scalar_type() != at::kDouble
             ? out.to(at::kFloat)
             : out;
}

}  // namespace fovea::train
