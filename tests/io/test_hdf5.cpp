// HDF5 datasets round-trip with their shapes and types; errors name the file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fovea/error.h"
#include "fovea/io/hdf5.h"
#include "test_util.h"

TEST(Hdf5, DatasetsRoundTripInGroups) {
  fovea::test::TempDir dir;
  const std::string f = dir.file("session_1.h5");
  auto responses = torch::rand({7, 40});
  auto ids = torch::arange(7, torch::kInt64);
  auto d = torch::randn({2, 3}, torch::kFloat64);
  fovea::io::write_h5(f, {{"responses_train", responses}, {"session_info/roi_ids", ids}, {"a/b/c", d}});
  EXPECT_TRUE(torch::equal(fovea::io::read_h5_dataset(f, "responses_train"), responses));
  EXPECT_TRUE(torch::equal(fovea::io::read_h5_dataset(f, "session_info/roi_ids"), ids));
  EXPECT_TRUE(torch::equal(fovea::io::read_h5_dataset(f, "a/b/c"), d));
  EXPECT_TRUE(fovea::io::h5_has(f, "session_info/roi_ids"));
  EXPECT_FALSE(fovea::io::h5_has(f, "session_info/missing"));
  EXPECT_FALSE(fovea::io::h5_has(f, "nogroup/x"));
  EXPECT_EQ(fovea::io::h5_members(f, "/"), (std::vector<std::string>{"a", "responses_train", "session_info"}));
}

TEST(Hdf5, ErrorsNameTheFileAndDataset) {
  fovea::test::TempDir dir;
  const std::string f = dir.file("s.h5");
  fovea::io::write_h5(f, {{"x", torch::zeros({2})}});
  try {
    fovea::io::read_h5_dataset(f, "responses_test");
    FAIL();
  } catch (const fovea::Error& e) {
    EXPECT_NE(std::string(e.what()).find(f + ": dataset 'responses_test' is missing"), std::string::npos) << e.what();
  }
  const std::string junk = dir.file("junk.h5");
  std::ofstream(junk) << "not hdf5";
  EXPECT_THROW(fovea::io::read_h5_dataset(junk, "x"), fovea::Error);
  EXPECT_THROW(fovea::io::read_h5_dataset(dir.file("none.h5"), "x"), fovea::Error);
}
