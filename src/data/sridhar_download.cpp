// data.dir: sridhar_2025 — the published folder from openretina's Hugging
// Face repository (gollisch_lab/sridhar_2025/marmoset/<natural_movie|whitenoise>),
// listed with the Hub's tree API (as openretina's list_repo_files) and
// downloaded into <cache>/published/sridhar_2025/<stimulus>: first all but
// the per-cell STAs, then, when they are wanted (data.get_locations), stas/;
// zips are unpacked in place (openretina's unzip_and_cleanup). Each finished
// step is recorded, so later runs need no network.
#include <filesystem>
#include <fstream>
#include <vector>

#include "data/hub_folder.h"
#include "fovea/data/sridhar_dataset.h"
#include "fovea/error.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

// openretina's unzip_and_cleanup: one member lands next to the zip; members
// all under a top folder named like the zip land in the zip's folder;
// otherwise they go to <zip stem>/. The zip is then deleted.
void unzip_in_place(const fs::path& zip) {
  if (zip.extension() != ".zip") return;
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
                               const io::DownloadOptions& options, bool with_stas) {
  check(stimulus == "natural_movie" || stimulus == "whitenoise", "stimulus",
        "must be natural_movie or whitenoise, got '" + stimulus + "'");
  const fs::path folder = published_cache_folder(options, "sridhar_2025") / stimulus;
  const std::string root = "gollisch_lab/sridhar_2025/marmoset/" + stimulus;
  const auto is_sta = [](const HubEntry& e) { return e.rel == "stas" || e.rel.rfind("stas/", 0) == 0; };
  // The STAs (one file per cell) are a step of their own, so that a folder
  // fetched without them stays usable and gains them when they are wanted.
  const fs::path done = folder / ".complete", stas_done = folder / ".complete_stas";
  if (!fs::exists(done)) {
    fs::create_directories(folder);
    const HubFetched got = fetch_hub_folder({base_url, root, folder, folder},
                                            [&](const HubEntry& e) { return !is_sta(e); }, unzip_in_place, options);
    if (got.files == 0) fail(got.url, "lists no files");
    std::ofstream(done.string()) << "complete\n";
  }
  if (with_stas && !fs::exists(stas_done)) {
    const HubFetched got = fetch_hub_folder({base_url, root, folder, folder}, is_sta, {}, options);
    if (got.files == 0) fail(got.url, "lists no STA files (stas/); data.get_locations: false trains without them");
    std::ofstream(stas_done.string()) << "complete\n";
  }
  return folder.string();
}

}  // namespace fovea::data
