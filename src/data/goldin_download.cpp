// data.dir: goldin_2022 — the published files from openretina's Hugging Face
// repository (marre_lab/goldin_2022/), listed with the Hub's tree API (as
// openretina's list_repo_files) and downloaded into
// <cache>/published/goldin_2022: the entries whose name contains the species;
// a zip is unpacked there (openretina's unzip_and_cleanup). A finished
// download is recorded in the folder, so later runs need no network.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fovea/data/goldin_dataset.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

constexpr const char* kGoldinPath = "marre_lab/goldin_2022";

// ".../datasets/<owner>/<repo>/resolve/<rev>" -> ".../api/datasets/<owner>/<repo>/tree/<rev>"
std::string tree_api_url(const std::string& base_url) {
  const auto resolve = base_url.rfind("/resolve/");
  const auto datasets = resolve == std::string::npos ? std::string::npos : base_url.rfind("/datasets/", resolve);
  if (resolve == std::string::npos || datasets == std::string::npos)
    fail(base_url, "not a Hugging Face '.../datasets/<owner>/<repo>/resolve/<revision>' URL, so " +
                       std::string(kGoldinPath) + " cannot be listed; download it yourself and set data.dir to it");
  return base_url.substr(0, datasets) + "/api" + base_url.substr(datasets, resolve - datasets) + "/tree/" +
         base_url.substr(resolve + 9);
}

}  // namespace

std::string fetch_goldin_2022(const std::string& specie, const std::string& base_url,
                              const io::DownloadOptions& options) {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const fs::path folder =
      fs::path(options.cache_dir.empty() ? io::cache_directory() : options.cache_dir) / "published" / "goldin_2022";
  const fs::path done = folder / (".complete_" + specie);
  if (fs::exists(done)) return folder.string();
  fs::create_directories(folder);

  const std::string url = tree_api_url(base) + "/" + kGoldinPath;
  const fs::path listing = folder / ".listing.json";
  fs::remove(listing);
  io::download_to(url, listing.string(), options);
  const nlohmann::json j = nlohmann::json::parse(io::read_file(listing.string()), nullptr, false);
  fs::remove(listing);
  if (!j.is_array()) fail(url, "the folder listing is not a JSON array of {type, path}");
  const std::string prefix = std::string(kGoldinPath) + "/";
  int files = 0;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("type"))
      fail(url, "a listing entry lacks 'type' or 'path'");
    const std::string path = e["path"].get<std::string>();
    if (path.rfind(prefix, 0) != 0 || path.find("..") != std::string::npos)
      fail(url, "lists '" + path + "' outside the folder");
    const std::string name = path.substr(prefix.size());
    if (e["type"] != "file" || name.find('/') != std::string::npos || name.find(specie) == std::string::npos) continue;
    const fs::path target = folder / name;
    io::download_to(base + "/" + path, target.string(), options);
    ++files;
    if (target.extension() == ".zip") {
      // The files inside take the zip's place.
      const fs::path unpacked = io::unpack_zip_once(target.string(), (folder / (".unzip_" + target.stem().string())).string());
      for (const auto& m : fs::recursive_directory_iterator(unpacked))
        if (m.is_regular_file()) fs::rename(m.path(), folder / m.path().filename());
      fs::remove_all(unpacked);
      fs::remove(target);
    }
  }
  if (files == 0) fail(url, "lists no file whose name contains '" + specie + "'");
  std::ofstream(done.string()) << "complete\n";
  return folder.string();
}

}  // namespace fovea::data
