// Reading the Höfling 2024 movie pickle (openretina's movies_from_pickle) and
// reordering its clips into a presentation sequence.
#include "data/hoefling_movies.h"

#include <torch/torch.h>

#include "data/tensor_checks.h"
#include "fovea/data/hoefling_dataset.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/pickle.h"

namespace fovea::data {
namespace {

at::Tensor array_entry(const io::PyRef& dict, const std::string& key, const std::string& path,
                       const std::string& expected) {
  const io::PyRef v = dict->get(key);
  if (!v) fail(path, "key '" + key + "' is missing (expected " + expected + ")");
  if (v->kind != io::PyValue::Kind::Tensor) fail(path, "'" + key + "' is a " + v->repr() + ", expected a numpy array " + expected);
  return v->tensor;
}

// A movie (C, frames, H, W) with real numbers.
at::Tensor movie_entry(const io::PyRef& dict, const std::string& key, int64_t frames, const std::string& path) {
  const std::string expected = "(channels, " + std::to_string(frames) + ", height, width)";
  at::Tensor m = array_entry(dict, key, path, expected);
  check_dims(m, 4, path, "'" + key + "'", expected);
  check(m.scalar_type() != at::kBool && !at::isComplexType(m.scalar_type()), path, "'" + key + "' is not numeric");
  check(m.size(1) == frames, path,
        "'" + key + "' has " + std::to_string(m.size(1)) + " frames on axis 1, expected " + std::to_string(frames) +
            " (" + expected + ")");
  m = m.to(torch::kFloat32).contiguous();
  check_finite(m, path, "'" + key + "'");
  return m;
}

}  // namespace

HoeflingMovies read_hoefling_movies(const std::string& path) {
  const io::PyRef root = io::parse_pickle(io::read_file(path), path);
  if (!root || !root->is_dict()) fail(path, "expected a pickled dict with 'train', 'test' and 'random_sequences'");
  HoeflingMovies m;
  m.train = movie_entry(root, "train", kHoeflingNumClips * kHoeflingClipLength, path);
  m.test = movie_entry(root, "test", 5 * kHoeflingClipLength, path);
  check(m.test.size(0) == m.train.size(0) && m.test.size(2) == m.train.size(2) && m.test.size(3) == m.train.size(3),
        path, "'test' has shape " + shape_string(m.test) + ", 'train' has " + shape_string(m.train) +
                  ": channels, height and width must agree");

  at::Tensor seq = array_entry(root, "random_sequences", path, "(108, sequences) integers");
  check_dims(seq, 2, path, "'random_sequences'", "(108 clips, sequences)");
  check(!at::isFloatingType(seq.scalar_type()) && seq.scalar_type() != at::kBool, path,
        "'random_sequences' must hold integer clip ids (uint8 in the published file)");
  check(seq.size(0) == kHoeflingNumClips && seq.size(1) >= 1, path,
        "'random_sequences' has shape " + shape_string(seq) + ", expected (108, sequences)");
  // openretina casts to int before indexing: uint8 ids must not wrap.
  seq = seq.to(torch::kInt64).contiguous();
  const at::Tensor canonical = torch::arange(kHoeflingNumClips, torch::kInt64);
  for (int64_t s = 0; s < seq.size(1); ++s)
    check(torch::equal(std::get<0>(seq.select(1, s).sort()), canonical), path,
          "column " + std::to_string(s) + " of 'random_sequences' is not an ordering of the clip ids 0..107");
  m.random_sequences = seq;
  return m;
}

at::Tensor presentation_movie(const HoeflingMovies& movies, int64_t sequence) {
  const at::Tensor order = movies.random_sequences.select(1, sequence);
  // Frame index of every presented frame: clip c occupies [150c, 150c + 150).
  const at::Tensor frames =
      (order.unsqueeze(1) * kHoeflingClipLength + torch::arange(kHoeflingClipLength, torch::kInt64).unsqueeze(0))
          .reshape({-1});
  return movies.train.index_select(1, frames);
}

}  // namespace fovea::data
