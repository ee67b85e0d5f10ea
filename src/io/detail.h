#pragma once
// Helpers shared by the io module's source files (not part of the public API).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
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
// The shape a NumPy array's bytes have in C order (reversed for Fortran order).
std::vector<int64_t> stored_sizes(const std::vector<int64_t>& sizes, bool fortran_order);
// Finishes a tensor that holds the array's raw bytes (dtype type.dtype, shape
// stored_sizes(...); not for widened types): bools normalised to 0/1,
// big-endian data swapped, Fortran order made C-contiguous.
at::Tensor finish_numpy_tensor(at::Tensor raw, const NumpyType& type, bool fortran_order);

// ---- byte streams (so large arrays are read straight into tensor memory) ----
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes; returns how many (0 only at the end).
  virtual size_t read(char* dst, size_t n) = 0;
  // How many bytes are left (known up front for files, zip entries, memory).
  virtual uint64_t remaining() const = 0;
  // Reads exactly n bytes unless the end comes first; returns the count.
  size_t read_full(char* dst, size_t n);
};

// Bytes held in memory (not copied: `bytes` must outlive the source).
class MemorySource : public ByteSource {
 public:
  explicit MemorySource(const std::string& bytes) : b_(bytes) {}
  size_t read(char* dst, size_t n) override;
  uint64_t remaining() const override { return b_.size() - pos_; }

 private:
  const std::string& b_;
  size_t pos_ = 0;
};

// A file as a stream; throws fovea::Error naming `path` if it cannot be
// opened or read (a directory, a missing file).
std::unique_ptr<ByteSource> open_file(const std::string& path);

// Parses an .npy stream; `origin` names it in errors. Bytes after the data are
// left unread.
at::Tensor read_npy_stream(ByteSource& source, const std::string& origin);

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
  // A stream over an entry's bytes. Call finish() after reading what is
  // needed: it reads to the end, where libzip checks the CRC.
  class Stream : public ByteSource {
   public:
    ~Stream() override;
    size_t read(char* dst, size_t n) override;
    uint64_t remaining() const override { return size_ - done_; }
    void finish();

   private:
    friend class ZipReader;
    Stream() = default;
    void* file_ = nullptr;  // zip_file_t*
    std::string where_;
    uint64_t size_ = 0, done_ = 0;
  };
  std::unique_ptr<Stream> open(uint64_t index) const;
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
