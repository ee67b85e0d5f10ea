#pragma once
// Output files are never left half-written: everything is written to a
// temporary name next to the target and renamed into place on commit().
#include <fstream>
#include <string>

namespace fovea::io {

// Writes `bytes` to `path` atomically (temporary file + rename).
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole file; throws fovea::Error naming the file if it cannot be read.
std::string read_file(const std::string& path);

// A text/binary output stream that appears at `path` only after commit().
// If it is destroyed without commit() (an exception, an early return), the
// temporary file is removed and `path` is untouched.
class AtomicOutput {
 public:
  explicit AtomicOutput(const std::string& path, bool binary = false);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  std::ostream& stream() { return out_; }
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_path_;
  std::ofstream out_;
  bool committed_ = false;
};

// Creates a directory and its parents; throws fovea::Error on failure.
void make_directories(const std::string& dir);

}  // namespace fovea::io
