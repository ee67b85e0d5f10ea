// Byte streams over memory and files, so that large arrays are read straight
// into tensor memory instead of through an intermediate copy.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "io/detail.h"

namespace fovea::io::detail {
namespace {

class FileSource : public ByteSource {
 public:
  FileSource(int fd, uint64_t size, std::string path) : fd_(fd), left_(size), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }
  size_t read(char* dst, size_t n) override {
    n = static_cast<size_t>(std::min<uint64_t>(n, left_));
    while (n > 0) {
      const ssize_t k = ::read(fd_, dst, n);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) fail(path_, std::string("cannot read: ") + std::strerror(errno));
      left_ -= static_cast<uint64_t>(k);
      return static_cast<size_t>(k);
    }
    return 0;
  }
  uint64_t remaining() const override { return left_; }

 private:
  int fd_;
  uint64_t left_;
  std::string path_;
};

// Owns bytes read in one go (for pipes and other files of unknown size).
class OwnedMemorySource : public ByteSource {
 public:
  explicit OwnedMemorySource(std::string bytes) : bytes_(std::move(bytes)), source_(bytes_) {}
  size_t read(char* dst, size_t n) override { return source_.read(dst, n); }
  uint64_t remaining() const override { return source_.remaining(); }

 private:
  std::string bytes_;
  MemorySource source_;
};

}  // namespace

size_t MemorySource::read(char* dst, size_t n) {
  n = std::min(n, b_.size() - pos_);
  if (n > 0) std::memcpy(dst, b_.data() + pos_, n);
  pos_ += n;
  return n;
}

std::unique_ptr<ByteSource> open_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    // Not a regular file (a pipe, a directory): read_file says what is wrong.
    ::close(fd);
    return std::make_unique<OwnedMemorySource>(read_file(path));
  }
  return std::make_unique<FileSource>(fd, static_cast<uint64_t>(st.st_size), path);
}

}  // namespace fovea::io::detail
