// data.dir: karamanlis_2024 — downloading the sessions folder from the Hugging
// Face repository (see fetch_karamanlis_sessions in fovea/data/karamanlis_dataset.h).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fovea/data/karamanlis_dataset.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSessionsPath = "gollisch_lab/karamanlis_2024/sessions";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ".../datasets/<owner>/<repo>/resolve/<rev>" -> ".../api/datasets/<owner>/<repo>/tree/<rev>"
std::string tree_api_url(const std::string& base_url) {
  const auto resolve = base_url.rfind("/resolve/");
  const auto datasets = base_url.rfind("/datasets/", resolve);
  if (resolve == std::string::npos || datasets == std::string::npos)
    fail(base_url, "not a Hugging Face '.../datasets/<owner>/<repo>/resolve/<revision>' URL, so the Karamanlis "
                   "sessions folder cannot be listed; download " + std::string(kSessionsPath) +
                       " yourself and set data.dir to that folder");
  return base_url.substr(0, datasets) + "/api" + base_url.substr(datasets, resolve - datasets) + "/tree/" +
         base_url.substr(resolve + 9);
}

struct Entry {
  std::string path;  // in the repository
  bool directory = false;
};

// One level of the Hub's tree listing: [{"type": "file"|"directory", "path": ...}, ...].
std::vector<Entry> list_folder(const std::string& api, const std::string& path, const fs::path& scratch,
                               const io::DownloadOptions& options) {
  const std::string url = api + "/" + path;
  const fs::path listing = scratch / ".listing.json";
  fs::remove(listing);
  io::download_to(url, listing.string(), options);
  const std::string text = io::read_file(listing.string());
  fs::remove(listing);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) fail(url, "the folder listing is not a JSON array of {type, path}");
  std::vector<Entry> entries;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("type"))
      fail(url, "a listing entry lacks 'type' or 'path'");
    entries.push_back({e["path"].get<std::string>(), e["type"] == "directory"});
  }
  return entries;
}

}  // namespace

std::string fetch_karamanlis_sessions(const std::string& species, const std::string& stim_type,
                                      const std::string& base_url, const io::DownloadOptions& options) {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const fs::path root =
      fs::path(options.cache_dir.empty() ? io::cache_directory() : options.cache_dir) / "published" / "karamanlis_2024";
  const fs::path folder = root / "sessions";
  // Recorded only once every file is in place, so an interrupted download resumes.
  const fs::path done = root / (".complete_" + species + "_" + stim_type);
  if (fs::exists(done)) return folder.string();
  fs::create_directories(folder);

  const std::string api = tree_api_url(base);
  const std::string prefix = std::string(kSessionsPath) + "/";
  const std::string mat = stim_type + "_data.mat", npz = stim_type + "_data_extracted_stimuli_";
  int sessions = 0;
  for (const Entry& top : list_folder(api, kSessionsPath, root, options)) {
    if (top.path.rfind(prefix, 0) != 0) fail(api + "/" + kSessionsPath, "lists '" + top.path + "' outside the folder");
    const std::string name = top.path.substr(prefix.size());
    if (name.find(species) == std::string::npos) continue;
    ++sessions;
    if (!top.directory) {  // a session archive (or file): the reader unpacks zips
      io::download_to(base + "/" + top.path, (folder / name).string(), options);
      continue;
    }
    // A session folder: only this stimulus's recording and its cached movies.
    std::vector<Entry> pending{top};
    while (!pending.empty()) {
      const Entry dir = pending.back();
      pending.pop_back();
      for (const Entry& e : list_folder(api, dir.path, root, options)) {
        if (e.path.rfind(prefix, 0) != 0 || e.path.find("..") != std::string::npos)
          fail(api + "/" + dir.path, "lists '" + e.path + "' outside the folder");
        const std::string file = fs::path(e.path).filename().string();
        if (e.directory) pending.push_back(e);
        else if (ends_with(file, mat) || (file.find(npz) != std::string::npos && ends_with(file, ".npz")))
          io::download_to(base + "/" + e.path, (folder / e.path.substr(prefix.size())).string(), options);
      }
    }
  }
  if (sessions == 0)
    fail(api + "/" + kSessionsPath, "lists no entry whose name contains '" + species + "'");
  std::ofstream(done.string()) << "complete\n";
  return folder.string();
}

}  // namespace fovea::data
