// data.dir: goldin_2022 — the published files from openretina's Hugging Face
// repository (marre_lab/goldin_2022/), listed with the Hub's tree API (as
// openretina's list_repo_files) and downloaded into
// <cache>/published/goldin_2022: the entries whose name contains the species;
// a zip is unpacked there (openretina's unzip_and_cleanup). A finished
// download is recorded in the folder, so later runs need no network.
#include <filesystem>
#include <fstream>

#include "data/hub_folder.h"
#include "fovea/data/goldin_dataset.h"
#include "fovea/error.h"

namespace fovea::data {

std::string fetch_goldin_2022(const std::string& specie, const std::string& base_url,
                              const io::DownloadOptions& options) {
  namespace fs = std::filesystem;
  const fs::path folder = published_cache_folder(options, "goldin_2022");
  const fs::path done = folder / (".complete_" + specie);
  if (fs::exists(done)) return folder.string();
  fs::create_directories(folder);

  const auto select = [&](const HubEntry& e) { return !e.directory && e.rel.find(specie) != std::string::npos; };
  const auto unzip = [&](const fs::path& target) {
    if (target.extension() != ".zip") return;
    // The files inside take the zip's place.
    const fs::path unpacked = io::unpack_zip_once(target.string(), (folder / (".unzip_" + target.stem().string())).string());
    for (const auto& m : fs::recursive_directory_iterator(unpacked))
      if (m.is_regular_file()) fs::rename(m.path(), folder / m.path().filename());
    fs::remove_all(unpacked);
    fs::remove(target);
  };
  const HubFetched got = fetch_hub_folder({base_url, "marre_lab/goldin_2022", folder, folder}, select, unzip, options);
  if (got.files == 0) fail(got.url, "lists no file whose name contains '" + specie + "'");
  std::ofstream(done.string()) << "complete\n";
  return folder.string();
}

}  // namespace fovea::data
