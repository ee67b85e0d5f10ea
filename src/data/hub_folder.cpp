// Listing and downloading a Hugging Face dataset folder (see hub_folder.h).
#include "data/hub_folder.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

// ".../datasets/<owner>/<repo>/resolve/<rev>" -> ".../api/datasets/<owner>/<repo>/tree/<rev>"
std::string tree_api_url(const std::string& base_url, const std::string& path) {
  const auto resolve = base_url.rfind("/resolve/");
  const auto datasets = resolve == std::string::npos ? std::string::npos : base_url.rfind("/datasets/", resolve);
  if (resolve == std::string::npos || datasets == std::string::npos)
    fail(base_url, "not a Hugging Face '.../datasets/<owner>/<repo>/resolve/<revision>' URL, so " + path +
                       " cannot be listed; download it yourself and set data.dir to it");
  return base_url.substr(0, datasets) + "/api" + base_url.substr(datasets, resolve - datasets) + "/tree/" +
         base_url.substr(resolve + 9);
}

// One level of a tree listing: (path in the repository, is a directory) per entry.
std::vector<std::pair<std::string, bool>> list_level(const std::string& url, const fs::path& scratch,
                                                     const io::DownloadOptions& options) {
  const fs::path listing = scratch / ".listing.json";
  fs::remove(listing);
  io::download_to(url, listing.string(), options);
  const nlohmann::json j = nlohmann::json::parse(io::read_file(listing.string()), nullptr, /*allow_exceptions=*/false);
  fs::remove(listing);
  if (!j.is_array()) fail(url, "the folder listing is not a JSON array of {type, path}");
  std::vector<std::pair<std::string, bool>> entries;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("type"))
      fail(url, "a listing entry lacks 'type' or 'path'");
    entries.emplace_back(e["path"].get<std::string>(), e["type"] == "directory");
  }
  return entries;
}

}  // namespace

fs::path published_cache_folder(const io::DownloadOptions& options, const std::string& name) {
  return fs::path(options.cache_dir.empty() ? io::cache_directory() : options.cache_dir) / "published" / name;
}

HubFetched fetch_hub_folder(const HubFolder& f, const std::function<bool(const HubEntry&)>& select,
                            const std::function<void(const fs::path&)>& fetched,
                            const io::DownloadOptions& options) {
  std::string base = f.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string api = tree_api_url(base, f.path), prefix = f.path + "/";
  HubFetched out;
  out.url = api + "/" + f.path;
  std::vector<std::string> pending{f.path};
  while (!pending.empty()) {
    const std::string url = api + "/" + pending.back();
    pending.pop_back();
    for (const auto& [path, directory] : list_level(url, f.scratch, options)) {
      if (path.rfind(prefix, 0) != 0 || path.find("..") != std::string::npos)
        fail(url, "lists '" + path + "' outside the folder");
      const HubEntry entry{path.substr(prefix.size()), directory};
      if (!select(entry)) continue;
      if (directory) {
        pending.push_back(path);
        continue;
      }
      const fs::path target = f.target / entry.rel;
      fs::create_directories(target.parent_path());
      io::download_to(base + "/" + path, target.string(), options);
      ++out.files;
      if (fetched) fetched(target);
    }
  }
  return out;
}

}  // namespace fovea::data
