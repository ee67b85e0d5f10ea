// fovea's executables run on tcmalloc (CMake target fovea_tcmalloc), which
// keeps freed memory for the next allocation until it is asked to give it back.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "fovea/nn/process_allocator.h"

namespace fovea::nn {
namespace {

// Resident memory of this process in MB (/proc/self/statm: pages).
double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096.0 / (1 << 20);
}

TEST(ProcessAllocator, TestBinariesRunOnTcmalloc) { EXPECT_EQ(process_allocator(), "tcmalloc"); }

TEST(ProcessAllocator, FreedTensorsStayResidentUntilReleased) {
  release_free_memory();
  const double start = resident_mb();
  {
    at::Tensor big = torch::ones({64 << 20});  // 256 MB, touched
    ASSERT_GT(resident_mb(), start + 200);
  }
  // tcmalloc kept the freed block for reuse (glibc would unmap it at once)...
  EXPECT_GT(resident_mb(), start + 200);
  // ...and a second tensor of the same size reuses it.
  {
    at::Tensor again = torch::ones({64 << 20});
    EXPECT_LT(resident_mb(), start + 300);
  }
  release_free_memory();
  EXPECT_LT(resident_mb(), start + 50);
}

}  // namespace
}  // namespace fovea::nn
