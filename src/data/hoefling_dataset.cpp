// The Höfling 2024 dataset: responses matched to each session's presentation
// sequence and eye (openretina's natmov_dataloaders_v2; see the header).
#include "fovea/data/hoefling_dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "data/hoefling_movies.h"
#include "data/hoefling_responses.h"
#include "fovea/error.h"

namespace fovea::data {

RetinaDataset load_hoefling_2024(const HoeflingOptions& o) {
  std::set<int64_t> seen;
  for (const int64_t c : o.validation_clip_indices) {
    check(c >= 0 && c < kHoeflingNumClips, "data.val_clip_indices",
          "clip id " + std::to_string(c) + " is not one of the 108 training clips (0..107)");
    check(seen.insert(c).second, "data.val_clip_indices", "clip id " + std::to_string(c) + " is listed twice");
  }
  check(static_cast<int64_t>(seen.size()) < kHoeflingNumClips, "data.val_clip_indices",
        "leaves no clip to train on");
  const std::vector<HoeflingSession> sessions = read_hoefling_responses(o);
  const HoeflingMovies movies = read_hoefling_movies(o.movies_path);

  // Sessions with the same sequence and eye share one movie tensor.
  std::map<std::pair<int64_t, bool>, at::Tensor> train_movies;
  const at::Tensor test_right = movies.test, test_left = movies.test.flip(3).contiguous();
  RetinaDataset d;
  for (const HoeflingSession& s : sessions) {
    const int64_t sequences = movies.random_sequences.size(1);
    check(s.scan_sequence_idx >= 0 && s.scan_sequence_idx < sequences, o.responses_path,
          "/" + s.key + " attribute scan_sequence_idx is " + std::to_string(s.scan_sequence_idx) + ", " +
              o.movies_path + " has " + std::to_string(sequences) + " sequences in 'random_sequences'");
    at::Tensor& train = train_movies[{s.scan_sequence_idx, s.left_eye}];
    if (!train.defined()) {
      train = presentation_movie(movies, s.scan_sequence_idx);
      if (s.left_eye) train = train.flip(3);  // movies["left"]: the same movies mirrored along W
      train = train.contiguous();
    }
    MovieSplit m;
    m.train = train;
    m.test["test"] = s.left_eye ? test_left : test_right;
    d.movies[s.key] = m;

    SessionResponses r;
    r.train = s.train;
    r.test["test"] = s.test;
    r.test_by_trial["test"] = s.test_by_trial;
    r.info["group_assignment"] = s.group_assignment;
    if (s.roi_ids.defined()) r.info["roi_ids"] = s.roi_ids;
    r.info["scan_sequence_idx"] = torch::tensor({s.scan_sequence_idx}, torch::kInt64);
    r.info["eye_is_left"] = torch::tensor({static_cast<int64_t>(s.left_eye)}, torch::kInt64);
    d.responses[s.key] = r;

    // The presentation slot of each validation clip: pos[c] with order[pos[c]] = c.
    const at::Tensor order = movies.random_sequences.select(1, s.scan_sequence_idx);
    std::vector<int64_t> pos(kHoeflingNumClips);
    for (int64_t slot = 0; slot < kHoeflingNumClips; ++slot) pos[order[slot].item<int64_t>()] = slot;
    std::vector<int64_t>& val = d.val_clip_indices[s.key];
    for (const int64_t c : o.validation_clip_indices) val.push_back(pos[c]);
  }
  return d;
}

}  // namespace fovea::data
