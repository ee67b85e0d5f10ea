#pragma once
// A run's output folder: made when the run starts writing, and removed again
// when the run fails before anything was written into it (a folder that
// existed before is left alone), so a rejected run leaves no empty folder.
#include <exception>
#include <filesystem>
#include <string>

#include "fovea/io/atomic_file.h"

namespace fovea::api {

class OutputFolder {
 public:
  explicit OutputFolder(std::string dir) : dir_(std::move(dir)), made_(!std::filesystem::exists(dir_)) {
    io::make_directories(dir_);
  }
  ~OutputFolder() {
    if (!made_ || std::uncaught_exceptions() <= exceptions_) return;
    std::error_code ec;
    if (std::filesystem::is_empty(dir_, ec) && !ec) std::filesystem::remove(dir_, ec);
  }
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

 private:
  std::string dir_;
  bool made_;
  int exceptions_ = std::uncaught_exceptions();
};

}  // namespace fovea::api
