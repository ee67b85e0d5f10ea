#pragma once
// Helpers shared by the io module's source files (not part of the public API).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fovea::io::detail {

// A fresh, unused temporary file name in the same directory as `path`; the
// file is created (empty, O_EXCL) so that no one else can take the name.
std::string create_temp_file_for(const std::string& path);
// Renames `tmp` onto `path`; removes `tmp` and throws fovea::Error on failure.
void rename_into_place(const std::string& tmp, const std::string& path);
// Removes a file, ignoring errors (cleanup paths).
void remove_quietly(const std::string& path) noexcept;

// Checked arithmetic for sizes read from files: false on overflow.
bool mul_overflows(int64_t a, int64_t b, int64_t* out);
bool add_overflows(int64_t a, int64_t b, int64_t* out);

// Reverses the byte order of `count` elements of `elem_size` bytes in place.
void byteswap_inplace(void* data, int64_t count, int64_t elem_size);

// Element size in bytes of the dtypes io handles.
int64_t element_size(at::ScalarType dtype);
// A short name for messages ("float32", "int64", ...).
std::string dtype_name(at::ScalarType dtype);

// A 1-D or N-D tensor that owns a copy of `bytes` reinterpreted as `dtype`
// (little-endian host). `bytes.size()` must equal numel(sizes) * element_size.
at::Tensor tensor_from_bytes(const char* bytes, int64_t nbytes, at::ScalarType dtype,
                             const std::vector<int64_t>& sizes);

// ---- NumPy dtypes (shared by .npy and pickled numpy arrays) ----
// How a NumPy dtype is stored and which tensor dtype it becomes. uint16 and
// uint32 (no torch type) are widened to int32 and int64.
struct NumpyType {
  at::ScalarType dtype = at::kFloat;  // dtype of the returned tensor
  int64_t itemsize = 0;               // bytes per element as stored
  bool widen_u16 = false;
  bool widen_u32 = false;
  bool big_endian = false;
};
// Parses a dtype string such as "<f4", "|u1", ">i8", "f8" (no order: native
// = little-endian). Throws fovea::Error "<origin>: unsupported dtype '...'".
NumpyType parse_numpy_dtype(const std::string& descr, const std::string& origin);
// Turns raw NumPy array bytes into a C-contiguous tensor of shape `sizes`.
// `nbytes` must be numel(sizes) * itemsize (checked by the caller).
at::Tensor numpy_bytes_to_tensor(const char* data, int64_t nbytes, const NumpyType& type,
                                 const std::vector<int64_t>& sizes, bool fortran_order);

// ---- zip archives (libzip) ----
struct ZipEntry {
  std::string name;
  uint64_t size = 0;
  uint64_t index = 0;
};

// A read-only zip archive; every error names `path`.
class ZipReader {
 public:
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // Index of an entry by exact name; -1 if absent.
  int64_t find(const std::string& name) const;
  // The uncompressed bytes of an entry.
  std::string read(uint64_t index) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* zip_ = nullptr;  // zip_t*
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> by_name_;   // name -> position in entries_
  std::unordered_map<uint64_t, size_t> by_index_;     // zip index -> position in entries_
};

// Writes a zip archive atomically: entries in order, stored or deflated.
void write_zip_atomic(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& entries,
                      bool compress);

}  // namespace fovea::io::detail
