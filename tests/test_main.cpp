#include <gtest/gtest.h>
#include <torch/torch.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Tests run two at a time under `ctest -j2` on two cores: one thread each.
  at::set_num_threads(1);
  return RUN_ALL_TESTS();
}
