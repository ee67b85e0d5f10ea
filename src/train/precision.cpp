// bf16 autocast for the forward pass, and the measured choice behind
// training.precision: auto.
#include "fovea/train/precision.h"

#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "fovea/error.h"
#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::train {

std::string to_string(Precision precision) { return precision == Precision::bf16 ? "bf16" : "float32"; }

bool cpu_has_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    // AVX512_BF16 is CPUID.(EAX=7, ECX=1):EAX[5]; AMX-BF16 is CPUID.(EAX=7, ECX=0):EDX[22].
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__builtin_cpu_supports("avx512f")) return false;  // also checks that the OS saves the AVX-512 state
    bool bf16 = false;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) bf16 = (d >> 22) & 1u;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) bf16 = bf16 || ((a >> 5) & 1u);
    return bf16;
  }();
  return has;
#else
  return false;
#endif
}

// training.precision: auto is float32 everywhere measured so far. On this
// project's CPU (AMD EPYC Zen 4, AVX512_BF16, 2 threads; bench_v1 --images 200
// and bench_retina --frames 4000 --batch 32 with --bf16 0|1, medians of 3
// alternating runs on a shared machine, 2026-12-07):
//   V1 full model, training epoch: float32 with the fast kernels 21.8 s;
//     bf16 with the reference ops 72 s (oneDNN's bf16 backward is slow);
//     bf16 with the fast kernels 25.4 s: every conv and product of the V1
//     models is a fast float32 kernel, so no op is left for autocast.
//   minimodel, training epoch: 2.7 s float32 fast, 27.6 s bf16 reference.
//   retina default, training epoch: 2.4 s float32 fast, 4.3 s bf16
//     reference. bf16 with the fast kernels (the core stays float32, only
//     the readout's product runs in bf16): faster in 7 of 9 alternating
//     pairs, medians 5.3 s against 5.7 s, but with single runs spread from
//     1.2 s to 12.5 s by the other processes: not shown to be faster, and a
//     default that changes every retina training's numbers needs more than
//     that. Its validation correlation after 15 epochs of `fovea simulate
//     retina` data: 0.2649 against 0.2653.
// bf16 stays an explicit choice, with a warning.
Precision resolve_precision(const std::string& setting, const std::string& family, c10::DeviceType device,
                            const std::string& where) {
  if (setting == "float32" || setting == "auto") return Precision::float32;
  check(setting == "bf16", where, "must be float32, bf16 or auto, got '" + setting + "'");
  if (device != c10::DeviceType::CPU) return Precision::bf16;
  if (!cpu_has_bf16())
    spdlog::warn("{}: bf16 on a CPU without bf16 instructions (AVX512_BF16, AMX): oneDNN emulates it, slower than "
                 "float32", where);
  else if (nn::kernel_set() == nn::KernelSet::fast && family == "v1")
    spdlog::warn("{}: bf16 with the fast kernels changes nothing in the V1 models (every conv and product is a "
                 "float32 kernel); with --kernels reference it trains about 3x slower than float32 fast", where);
  else
    spdlog::warn("{}: bf16 was not measured faster than float32 with the fast kernels on this CPU (precision.cpp); "
                 "auto picks float32", where);
  return Precision::bf16;
}

AutocastRegion::AutocastRegion(Precision precision) : active_(precision == Precision::bf16) {
  if (!active_) return;
  prev_cpu_ = at::autocast::is_cpu_enabled();
  prev_gpu_ = at::autocast::is_enabled();
  prev_cpu_dtype_ = at::autocast::get_autocast_cpu_dtype();
  prev_gpu_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastRegion::~AutocastRegion() {
  if (!active_) return;
  // The outermost region drops the weights it cast, as torch.autocast does on exit.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(prev_cpu_);
  at::autocast::set_enabled(prev_gpu_);
  at::autocast::set_autocast_cpu_dtype(prev_cpu_dtype_);
  at::autocast::set_autocast_gpu_dtype(prev_gpu_dtype_);
}

namespace {
thread_local Precision current = Precision::float32;
}

Precision forward_precision() { return current; }

PrecisionScope::PrecisionScope(Precision precision) : previous_(current) { current = precision; }

PrecisionScope::~PrecisionScope() { current = previous_; }

}  // namespace fovea::train
