// MATLAB .mat files through matio (v4, v5, v7 compressed, v7.3 = HDF5).
#include "fovea/io/mat.h"

#include <ATen/ATen.h>
#include <matio.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "fovea/error.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

// matio reports problems through a log function that prints to stderr. Keep
// the last message instead, for our own error text.
thread_local std::string g_last_matio_message;

void matio_log(int /*level*/, char* message) {
  if (message) g_last_matio_message = message;
}

void install_matio_logger() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("fovea", matio_log); });
}

std::string matio_detail() {
  if (g_last_matio_message.empty()) return "";
  return " (matio: " + g_last_matio_message + ")";
}

struct MatCloser {
  void operator()(mat_t* m) const {
    if (m) Mat_Close(m);
  }
};
struct VarFreer {
  void operator()(matvar_t* v) const {
    if (v) Mat_VarFree(v);
  }
};
using MatPtr = std::unique_ptr<mat_t, MatCloser>;
using VarPtr = std::unique_ptr<matvar_t, VarFreer>;

MatPtr open_mat(const std::string& path) {
  install_matio_logger();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const int first = std::fgetc(f);
  std::fclose(f);
  if (first == EOF) fail(path, "is empty, expected a MATLAB .mat file");
  g_last_matio_message.clear();
  MatPtr mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  if (!mat) fail(path, "not a MATLAB .mat file (v4, v5, v7 or v7.3)" + matio_detail());
  return mat;
}

std::string class_name(int c) {
  switch (c) {
    case MAT_C_EMPTY: return "an empty array";
    case MAT_C_CELL: return "a cell array";
    case MAT_C_STRUCT: return "a struct";
    case MAT_C_OBJECT: return "an object";
    case MAT_C_CHAR: return "a char array";
    case MAT_C_SPARSE: return "a sparse matrix";
    case MAT_C_FUNCTION: return "a function handle";
    case MAT_C_OPAQUE: return "an opaque object";
    case MAT_C_UINT64: return "a uint64 array";
    default: return "class " + std::to_string(c);
  }
}

}  // namespace

std::vector<std::string> mat_variable_names(const std::string& path) {
  MatPtr mat = open_mat(path);
  std::vector<std::string> names;
  for (;;) {
    VarPtr var(Mat_VarReadNextInfo(mat.get()));
    if (!var) break;
    if (var->name) names.emplace_back(var->name);
  }
  return names;
}

at::Tensor read_mat_variable(const std::string& path, const std::string& name) {
  MatPtr mat = open_mat(path);
  VarPtr info(Mat_VarReadInfo(mat.get(), name.c_str()));
  if (!info) {
    std::string have;
    Mat_Rewind(mat.get());
    for (;;) {
      VarPtr var(Mat_VarReadNextInfo(mat.get()));
      if (!var) break;
      if (var->name) have += (have.empty() ? "" : ", ") + std::string(var->name);
    }
    fail(path, "variable '" + name + "' is missing (the file has: " + (have.empty() ? "no variables" : have) + ")");
  }
  const std::string where = path + ": variable '" + name + "'";
  check(!info->isComplex, where, "is complex; only real numeric arrays are supported");

  at::ScalarType dtype;
  bool widen_u16 = false, widen_u32 = false;
  switch (info->class_type) {
    case MAT_C_DOUBLE: dtype = at::kDouble; break;
    case MAT_C_SINGLE: dtype = at::kFloat; break;
    case MAT_C_INT8: dtype = at::kChar; break;
    case MAT_C_UINT8: dtype = info->isLogical ? at::kBool : at::kByte; break;
    case MAT_C_INT16: dtype = at::kShort; break;
    case MAT_C_UINT16: dtype = at::kInt; widen_u16 = true; break;
    case MAT_C_INT32: dtype = at::kInt; break;
    case MAT_C_UINT32: dtype = at::kLong; widen_u32 = true; break;
    case MAT_C_INT64: dtype = at::kLong; break;
    default:
      throw Error(where + ": is " + class_name(info->class_type) + ", expected a numeric array");
  }
  check(info->rank >= 0 && info->rank <= 32 && (info->rank == 0 || info->dims != nullptr), where,
        "has an invalid number of dimensions");
  std::vector<int64_t> dims;
  int64_t numel = 1;
  for (int i = 0; i < info->rank; ++i) {
    const auto d = static_cast<int64_t>(info->dims[i]);
    check(d >= 0 && !detail::mul_overflows(numel, d, &numel), where, "has invalid dimensions");
    dims.push_back(d);
  }
  info.reset();

  g_last_matio_message.clear();
  Mat_Rewind(mat.get());
  VarPtr var(Mat_VarRead(mat.get(), name.c_str()));
  check(var != nullptr, where, "cannot be read" + matio_detail());
  if (numel == 0) return at::empty(dims, at::TensorOptions().dtype(dtype));

  const int64_t matio_size = static_cast<int64_t>(Mat_SizeOfClass(var->class_type));
  int64_t expected = 0;
  check(matio_size > 0 && !detail::mul_overflows(numel, matio_size, &expected), where, "has invalid dimensions");
  check(var->data != nullptr && static_cast<int64_t>(var->nbytes) >= expected, where,
        "is truncated or corrupt: expected " + std::to_string(expected) + " bytes of data" + matio_detail());

  // MATLAB stores column-major: the bytes are the C-order array of the
  // reversed dimensions. Reverse the axes back and make it contiguous.
  std::vector<int64_t> reversed(dims.rbegin(), dims.rend());
  at::Tensor column_major;
  if (widen_u16 || widen_u32) {
    column_major = at::empty(reversed, at::TensorOptions().dtype(dtype));
    if (widen_u16) {
      const auto* in = static_cast<const uint16_t*>(var->data);
      auto* out = column_major.data_ptr<int32_t>();
      for (int64_t i = 0; i < numel; ++i) out[i] = in[i];
    } else {
      const auto* in = static_cast<const uint32_t*>(var->data);
      auto* out = column_major.data_ptr<int64_t>();
      for (int64_t i = 0; i < numel; ++i) out[i] = in[i];
    }
  } else if (dtype == at::kBool) {
    column_major = at::from_blob(var->data, reversed, at::TensorOptions().dtype(at::kByte)).ne(0);
  } else {
    column_major = at::from_blob(var->data, reversed, at::TensorOptions().dtype(dtype));
  }
  std::vector<int64_t> perm(dims.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
  // clone() when already contiguous in C order (1-D or all-singleton layouts):
  // the result must not point into matio's buffer, which is freed below.
  at::Tensor result = column_major.permute(perm).contiguous();
  if (result.data_ptr() == var->data) result = result.clone();
  return result;
}

}  // namespace fovea::io
