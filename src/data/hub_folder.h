#pragma once
// Downloading a folder of a Hugging Face dataset repository, as openretina's
// list_repo_files + hf_hub_download: the folder is listed with the Hub's tree
// API ({"type": "file"|"directory", "path": ...} per entry) and the chosen
// files are fetched (atomically, by io::download_to) into a local folder.
#include <filesystem>
#include <functional>
#include <string>

#include "fovea/io/download.h"

namespace fovea::data {

// <cache>/published/<name>: where the published datasets are downloaded.
std::filesystem::path published_cache_folder(const io::DownloadOptions& options, const std::string& name);

struct HubFolder {
  std::string base_url;            // ".../datasets/<owner>/<repo>/resolve/<revision>"; trailing '/' ignored
  std::string path;                // the folder in the repository, e.g. "marre_lab/goldin_2022"
  std::filesystem::path target;    // a file lands at target/<its path below `path`>
  std::filesystem::path scratch;   // where each listing is kept while it is read
};

// One listed entry: its path below HubFolder::path and whether it is a directory.
struct HubEntry {
  std::string rel;
  bool directory = false;
};

struct HubFetched {
  int files = 0;    // files downloaded
  std::string url;  // the listing URL of the folder, for the caller's errors
};

// Lists f.path, descends into the directories `select` accepts and downloads
// the files it accepts, calling `fetched` (if set) on each downloaded file.
// A listing that is not JSON, lacks 'type'/'path' or names a path outside
// the folder fails naming its URL; so does a base URL that is not a Hub
// "resolve" URL (such a mirror cannot be listed).
HubFetched fetch_hub_folder(const HubFolder& f, const std::function<bool(const HubEntry&)>& select,
                            const std::function<void(const std::filesystem::path&)>& fetched,
                            const io::DownloadOptions& options);

}  // namespace fovea::data
