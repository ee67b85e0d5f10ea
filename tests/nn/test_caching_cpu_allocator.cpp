// The caching CPU allocator: large blocks are reused, and a miss gives back
// cached memory before it takes new memory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/nn/kernels/caching_cpu_allocator.h"

namespace fovea::nn {
namespace {

// An empty cache, then one freed 4 MB block in it; returns the block.
void* cache_one_4mb_block() {
  install_caching_cpu_allocator();
  release_cached_cpu_memory();
  at::Tensor a = torch::ones({1 << 20});
  return a.data_ptr();
}

TEST(CachingCpuAllocator, ReusesAFreedBlockOfTheSameSize) {
  void* first = cache_one_4mb_block();
  EXPECT_GE(caching_cpu_allocator_stats().cached_bytes, size_t(4) << 20);
  const auto before = caching_cpu_allocator_stats();
  at::Tensor b = torch::zeros({1 << 20});
  EXPECT_EQ(b.data_ptr(), first);
  EXPECT_EQ(caching_cpu_allocator_stats().hits, before.hits + 1);
  // The reused block holds the new tensor's values, not the old ones.
  EXPECT_EQ(b.sum().item<float>(), 0.0f);
}

TEST(CachingCpuAllocator, ASmallerTensorReusesALargerBlockUpToTwiceItsSize) {
  void* block = cache_one_4mb_block();  // a full batch's
  {
    at::Tensor last_batch = torch::zeros({7 << 17});  // 3.5 MB: fits the 4 MB block
    EXPECT_EQ(last_batch.data_ptr(), block);
    EXPECT_EQ(last_batch.sum().item<float>(), 0.0f);
  }
  const auto before = caching_cpu_allocator_stats();
  at::Tensor small = torch::zeros({1 << 18});  // 1 MB: a quarter of the block, not served by it
  EXPECT_EQ(caching_cpu_allocator_stats().misses, before.misses + 1);
  EXPECT_EQ(caching_cpu_allocator_stats().hits, before.hits);
}

TEST(CachingCpuAllocator, AMissReleasesCachedMemoryFirst) {
  cache_one_4mb_block();
  const size_t cached = caching_cpu_allocator_stats().cached_bytes;
  ASSERT_GE(cached, size_t(4) << 20);
  at::Tensor other = torch::ones({3 << 20});  // 12 MB: no cached block fits
  EXPECT_EQ(caching_cpu_allocator_stats().cached_bytes, 0u);
  EXPECT_FLOAT_EQ(other.sum().item<float>(), static_cast<float>(3 << 20));
}

TEST(CachingCpuAllocator, SmallTensorsAndAutogradWork) {
  install_caching_cpu_allocator();
  at::Tensor w = torch::randn({64, 64}, torch::requires_grad());
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = torch::randn({2048, 64});
    at::Tensor loss = x.mm(w).pow(2).sum();
    loss.backward();
  }
  at::Tensor x = torch::ones({2048, 64});
  w.grad().zero_();
  x.mm(w).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::full({64, 64}, 2048.0f)));
}

}  // namespace
}  // namespace fovea::nn
