// Fetching the published retina datasets by name (see the header).
#include "fovea/data/published_datasets.h"

#include <filesystem>
#include <vector>

#include "fovea/error.h"

namespace fovea::data {
namespace {

namespace fs = std::filesystem;

struct Entry {
  const char* name;
  const char* layout;
  const char* movies;     // path under the repository root
  const char* responses;
};

constexpr const char* kHoeflingResponses = "euler_lab/hoefling_2024/responses/rgc_natstim_2024-08-14.zip";

const std::vector<Entry>& table() {
  static const std::vector<Entry> entries = {
      {"hoefling_2024", "hoefling_2024",
       "euler_lab/hoefling_2024/stimuli/rgc_natstim_18x16_joint_normalized_2024-01-11.zip", kHoeflingResponses},
      {"hoefling_2024_high_res", "hoefling_2024",
       "euler_lab/hoefling_2024/stimuli/rgc_natstim_72x64_joint_normalized_2024-10-11.zip", kHoeflingResponses},
      // A folder of sessions, listed and fetched by data::fetch_karamanlis_sessions.
      {"karamanlis_2024", "karamanlis_2024", "", ""},
      // Folders, listed and fetched by data::fetch_goldin_2022 and data::fetch_sridhar_2025.
      {"goldin_2022", "goldin_2022", "", ""},
      {"sridhar_2025", "sridhar_2025", "", ""},
  };
  return entries;
}

// The one file a downloaded zip holds (openretina reads each zip as one
// file), or the download itself when it is not a zip.
std::string single_member(const std::string& url, const io::DownloadOptions& options) {
  const std::string local = io::download_cached(url, options);
  if (fs::path(local).extension() != ".zip") return local;
  const std::string folder = io::unpack_zip_once(local, (fs::path(local).parent_path() / fs::path(local).stem()).string());
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file()) files.push_back(e.path().string());
  if (files.size() != 1)
    fail(url, "the archive holds " + std::to_string(files.size()) + " files, expected one (unpacked in " + folder + ")");
  return files.front();
}

}  // namespace

bool is_published_dataset(const std::string& name) {
  for (const auto& e : table())
    if (name == e.name) return true;
  return false;
}

std::string published_dataset_layout(const std::string& name) {
  for (const auto& e : table())
    if (name == e.name) return e.layout;
  return "";
}

std::string published_dataset_names() {
  std::string names;
  for (const auto& e : table()) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

PublishedFiles fetch_published_dataset(const std::string& name, const std::string& base_url,
                                       const io::DownloadOptions& options) {
  for (const auto& e : table()) {
    if (name != e.name) continue;
    if (!*e.movies) fail(name, "is a folder of sessions, fetched by its reader (layout " + std::string(e.layout) + ")");
    std::string base = base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    PublishedFiles f;
    f.layout = e.layout;
    f.movies_path = single_member(base + "/" + e.movies, options);
    f.responses_path = single_member(base + "/" + e.responses, options);
    return f;
  }
  fail(name, "not a published dataset (known: " + published_dataset_names() + ")");
}

}  // namespace fovea::data
