// MATLAB .mat files through matio (v4, v5, v7 compressed, v7.3 = HDF5).
#include "fovea/io/mat.h"

#include <ATen/ATen.h>
#include <matio.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include "fovea/error.h"
#include "io/detail.h"
#include "io/hdf5_file.h"

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

// matio reads a file that is not v5/v7.3 as v4: records of a 20-byte header
// (type, mrows, ncols, imagf, namelen), the name, then the data. It trusts
// namelen, and Mat_Open already allocates it for the first record (a 71-byte
// file made it allocate 553 MB), so the records are walked here first: each
// header must be valid and its name and data must lie within the file.
// matio also trusts the sizes inside a v5 file: a dimensions sub-element that
// claims 0x40080000 bytes inside a 96-byte array made it allocate 2 GB. The
// top-level elements must lie within the file, and the flags and dimensions
// of an uncompressed array within that array (a compressed one is checked by
// zlib's stream end only; its inner sizes are matio's to check).
void check_v5_elements(const std::string& path, FILE* f, uint64_t size, bool swap) {
  auto tag = [&](uint64_t at, uint32_t* type, uint32_t* nbytes, uint64_t* header) {
    uint32_t w[2];
    if (size - at < 8 || std::fseek(f, static_cast<long>(at), SEEK_SET) != 0 || std::fread(w, 1, 8, f) != 8) {
      return false;
    }
    if (swap) for (uint32_t& v : w) v = __builtin_bswap32(v);
    if (w[0] >> 16) {  // small data element: type and size in one word, data in the next
      *type = w[0] & 0xFFFF;
      *nbytes = w[0] >> 16;
      *header = 4;
    } else {
      *type = w[0];
      *nbytes = w[1];
      *header = 8;
    }
    return true;
  };
  auto bad = [&](uint64_t at, const std::string& what) {
    fail(path, "not a valid MATLAB .mat file (v5: " + what + " at byte " + std::to_string(at) + ")");
  };
  // matio (1.5.23, Mat_VarReadNextInfo5) reads an uncompressed array its own
  // way: six words at the array's start (flags tag, flags, dimensions tag),
  // never as small elements; the rank is the dimensions' byte count / 4, and
  // it allocates 8 bytes per dimension before reading them; then the name
  // tag, and a name of the length that tag gives. A flags tag written as a
  // small element shifted matio's dimensions tag onto bytes that claimed
  // 0x12000000 (a 604 MB allocation for a 433-byte file, fuzz_mat). Both
  // counts are checked here as matio reads them, against the array.
  auto words = [&](uint64_t at, uint32_t* w, int n) {
    if (at > size || size - at < 4u * static_cast<uint64_t>(n) || std::fseek(f, static_cast<long>(at), SEEK_SET) != 0 ||
        std::fread(w, 4, static_cast<size_t>(n), f) != static_cast<size_t>(n)) {
      return false;
    }
    if (swap) for (int i = 0; i < n; ++i) w[i] = __builtin_bswap32(w[i]);
    return true;
  };
  auto check_matio_array_header = [&](uint64_t start, uint64_t end, uint32_t nbytes) {
    // What is left of the array after `at`; of the file when matio reads past
    // a too-short array.
    auto room = [&](uint64_t at) { return at <= end ? end - at : at <= size ? size - at : 0; };
    uint32_t w[6];
    if (!words(start, w, 6)) return;
    const bool int32_dims = w[4] == 5;  // miINT32; of any other type matio reads no dimensions
    if (int32_dims && w[5] > room(start + 24)) {
      bad(start + 16, "dimensions of " + std::to_string(w[5]) + " bytes in an array of " + std::to_string(nbytes));
    }
    const uint64_t rank = int32_dims ? w[5] / 4 : 0;
    // A cell array (class 1) or struct (2): matio allocates a pointer per
    // element (per element and field) from the dimensions alone; every
    // element takes at least an 8-byte tag in the array (fuzz_mat: a 64-byte
    // cell array of 2 x 2 x 134217730 cells, a 4 GB calloc).
    const uint32_t array_class = w[2] & 0xFF;
    if (int32_dims && w[0] == 6 /* miUINT32 flags */ && (array_class == 1 || array_class == 2)) {
      if (rank > 64) bad(start, "a cell array or struct of rank " + std::to_string(rank));
      uint64_t elements = 1;
      for (uint64_t i = 0; i < rank; ++i) {
        uint32_t d = 0;
        if (!words(start + 24 + 4 * i, &d, 1)) return;
        if (__builtin_mul_overflow(elements, uint64_t{d}, &elements)) elements = UINT64_MAX;
      }
      if (elements > room(start + 24) / 8) {
        bad(start, "a " + std::string(array_class == 1 ? "cell array" : "struct") + " of " + std::to_string(elements) +
                       " elements in an array of " + std::to_string(nbytes) + " bytes");
      }
    }
    const uint64_t name_at = start + 24 + 4 * rank + (rank % 2 ? 4 : 0);
    uint32_t name[2];
    if (!words(name_at, name, 2) || name[0] != 1 /* miINT8 */) return;
    if (name[1] > room(name_at + 8)) {
      bad(name_at, "a name of " + std::to_string(name[1]) + " bytes in an array of " + std::to_string(nbytes));
    }
  };
  uint64_t pos = 128;
  uint32_t type = 0, nbytes = 0;
  uint64_t header = 0;
  while (pos < size && tag(pos, &type, &nbytes, &header)) {
    if (nbytes > size - pos - 8) {
      bad(pos, "an element of " + std::to_string(nbytes) + " bytes in a file of " + std::to_string(size));
    }
    if (type == 14 && header == 8) {  // miMATRIX: array flags, then dimensions
      const uint64_t end = pos + 8 + nbytes;
      uint64_t at = pos + 8;
      for (int k = 0; k < 2 && at < end; ++k) {
        uint32_t sub_type = 0, sub_bytes = 0;
        uint64_t sub_header = 0;
        if (!tag(at, &sub_type, &sub_bytes, &sub_header)) break;
        if (sub_bytes > end - at - std::min<uint64_t>(end - at, sub_header)) {
          bad(at, "a sub-element of " + std::to_string(sub_bytes) + " bytes in an array of " + std::to_string(nbytes));
        }
        at += sub_header == 4 ? 8 : 8 + ((sub_bytes + 7u) / 8u) * 8u;
      }
      check_matio_array_header(pos + 8, end, nbytes);
    }
    pos += header == 4 ? 8 : 8 + static_cast<uint64_t>(nbytes);
  }
}

