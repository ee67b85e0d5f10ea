// select_kernels: the kernel set comes with its memory policy.
#include <gtest/gtest.h>
#include <malloc.h>
#include <torch/torch.h>

#include <cstdlib>

#include "fovea/nn/kernels/caching_cpu_allocator.h"
#include "fovea/nn/kernels/select_kernels.h"

namespace fovea::nn {
namespace {

TEST(SelectKernels, ReferenceSelectsLibTorchsOps) {
  select_kernels(KernelSet::reference);
  EXPECT_EQ(kernel_set(), KernelSet::reference);
  EXPECT_FALSE(use_fast_cpu_kernel(torch::ones({2})));
  select_kernels(KernelSet::fast);
}

TEST(SelectKernels, FastCachesLargeTensorsAndKeepsMallocBlocksInTheHeap) {
  select_kernels(KernelSet::fast);
  EXPECT_EQ(kernel_set(), KernelSet::fast);
  EXPECT_TRUE(use_fast_cpu_kernel(torch::ones({2})));
  // Large tensors go through the caching allocator.
  release_cached_cpu_memory();
  { at::Tensor a = torch::ones({1 << 20}); }
  EXPECT_GE(caching_cpu_allocator_stats().cached_bytes, size_t(4) << 20);
  // An 8 MB malloc is served from the heap, not by a fresh mmap (glibc's
  // default threshold is 128 kB).
  const size_t mapped_before = mallinfo2().hblkhd;
  void* block = std::malloc(size_t(8) << 20);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before);
  std::free(block);
}

}  // namespace
}  // namespace fovea::nn
