#pragma once
// A fresh directory under the system temp folder, removed with its contents
// when the test ends.
#include <filesystem>
#include <random>
#include <string>

namespace fovea::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "fovea_test") {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace fovea::testing
