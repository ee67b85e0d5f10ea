#include <ATen/ATen.h>
#include <matio.h>

#include <algorithm>
#include <vector>

#include "fovea/io/mat.h"
#include "io_test_util.h"

using namespace fovea::io;
using fovea_test::expect_error;
using fovea_test::ScratchDir;

namespace {

// vol(i, j, k) = 100 i + 10 j + k (0-based), a 2x3x4 single;
// m(i, j) = 10 i + j + 0.5, a 3x5 double; both stored column-major.
std::vector<float> vol_column_major() {
  std::vector<float> d(24);
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) d[i + 2 * j + 6 * k] = 100.0f * i + 10.0f * j + k;
  return d;
}
std::vector<double> m_column_major() {
  std::vector<double> d(15);
  for (int j = 0; j < 5; ++j)
    for (int i = 0; i < 3; ++i) d[i + 3 * j] = 10.0 * i + j + 0.5;
  return d;
}

void write_var(mat_t* mat, const char* name, matio_classes cls, matio_types type, std::vector<size_t> dims, void* data,
               matio_compression compression) {
  matvar_t* var = Mat_VarCreate(name, cls, type, static_cast<int>(dims.size()), dims.data(), data, 0);
  ASSERT_NE(var, nullptr);
  ASSERT_EQ(Mat_VarWrite(mat, var, compression), 0);
  Mat_VarFree(var);
}

// Writes the two variables plus a uint16 and a char array with matio.
bool write_test_file(const std::string& path, mat_ft version, matio_compression compression) {
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, version);
  if (!mat) return false;
  std::vector<float> vol = vol_column_major();
  std::vector<double> m = m_column_major();
  std::vector<uint16_t> u16 = {1, 65535};
  char text[] = "hello";
  write_var(mat, "vol", MAT_C_SINGLE, MAT_T_SINGLE, {2, 3, 4}, vol.data(), compression);
  write_var(mat, "m", MAT_C_DOUBLE, MAT_T_DOUBLE, {3, 5}, m.data(), compression);
  write_var(mat, "u16", MAT_C_UINT16, MAT_T_UINT16, {1, 2}, u16.data(), compression);
  write_var(mat, "text", MAT_C_CHAR, MAT_T_UINT8, {1, 5}, text, compression);
  Mat_Close(mat);
  return true;
}

void check_contents(const std::string& path) {
  const at::Tensor vol = read_mat_variable(path, "vol");
  EXPECT_EQ(vol.scalar_type(), at::kFloat);
  ASSERT_EQ(vol.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(vol.is_contiguous());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(vol[i][j][k].item<float>(), 100.0f * i + 10.0f * j + k);

  const at::Tensor m = read_mat_variable(path, "m");
  EXPECT_EQ(m.scalar_type(), at::kDouble);
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(m.is_contiguous());
  const at::Tensor expected = at::arange(3, at::kDouble).mul(10).unsqueeze(1) + at::arange(5, at::kDouble).add(0.5);
  EXPECT_TRUE(at::equal(m, expected));

  const at::Tensor u16 = read_mat_variable(path, "u16");
  EXPECT_EQ(u16.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(u16, at::tensor({1, 65535}, at::kInt).reshape({1, 2})));

  // v5 lists variables in file order, v7.3 (HDF5) alphabetically.
  std::vector<std::string> names = mat_variable_names(path);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"m", "text", "u16", "vol"}));
  expect_error([&] { read_mat_variable(path, "img"); }, {path, "variable 'img' is missing", "vol", "u16"});
  expect_error([&] { read_mat_variable(path, "text"); }, {path, "'text'", "char array"});
}

}  // namespace

TEST(Mat, Version5) {
  ScratchDir dir;
  const std::string path = dir.file("v5.mat");
  ASSERT_TRUE(write_test_file(path, MAT_FT_MAT5, MAT_COMPRESSION_NONE));
  check_contents(path);
}

TEST(Mat, Version7Compressed) {
  ScratchDir dir;
  const std::string path = dir.file("v7.mat");
  ASSERT_TRUE(write_test_file(path, MAT_FT_MAT5, MAT_COMPRESSION_ZLIB));
  check_contents(path);
}

TEST(Mat, Version73Hdf5) {
  // Debian's matio is built with HDF5, so v7.3 files are written and read.
  ScratchDir dir;
  const std::string path = dir.file("v73.mat");
  ASSERT_TRUE(write_test_file(path, MAT_FT_MAT73, MAT_COMPRESSION_NONE)) << "matio cannot write v7.3 (no HDF5?)";
  const std::string head = fovea_test::read_raw(path).substr(512, 8);
  EXPECT_EQ(head, std::string("\x89HDF\r\n\x1a\n", 8));  // an HDF5 file after the 512-byte MATLAB header
  check_contents(path);
}

TEST(Mat, BadFilesGiveErrors) {
  ScratchDir dir;
  const std::string path = dir.file("bad.mat");
  fovea_test::write_raw(path, std::string(300, 'x'));
  expect_error([&] { read_mat_variable(path, "img"); }, {path});
  fovea_test::write_raw(path, "");
  expect_error([&] { mat_variable_names(path); }, {path, "empty"});
  expect_error([&] { read_mat_variable(dir.file("absent.mat"), "img"); }, {"absent.mat", "cannot open"});
}
