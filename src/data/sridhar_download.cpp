// data.dir: sridhar_2025 — the published folder from openretina's Hugging
// Face repository (gollisch_lab/sridhar_2025/marmoset/<natural_movie|whitenoise>),
// listed with the Hub's tree API (as openretina's list_repo_files) and
// downloaded into <cache>/published/sridhar_2025/<stimulus>, all but the STAs
// (stas/, which fovea does not use); zips are unpacked in place (openretina's
// unzip_and_cleanup). A finished download is recorded, so later runs need no network.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fovea/data/sridhar_dataset.h"
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

// openretina's unzip_and_cleanup: one member lands next to the zip; members
// all under a top folder named like the zip land in the zip's folder;
// otherwise they go to <zip stem>/. The zip is then deleted.
void unzip_in_place(const fs::path& zip) {
  const fs::path parent = zip.parent_path(), stem = zip.stem();
  const fs::path scratch = io::unpack_zip_once(zip.string(), (parent / (".unzip_" + stem.string())).string());
  std::vector<fs::path> top;
  for (const auto& e : fs::directory_iterator(scratch)) top.push_back(e.path());
  if (top.size() == 1 && (fs::is_regular_file(top[0]) || top[0].filename() == stem)) {
    fs::remove_all(parent / top[0].filename());
    fs::rename(top[0], parent / top[0].filename());
    fs::remove_all(scratch);
  } else {
    fs::remove_all(parent / stem);
    fs::rename(scratch, parent / stem);
  }
  fs::remove(zip);
}

}  // namespace

std::string fetch_sridhar_2025(const std::string& stimulus, const std::string& base_url,
                               const io::DownloadOptions& options) {
  check(stimulus == "natural_movie" || stimulus == "whitenoise", "stimulus",
        "must be natural_movie or whitenoise, got '" + stimulus + "'");
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string root_path = "gollisch_lab/sridhar_2025/marmoset/" + stimulus, prefix = root_path + "/";
  const fs::path folder = fs::path(options.cache_dir.empty() ? io::cache_directory() : options.cache_dir) /
                          "published" / "sridhar_2025" / stimulus;
  const fs::path done = folder / ".complete";
  if (fs::exists(done)) return folder.string();
  fs::create_directories(folder);

  const std::string api = tree_api_url(base, root_path);
  std::vector<std::string> pending{root_path};
  int files = 0;
  while (!pending.empty()) {
    const std::string dir = pending.back();
    pending.pop_back();
    const std::string url = api + "/" + dir;
    const fs::path listing = folder / ".listing.json";
    fs::remove(listing);
    io::download_to(url, listing.string(), options);
    const nlohmann::json j = nlohmann::json::parse(io::read_file(listing.string()), nullptr, false);
    fs::remove(listing);
    if (!j.is_array()) fail(url, "the folder listing is not a JSON array of {type, path}");
    for (const auto& e : j) {
      if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("type"))
        fail(url, "a listing entry lacks 'type' or 'path'");
      const std::string path = e["path"].get<std::string>();
      if (path.rfind(prefix, 0) != 0 || path.find("..") != std::string::npos)
        fail(url, "lists '" + path + "' outside the folder");
      const std::string rel = path.substr(prefix.size());
      if (rel == "stas" || rel.rfind("stas/", 0) == 0) continue;  // per-cell STAs: not read
      if (e["type"] == "directory") {
        pending.push_back(path);
        continue;
      }
      const fs::path target = folder / rel;
      fs::create_directories(target.parent_path());
      io::download_to(base + "/" + path, target.string(), options);
      ++files;
      if (target.extension() == ".zip") unzip_in_place(target);
    }
  }
  if (files == 0) fail(api + "/" + root_path, "lists no files");
  std::ofstream(done.string()) << "complete\n";
  return folder.string();
}

}  // namespace fovea::data
