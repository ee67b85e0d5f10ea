#pragma once
// Published retina datasets by name (data.dir: hoefling_2024), fetched from
// openretina's Hugging Face dataset repository — or the mirror that
// FOVEA_MODEL_BASE_URL names, as for the pretrained models — into fovea's
// download cache (io::download_cached: cached once, written atomically, a
// `.zip` unpacked atomically).
//
//   hoefling_2024            euler_lab/hoefling_2024/stimuli/rgc_natstim_18x16_joint_normalized_2024-01-11.zip
//                            euler_lab/hoefling_2024/responses/rgc_natstim_2024-08-14.zip
//   hoefling_2024_high_res   the 72×64 movies (…/stimuli/rgc_natstim_72x64_joint_normalized_2024-10-11.zip)
//                            and the same responses
// Each zip holds one file (openretina opens each as one file): the movie
// pickle and the responses HDF5.
//   karamanlis_2024          gollisch_lab/karamanlis_2024/sessions/ (a folder: see
//                            data::fetch_karamanlis_sessions)
//   goldin_2022              marre_lab/goldin_2022/ (a folder: data::fetch_goldin_2022)
//   sridhar_2025             gollisch_lab/sridhar_2025/marmoset/natural_movie or whitenoise
//                            (data.stimulus; a folder: data::fetch_sridhar_2025)
#include <string>

#include "fovea/io/download.h"

namespace fovea::data {

struct PublishedFiles {
  std::string layout;                        // the data.layout that reads them
  std::string movies_path, responses_path;   // local paths, once fetched
};

// True for a name in the table above.
bool is_published_dataset(const std::string& name);
// The data.layout that reads dataset `name` ("" for an unknown name).
std::string published_dataset_layout(const std::string& name);
std::string published_dataset_names();

// Downloads (or finds in the cache) the files of dataset `name` from
// `base_url` (the repository's "resolve/main" root) and returns their local
// paths. Errors name the URL or the unpacked folder.
PublishedFiles fetch_published_dataset(const std::string& name, const std::string& base_url,
                                       const io::DownloadOptions& options = {});

}  // namespace fovea::data
