// LibTorch CPU allocator that keeps large freed blocks for reuse (see the header).
#include "fovea/nn/kernels/caching_cpu_allocator.h"

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

namespace fovea::nn {

namespace {

// Blocks below this size are left to malloc, which serves them from its own
// bins without page faults.
constexpr size_t kMinCachedBytes = size_t(1) << 20;
// Cached sizes are rounded up to this granularity, so tensors whose sizes
// differ by a few bytes share blocks.
constexpr size_t kGranularity = size_t(1) << 16;
// The footprint may exceed the peak in use by 1/kSlack of it.
constexpr size_t kSlack = 16;
// A cached block serves an allocation of up to this many times less.
constexpr size_t kMaxFitRatio = 2;

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* p = n >= kMinCachedBytes ? instance().take_block(round_up(n)) : aligned(n);
    if (!p) throw std::bad_alloc();
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  static CachingCpuAllocator& instance() {
    // Never destroyed: tensors that outlive main() still call release().
    static auto* allocator = new CachingCpuAllocator();
    return *allocator;
  }

  CachingCpuAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    CachingCpuAllocatorStats s = stats_;
    s.in_use_bytes = in_use_;
    s.peak_in_use_bytes = peak_in_use_;
    return s;
  }

  // Frees every cached block and starts a new peak (the cap of the footprint).
  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!free_.empty()) drop_smallest();
    peak_in_use_ = in_use_;
  }

 private:
  static size_t round_up(size_t n) { return (n + kGranularity - 1) / kGranularity * kGranularity; }

  static void* aligned(size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, c10::gAlignment, n == 0 ? 1 : n) != 0) return nullptr;
    return p;
  }

  void* take_block(size_t size) {
    std::unique_lock<std::mutex> lock(mutex_);
    // The smallest cached block that holds `size`, if it wastes at most as
    // much as it uses: training alternates full batches with a smaller last
    // batch and validation batches, whose tensors would otherwise each miss
    // and push the full batches' blocks out of the cache every epoch.
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= kMaxFitRatio * size) {
      void* p = it->second;
      const size_t block = it->first;
      stats_.cached_bytes -= block;
      free_.erase(it);
      live_[p] = block;
      in_use_ += block;
      peak_in_use_ = std::max(peak_in_use_, in_use_);
      ++stats_.hits;
      return p;
    }
    ++stats_.misses;
    // The footprint (in use + cached) may exceed the largest in-use total
    // seen so far (which plain malloc/free reaches too) by a little; cached
    // blocks beyond that are given back, smallest first: a small block is
    // cheap to fault in again, and a training step that needs a large block
    // moments later would otherwise lose it to every small miss.
    in_use_ += size;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
    while (in_use_ + stats_.cached_bytes > peak_in_use_ + peak_in_use_ / kSlack && !free_.empty()) drop_smallest();
    lock.unlock();
    void* p = aligned(size);
    if (!p) {
      release_all();
      p = aligned(size);
    }
    lock.lock();
    if (!p) {
      in_use_ -= size;
      return nullptr;
    }
    live_[p] = size;
    return p;
  }

  // Called with the mutex held.
  void drop_smallest() {
    auto it = free_.begin();
    stats_.cached_bytes -= it->first;
    std::free(it->second);
    free_.erase(it);
  }

  void give_back(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) {  // a small block: malloc's
      std::free(p);
      return;
    }
    const size_t size = it->second;
    live_.erase(it);
    in_use_ -= size;
    free_.emplace(size, p);
    stats_.cached_bytes += size;
  }

  static void release(void* p) {
    if (p) instance().give_back(p);
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;        // cached blocks by size
  std::unordered_map<void*, size_t> live_;  // cacheable blocks in use, with their sizes
  CachingCpuAllocatorStats stats_;
  size_t in_use_ = 0;       // bytes of cacheable blocks in use
  size_t peak_in_use_ = 0;  // the most in use at once so far
};

}  // namespace

void install_caching_cpu_allocator() {
  static std::once_flag once;
  std::call_once(once, [] { c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/1); });
}

CachingCpuAllocatorStats caching_cpu_allocator_stats() { return CachingCpuAllocator::instance().stats(); }

void release_cached_cpu_memory() { CachingCpuAllocator::instance().release_all(); }

}  // namespace fovea::nn
