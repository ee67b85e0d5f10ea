// The kernel set with its memory policy (see the header).
#include "fovea/nn/kernels/select_kernels.h"

#include <malloc.h>

#include "fovea/error.h"
#include "fovea/nn/kernels/caching_cpu_allocator.h"

namespace fovea::nn {

namespace {
// Blocks up to 32 MB (glibc's largest mmap threshold on 64-bit) come from the
// heap; the heap's top is not trimmed back below 1 GB.
constexpr int kMmapThreshold = 32 << 20;
constexpr int kTrimThreshold = 1 << 30;
}  // namespace

void select_kernels(KernelSet kernels, MemoryPolicy memory) {
  set_kernel_set(kernels);
  if (kernels != KernelSet::fast || memory != MemoryPolicy::caching) return;
  install_caching_cpu_allocator();
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
}

MemoryPolicy parse_memory_policy(const std::string& name) {
  if (name == "caching") return MemoryPolicy::caching;
  if (name == "system") return MemoryPolicy::system;
  fail("--allocator", "expected caching or system, got '" + name + "'");
}

}  // namespace fovea::nn