void check_v4_records(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  char head[128];
  const size_t got = std::fread(head, 1, sizeof head, f.get());
  const bool tagged = got == 128 && (std::memcmp(head + 126, "IM", 2) == 0 || std::memcmp(head + 126, "MI", 2) == 0);
  if (std::fseek(f.get(), 0, SEEK_END) != 0) fail(path, "cannot read: seek failed");
  const auto size = static_cast<uint64_t>(std::max(0L, std::ftell(f.get())));
  // matio takes a file for v5 or v7.3 by its version word only, and reads any
  // other file as v4, tagged or not (fuzz_mat: "MI" with version 0xadad, then
  // a v4 name length of 4 GB).
  if (tagged) {
    const bool swap = std::memcmp(head + 126, "MI", 2) == 0;
    const unsigned version = swap ? (static_cast<unsigned char>(head[124]) << 8) | static_cast<unsigned char>(head[125])
                                  : (static_cast<unsigned char>(head[125]) << 8) | static_cast<unsigned char>(head[124]);
    if (version == 0x0100) check_v5_elements(path, f.get(), size, swap);
    if (version == 0x0100 || version == 0x0200) return;  // v7.3 is HDF5
  }
  auto bad = [&](uint64_t at, const std::string& what) {
    fail(path, "not a valid MATLAB .mat file (read as v4: " + what + " at byte " + std::to_string(at) + ")");
  };
  uint64_t pos = 0;
  while (pos < size) {
    int32_t h[5];
    if (size - pos < 20 || std::fseek(f.get(), static_cast<long>(pos), SEEK_SET) != 0 ||
        std::fread(h, 1, 20, f.get()) != 20) {
      bad(pos, "truncated header");
    }
    if (h[0] < 0 || h[0] > 4999) {  // the type is MOPT; a big-endian file has it byte-swapped
      for (int32_t& v : h) v = static_cast<int32_t>(__builtin_bswap32(static_cast<uint32_t>(v)));
    }
    const int32_t type = h[0], mrows = h[1], ncols = h[2], imagf = h[3], namelen = h[4];
    const int32_t precision = (type / 10) % 10;  // P: 0 double, 1 single, 2 int32, 3 int16, 4 uint16, 5 uint8
    if (type < 0 || type > 4999 || (type / 100) % 10 != 0 || precision > 5 || type % 10 > 2) bad(pos, "invalid type");
    if (mrows < 0 || ncols < 0 || (imagf != 0 && imagf != 1) || namelen < 1) bad(pos, "invalid header");
    static const uint64_t kSize[6] = {8, 4, 4, 2, 2, 1};
    const uint64_t data = static_cast<uint64_t>(mrows) * static_cast<uint64_t>(ncols) * kSize[precision] *
                          (imagf ? 2u : 1u);
    const uint64_t left = size - pos - 20;
    if (static_cast<uint64_t>(namelen) > left || data > left - static_cast<uint64_t>(namelen)) {
      bad(pos, "name and data of " + std::to_string(namelen) + " + " + std::to_string(data) + " bytes, only " +
                   std::to_string(left) + " left");
    }
    pos += 20 + static_cast<uint64_t>(namelen) + data;
  }
}

MatPtr open_mat(const std::string& path) {
  install_matio_logger();
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const int first = std::fgetc(f);
  std::fclose(f);
  if (first == EOF) fail(path, "is empty, expected a MATLAB .mat file");
  check_v4_records(path);
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
  // Checked before matio allocates the variable: dimensions that claim more
  // than the file can hold (deflate expands at most ~1032 times) are a corrupt
  // header, and trusting them would allocate terabytes.
  {
    const auto class_size = static_cast<int64_t>(Mat_SizeOfClass(info->class_type));
    std::error_code ec;
    const uintmax_t file_size = std::filesystem::file_size(path, ec);
    int64_t claimed = 0;
    if (detail::mul_overflows(numel, std::max<int64_t>(class_size, 1), &claimed) ||
        (!ec && static_cast<uintmax_t>(claimed) > file_size * 1100 + 4096)) {
      fail(where, "claims " + std::to_string(numel) + " elements, more than the file's " +
                      std::to_string(ec ? 0 : file_size) + " bytes can hold (corrupt file)");
    }
  }
  info.reset();

  // A v7.3 file is HDF5, which matio reads with libhdf5's own driver: the
  // variable's stored size and element size are checked first as fovea's HDF5
  // reader checks them (fuzz_mat: a contiguous dataset shorter than its shape
  // made libhdf5 copy from address 0 in H5D__contig_read; a corrupt element
  // size, a 4 GB conversion buffer in H5D__read).
  if (Mat_GetVersion(mat.get()) == MAT_FT_MAT73) detail::check_h5_dataset_storage(path, "/" + name);

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
