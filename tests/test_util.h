#pragma once
// Helpers shared by the test binaries.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "fovea/error.h"

namespace fovea::test {

inline std::string golden(const std::string& relative) { return std::string(FOVEA_GOLDEN_DIR) + "/" + relative; }

inline bool golden_available() { return std::filesystem::exists(golden("golden.json")); }

inline nlohmann::json golden_json() {
  std::ifstream in(golden("golden.json"));
  return nlohmann::json::parse(in);
}

// ‖a − b‖ / ‖b‖ in float64.
inline double relative_error(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x - y).norm().item<double>() / y.norm().item<double>();
}

// Runs `f`, which must throw fovea::Error, and returns its message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const fovea::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no fovea::Error was thrown";
  return "";
}

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("fovea_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fovea::test

#define SKIP_WITHOUT_GOLDEN() \
  if (!::fovea::test::golden_available()) GTEST_SKIP() << "../shared/golden is not available"
