// Atomic output files (temporary name + rename), whole-file reads, mkdir -p.
#include "fovea/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "fovea/error.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Splits "a/b/c.npy" into ("a/b", "c.npy"); a bare name lives in ".".
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

void write_all(int fd, const char* data, size_t size, const std::string& where) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(where, "cannot write: " + errno_text(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

namespace detail {

std::string create_temp_file_for(const std::string& path) {
  check(!path.empty(), "<output>", "empty output file name");
  const auto [dir, base] = split_path(path);
  check(!base.empty(), path, "output path names a directory, not a file");
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const uint64_t salt = (static_cast<uint64_t>(rd()) << 16) ^ counter.fetch_add(1);
    const std::string tmp = (dir == "/" ? std::string("/") : dir + "/") + "." + base + ".tmp." +
                            std::to_string(::getpid()) + "." + std::to_string(salt);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      return tmp;
    }
    if (errno != EEXIST) {
      fail(path, "cannot create a temporary file in '" + dir + "': " + errno_text(errno));
    }
  }
  fail(path, "cannot find an unused temporary file name in '" + dir + "'");
}

void rename_into_place(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    remove_quietly(tmp);
    fail(path, "cannot rename the temporary file into place: " + errno_text(err));
  }
}

void remove_quietly(const std::string& path) noexcept { ::unlink(path.c_str()); }

}  // namespace detail

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = detail::create_temp_file_for(path);
  try {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) fail(path, "cannot open the temporary file: " + errno_text(errno));
    try {
      write_all(fd, bytes.data(), bytes.size(), path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::fsync(fd);
    if (::close(fd) != 0) fail(path, "cannot write: " + errno_text(errno));
  } catch (...) {
    detail::remove_quietly(tmp);
    throw;
  }
  detail::rename_into_place(tmp, path);
}

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, "cannot stat: " + errno_text(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(path, "is a directory, expected a file");
  }
  std::string bytes;
  if (S_ISREG(st.st_mode) && st.st_size > 0) bytes.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail(path, "cannot read: " + errno_text(err));
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

AtomicOutput::AtomicOutput(const std::string& path, bool binary) : path_(path) {
  tmp_path_ = detail::create_temp_file_for(path);
  out_.open(tmp_path_, binary ? (std::ios::out | std::ios::trunc | std::ios::binary)
                              : (std::ios::out | std::ios::trunc));
  if (!out_) {
    detail::remove_quietly(tmp_path_);
    fail(path, "cannot open the temporary file '" + tmp_path_ + "' for writing");
  }
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    if (out_.is_open()) out_.close();
    detail::remove_quietly(tmp_path_);
  }
}

void AtomicOutput::commit() {
  check(!committed_, path_, "commit() called twice");
  out_.flush();
  const bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok || out_.fail()) {
    detail::remove_quietly(tmp_path_);
    committed_ = true;  // nothing left to clean up
    fail(path_, "cannot write (disk full or I/O error)");
  }
  fsync_path(tmp_path_);
  committed_ = true;
  detail::rename_into_place(tmp_path_, path_);
}

void make_directories(const std::string& dir) {
  check(!dir.empty(), "<directory>", "empty directory name");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(dir, "cannot create directory: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) fail(dir, "exists and is not a directory");
}

}  // namespace fovea::io
