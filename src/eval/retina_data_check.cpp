// Checks that a retina dataset fits a model before the model runs on it.
#include "fovea/eval/retina_data_check.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "fovea/error.h"
#include "fovea/io/hdf5.h"

namespace fovea::eval {

namespace {

namespace fs = std::filesystem;

// The file a session was read from in the generic HDF5 layout.
std::string session_file(const std::string& dir, const std::string& session) {
  for (const char* ext : {".h5", ".hdf5"}) {
    const fs::path p = fs::path(dir) / (session + ext);
    if (fs::exists(p)) return p.string();
  }
  return dir + " (session '" + session + "')";
}

// Where a session's stimulus came from: the session's own stimulus_<name>
// wins over the shared stimuli/<name>.npy, as in the reader.
std::string stimulus_source(const std::string& dir, const std::string& file, const std::string& name) {
  if (fs::exists(file) && io::h5_has(file, "stimulus_" + name)) return file + ": stimulus_" + name;
  const fs::path shared = fs::path(dir) / "stimuli" / (name + ".npy");
  if (fs::exists(shared)) return shared.string();
  return file + ": stimulus '" + name + "'";
}

std::string shape_text(at::IntArrayRef s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

}  // namespace

void check_dataset_fits_model(const nn::Model& model, const data::RetinaDataset& dataset, const std::string& dir) {
  const auto model_sessions = model.readout_keys();
  std::string known;
  for (const auto& s : model_sessions) known += (known.empty() ? "" : ", ") + s;
  const auto input = model.input_shape();  // (C, T, H, W)
  for (const auto& [session, n] : dataset.n_neurons_dict()) {
    const std::string file = session_file(dir, session);
    if (std::find(model_sessions.begin(), model_sessions.end(), session) == model_sessions.end())
      fail(file, "session '" + session + "' is not one of the model's sessions (" + known + ")");
    const int64_t model_n = model.readout()->n_neurons(session);
    if (n != model_n)
      fail(file, "session '" + session + "' has " + std::to_string(n) + " neurons in its responses, the model's readout " +
                     std::to_string(model_n));
    if (input.size() != 4) continue;
    const auto movies = dataset.movies.find(session);
    if (movies == dataset.movies.end()) continue;
    for (const auto& [name, movie] : movies->second.test)
      if (movie.dim() != 4 || movie.size(0) != input[0] || movie.size(2) != input[2] || movie.size(3) != input[3])
        fail(stimulus_source(dir, file, name), "the stimulus has shape " + shape_text(movie.sizes()) + ", the model expects (" +
                       std::to_string(input[0]) + ", frames, " + std::to_string(input[2]) + ", " +
                       std::to_string(input[3]) + ")");
  }
}

}  // namespace fovea::eval
