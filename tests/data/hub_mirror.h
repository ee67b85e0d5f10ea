#pragma once
// A local mirror of openretina's Hugging Face dataset repository
// (open-retina/open-retina at main) for the download tests: folder listings
// at the Hub's tree API paths, files at its resolve paths.
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_runner.h"
#include "fovea/io/download.h"
#include "http_test_server.h"
#include "test_util.h"

namespace fovea::test {

struct HubMirror {
  HttpTestServer server;

  // Server paths of a folder's listing and of a file (both repository paths).
  static std::string api(const std::string& folder) { return "/api/datasets/open-retina/open-retina/tree/main/" + folder; }
  static std::string file(const std::string& path) { return "/datasets/open-retina/open-retina/resolve/main/" + path; }
  // What fovea is given as the mirror (FOVEA_MODEL_BASE_URL).
  std::string base_url() { return server.url("/datasets/open-retina/open-retina/resolve/main"); }

  // The tree listing of `folder`: [{"type": type, "path": "<folder>/<name>"}, ...] for each (type, name).
  void list(const std::string& folder, const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string json = "[";
    for (const auto& [type, name] : entries)
      json += std::string(json.size() > 1 ? "," : "") + "{\"type\":\"" + type + "\",\"path\":\"" + folder + "/" + name + "\"}";
    server.serve_file(api(folder), json + "]");
  }
  void serve(const std::string& path, const std::string& content) { server.serve_file(file(path), content); }
};

// Downloads into `cache`, without progress output.
inline io::DownloadOptions quiet_download(const TempDir& cache) {
  io::DownloadOptions dl;
  dl.cache_dir = cache.path().string();
  dl.quiet = true;
  return dl;
}

// `fovea train` with configs/<preset>, data.dir=<data_dir> (a published
// dataset's name) and output.dir=<dir>/run, downloading from `base_url` into `cache`.
inline CliResult train_from_mirror(const std::string& base_url, const TempDir& cache, const std::string& preset,
                                   const std::string& data_dir, const TempDir& dir, const std::string& extra) {
  ScopedEnv cache_env("FOVEA_CACHE_DIR", cache.path().string());
  ScopedEnv mirror("FOVEA_MODEL_BASE_URL", base_url);
  return run_fovea("train -q --threads 1 --config " + std::string(FOVEA_SOURCE_DIR) + "/configs/" + preset +
                       " data.dir=" + data_dir + " output.dir=" + dir.file("run") + " " + extra,
                   dir);
}

}  // namespace fovea::test
