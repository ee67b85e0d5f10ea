// data.dir: karamanlis_2024 — downloading the sessions folder from the Hugging
// Face repository (see fetch_karamanlis_sessions in fovea/data/karamanlis_dataset.h).
#include <filesystem>
#include <fstream>

#include "data/hub_folder.h"
#include "fovea/data/karamanlis_dataset.h"
#include "fovea/error.h"

namespace fovea::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string fetch_karamanlis_sessions(const std::string& species, const std::string& stim_type,
                                      const std::string& base_url, const io::DownloadOptions& options) {
  namespace fs = std::filesystem;
  const fs::path root = published_cache_folder(options, "karamanlis_2024");
  const fs::path folder = root / "sessions";
  // Recorded only once every file is in place, so an interrupted download resumes.
  const fs::path done = root / (".complete_" + species + "_" + stim_type);
  if (fs::exists(done)) return folder.string();
  fs::create_directories(folder);

  const std::string mat = stim_type + "_data.mat", npz = stim_type + "_data_extracted_stimuli_";
  int sessions = 0;
  const auto select = [&](const HubEntry& e) {
    if (e.rel.find('/') == std::string::npos) {  // a session folder or archive (the reader unpacks zips)
      const bool mine = e.rel.find(species) != std::string::npos;
      sessions += mine;
      return mine;
    }
    // Inside a session folder: only this stimulus's recording and its cached movies.
    const std::string file = fs::path(e.rel).filename().string();
    return e.directory || ends_with(file, mat) || (file.find(npz) != std::string::npos && ends_with(file, ".npz"));
  };
  const HubFetched got =
      fetch_hub_folder({base_url, "gollisch_lab/karamanlis_2024/sessions", folder, root}, select, nullptr, options);
  if (sessions == 0) fail(got.url, "lists no entry whose name contains '" + species + "'");
  std::ofstream(done.string()) << "complete\n";
  return folder.string();
}

}  // namespace fovea::data
