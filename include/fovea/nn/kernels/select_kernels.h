#pragma once
// Selects the kernel set for the whole process, together with the memory
// policy that the fast kernels rely on. The command line (`--kernels`) and
// the benchmarks call this, so that both run fovea the same way.
//   reference: LibTorch's ops and LibTorch's allocator, as shipped.
//   fast:      fovea's kernels, the caching CPU allocator for blocks of 1 MB
//              and more, and glibc malloc told to keep freed blocks up to
//              32 MB in its heap (mallopt M_MMAP_THRESHOLD / M_TRIM_THRESHOLD).
// Why the malloc settings: on a VM a page fault costs ~14 µs, and glibc hands
// blocks above its mmap threshold back to the OS on free, so oneDNN's and
// OpenBLAS's scratch buffers and LibTorch's sub-megabyte tensors were faulted
// in again on every training step (a minimodel epoch: 1.6 s -> 1.3 s).
// The malloc settings stay in force for the rest of the process.
#include <string>

#include "fovea/nn/kernels/kernel_set.h"

namespace fovea::nn {

// How the fast kernels get their memory: fovea's caching allocator and the
// malloc settings above, or the process's malloc as it is (for measuring a
// preloaded allocator such as tcmalloc or jemalloc against them).
enum class MemoryPolicy { caching, system };

void select_kernels(KernelSet kernels, MemoryPolicy memory = MemoryPolicy::caching);
MemoryPolicy parse_memory_policy(const std::string& name);  // "caching" | "system"; fovea::Error otherwise

}  // namespace fovea::nn
