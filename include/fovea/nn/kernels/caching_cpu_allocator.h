#pragma once
// A caching allocator for LibTorch's CPU tensors.
//
// Why: glibc serves every allocation above 32 MB (and, after its dynamic
// threshold adapts, many smaller ones) with a fresh mmap and returns it to the
// OS on free. A V1 training step allocates and frees the same few hundred-MB
// activations every batch, so each step page-faults (and the kernel zeroes)
// every page again: ~17,000 faults per MEI step and most of the V1 step time
// in `bench_mei`. Keeping freed large blocks and handing them back out for an
// allocation of the same or a somewhat smaller size (at most half the block
// unused) removes that work.
//
// Peak memory stays bounded by what the computation itself needs at once: the
// footprint (in use + cached) may grow to about the largest total in use at
// once so far, which plain malloc/free would reach as well; on a miss beyond
// that, cached blocks are released, smallest first, before new memory is taken.
#include <cstddef>

namespace fovea::nn {

// Installs the allocator as LibTorch's CPU allocator (idempotent). Tensors
// allocated before keep their own deleters and stay valid.
void install_caching_cpu_allocator();

// Statistics, for tests and benchmarks.
struct CachingCpuAllocatorStats {
  size_t cached_bytes = 0;   // freed, kept for reuse
  size_t hits = 0;           // allocations served from the cache
  size_t misses = 0;         // cacheable allocations that took new memory
  size_t in_use_bytes = 0;   // cacheable blocks in use now
  size_t peak_in_use_bytes = 0;  // the most in use at once since the last release
};
CachingCpuAllocatorStats caching_cpu_allocator_stats();

// Returns every cached block to the system and restarts the peak that caps
// the footprint.
void release_cached_cpu_memory();

}  // namespace fovea::nn
