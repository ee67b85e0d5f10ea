// Building and training retina core-readout models from a run configuration.
#include "fovea/train/retina_experiment.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "fovea/data/artificial_stimuli.h"
#include "fovea/data/hoefling_dataset.h"
#include "fovea/data/goldin_dataset.h"
#include "fovea/data/karamanlis_dataset.h"
#include "fovea/data/maheswaranathan_dataset.h"
#include "fovea/data/published_datasets.h"
#include "fovea/nn/pretrained_models.h"
#include "config_fields.h"
#include "optimizer_config.h"
#include "fovea/error.h"
#include "fovea/nn/gaussian_mask_readout.h"
#include "fovea/train/config_check.h"
#include "fovea/train/retina_task.h"
#include "fovea/train/transfer.h"

namespace fovea::train {

bool is_retina_config(const Json& config) { return get<std::string>(config, "family", "") == "retina"; }

namespace {

// data.* of the hoefling_2024 layout: its files, quality checks and fixed clips.
void hoefling_data_options(const Json& d, RetinaDataOptions& o) {
  o.movies_path = get<std::string>(d, "movies_path", "");
  o.responses_path = get<std::string>(d, "responses_path", "");
  o.trace_type = get<std::string>(d, "trace_type", o.trace_type);
  o.chirp_path = get<std::string>(d, "chirp_path", "");
  o.moving_bar_path = get<std::string>(d, "moving_bar_path", "");
  o.scale_traces = get<double>(d, "scale_traces", o.scale_traces);
  if (d.contains("quality_checks") && d.at("quality_checks").is_object()) {
    const Json& q = d.at("quality_checks");
    auto& c = o.quality_checks;
    c.filter_cell_types = get<bool>(q, "filter_cell_types", c.filter_cell_types);
    c.cell_types_list = get<std::vector<int64_t>>(q, "cell_types_list", c.cell_types_list);
    c.chirp_qi = get<double>(q, "chirp_qi", c.chirp_qi);
    c.d_qi = get<double>(q, "d_qi", c.d_qi);
    c.qi_logic = get<std::string>(q, "qi_logic", c.qi_logic);
    c.filter_counts = get<bool>(q, "filter_counts", c.filter_counts);
    c.count_threshold = get<int64_t>(q, "count_threshold", c.count_threshold);
    c.classifier_confidence = get<double>(q, "classifier_confidence", c.classifier_confidence);
  }
  // openretina's fixed layout: 150-frame clips, validation clips named by canonical id.
  if (d.contains("clip_length") && o.split.clip_length != data::kHoeflingClipLength)
    fail("config field 'data.clip_length'", "must be 150 for layout hoefling_2024 (the published clips), got " +
                                                std::to_string(o.split.clip_length));
  o.split.clip_length = data::kHoeflingClipLength;
  o.test_names = {"test"};
}

// The one file in `dir` whose name ends in one of `suffixes`, or `given` (relative to `dir`).
std::string file_in_dir(const std::string& dir, const std::string& given, const std::vector<std::string>& suffixes,
                        const std::string& field) {
  namespace fs = std::filesystem;
  if (!given.empty()) return fs::path(given).is_absolute() ? given : (fs::path(dir) / given).string();
  if (!fs::is_directory(dir)) fail(dir, "dataset directory does not exist");
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    for (const auto& suffix : suffixes)
      if (e.is_regular_file() && name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
        found.push_back(e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::string list;
  for (const auto& s : suffixes) list += (list.empty() ? "" : " or ") + s;
  if (found.size() != 1)
    fail(dir, std::to_string(found.size()) + " files end in " + list + (found.empty() ? "" : " (" + found[0] + ", …)") +
                  "; name the one to use with data." + field);
  return found.front();
}

// data.* defaults of the goldin_2022 layout (data_io/ and dataloader/goldin_2022.yaml).
void goldin_data_options(const Json& d, RetinaDataOptions& o) {
  if (!d.contains("response_type")) o.response_type = "binned";
  if (!d.contains("fr_normalization")) o.fr_normalization = 0.3;  // counts over 300 ms -> Hz
  if (!d.contains("clip_length")) o.split.clip_length = 1;        // one flashed image per clip
  if (!d.contains("num_val_clips")) o.split.num_val_clips = 640;
  if (o.species != "mouse" && o.species != "axolotl")
    fail("config field 'data.species'", "must be mouse or axolotl for layout goldin_2022, got '" + o.species + "'");
}

// data.* of the sridhar_2025 layout (data_io/ and dataloader/sridhar_{nm,wn}_2025.yaml).
void sridhar_data_options(const Json& d, RetinaDataOptions& o) {
  auto& s = o.sridhar;
  s.stimulus = get<std::string>(d, "stimulus", s.stimulus);
  s.sessions = get<std::vector<std::string>>(d, "sessions", s.sessions);
  s.cell_index = get<int64_t>(d, "cell_index", s.cell_index);
  s.excluded_cells = get<std::map<std::string, std::vector<int64_t>>>(d, "excluded_cells", s.excluded_cells);
  s.stimulus_seed = get<int64_t>(d, "stimulus_seed", s.stimulus_seed);
  s.split_seed = get<uint32_t>(d, "split_seed", s.split_seed);
  s.train_frac = get<double>(d, "train_frac", s.train_frac);
  for (const auto& [id, file] : get<std::map<std::string, std::string>>(d, "fixation_files", {})) s.fixation_files[id] = file;
  s.flip_imgs = get<bool>(d, "flip_imgs", s.flip_imgs);
  s.extra_frame = get<int64_t>(d, "extra_frame", s.extra_frame);
  s.final_training = get<bool>(d, "final_training", s.final_training);
  s.get_locations = get<bool>(d, "get_locations", s.get_locations);
  s.sta_dir = get<std::string>(d, "sta_dir", s.sta_dir);
  if (d.contains("hard_coded") && !d.at("hard_coded").is_null()) {
    // openretina's hard_coded (train, validation), as {train: [...], validation: [...]}
    const Json& h = d.at("hard_coded");
    if (!h.is_object() || !h.contains("train") || !h.contains("validation"))
      fail("config field 'data.hard_coded'", "must be {train: [trial, ...], validation: [trial, ...]}, got " + h.dump());
    s.hard_coded = data::SridharOptions::HardCoded{get<std::vector<int64_t>>(h, "train", {}),
                                                   get<std::vector<int64_t>>(h, "validation", {})};
  }
  // The validation clips are whole trials (load_retina_data sets the clip length).
  if (d.contains("clip_length") || d.contains("num_val_clips") || d.contains("val_clip_indices"))
    fail("config field 'data.clip_length'", "layout sridhar_2025 validates on whole trials (data.train_frac, "
                                            "data.split_seed); clip_length, num_val_clips and val_clip_indices do not apply");
}

}  // namespace

namespace {

// data.dir names a published dataset (downloaded into the cache) rather than a folder.
bool names_published_dataset(const std::string& dir) {
  return data::is_published_dataset(dir) && !std::filesystem::is_directory(dir);
}

// Layouts whose reader z-scores each session itself (as openretina does) and
// whose one test stimulus is "test": no normalisation is applied on top.
void normalised_by_reader(RetinaDataOptions& o) {
  o.test_names = {"test"};
  o.norm_mean = 0.0;
  o.norm_std = 1.0;
}

// openretina sets SingleCellSeparatedLNP's rf_location (null in its config)
// from the data's STA locations: a single-cell LNP without rf_location reads
// at its one neuron's STA location (session info sta_locations, sridhar_2025).
void init_rf_location_from_stas(Json& readout, const data::RetinaDataset& dataset) {
  if (readout.value("type", "") != "single_cell_separated_lnp" ||
      (readout.contains("rf_location") && !readout.at("rf_location").is_null()))
    return;
  for (const auto& [key, r] : dataset.responses) {
    auto it = r.info.find("sta_locations");
    if (it == r.info.end() || dataset.responses.size() != 1) continue;
    check(it->second.size(0) == 1, "model.readout.rf_location",
          "a single-cell LNP reads one neuron; session " + key + " has " + std::to_string(it->second.size(0)) +
              " (set data.cell_index)");
    readout["rf_location"] = {it->second[0][0].item<int64_t>(), it->second[0][1].item<int64_t>()};
  }
}

}  // namespace

RetinaDataOptions retina_data_options(const Json& d) {
  RetinaDataOptions o;
  o.layout = get<std::string>(d, "layout", o.layout);
  o.dir = get<std::string>(d, "dir", "");
  // data.dir may name a published dataset, which implies its layout.
  if (!d.contains("layout") && names_published_dataset(o.dir))
    o.layout = data::published_dataset_layout(o.dir);
  if (o.layout != "hdf5" && o.layout != "maheswaranathan_2023" && o.layout != "hoefling_2024" &&
      o.layout != "karamanlis_2024" && o.layout != "goldin_2022" && o.layout != "sridhar_2025")
    fail("config field 'data.layout'", "unknown layout '" + o.layout +
                                           "' (known: hdf5, maheswaranathan_2023, hoefling_2024, karamanlis_2024, "
                                           "goldin_2022, sridhar_2025)");
  o.response_type = get<std::string>(d, "response_type", o.response_type);
  o.stim_type = get<std::string>(d, "stim_type", o.stim_type);
  if (o.stim_type.empty()) o.stim_type = o.layout == "karamanlis_2024" ? "fixationmovie" : "naturalscene";
  o.species = get<std::string>(d, "species", o.species);
  o.downsampled_size = get<std::vector<int64_t>>(d, "downsampled_size", o.downsampled_size);
  o.fr_normalization = get<double>(d, "fr_normalization", o.fr_normalization);
  o.test_names = get<std::vector<std::string>>(d, "test_names", o.test_names);
  o.stimulus_size = get<std::vector<int64_t>>(d, "stimulus_size", {});
  if (d.contains("norm_mean") && !d.at("norm_mean").is_null()) o.norm_mean = get<double>(d, "norm_mean", 0.0);
  if (d.contains("norm_std") && !d.at("norm_std").is_null()) o.norm_std = get<double>(d, "norm_std", 1.0);
  if (o.norm_std && *o.norm_std <= 0) fail("config field 'data.norm_std'", "must be positive");
  o.split.clip_length = get<int64_t>(d, "clip_length", o.split.clip_length);
  o.split.num_val_clips = get<int64_t>(d, "num_val_clips", o.split.num_val_clips);
  o.split.val_clip_indices = get<std::vector<int64_t>>(d, "val_clip_indices", {});
  o.split.seed = get<uint32_t>(d, "split_seed", o.split.seed);
  if (o.layout == "hoefling_2024") hoefling_data_options(d, o);
  if (o.layout == "goldin_2022") goldin_data_options(d, o);
  if (o.layout == "sridhar_2025") sridhar_data_options(d, o);
  if (o.layout == "karamanlis_2024" && o.downsampled_size.size() != 2)
    fail("config field 'data.downsampled_size'", "must be [height, width]");
  if (o.layout == "karamanlis_2024" && o.species != "mouse" && o.species != "marmoset")
    fail("config field 'data.species'", "must be mouse or marmoset for layout karamanlis_2024, got '" + o.species + "'");
  return o;
}

data::RetinaDataset load_retina_data(RetinaDataOptions& o) {
  if (o.dir.empty()) fail("config section 'data'", "needs 'dir', the dataset directory");
  if (o.layout == "hoefling_2024") {
    data::HoeflingOptions h;
    if (names_published_dataset(o.dir)) {
      // A dataset name: the published files, downloaded once into the cache.
      const data::PublishedFiles files = data::fetch_published_dataset(o.dir, nn::model_base_url());
      check(files.layout == o.layout, "config field 'data.layout'",
            "'" + o.layout + "' cannot read the published dataset '" + o.dir + "' (its layout is " + files.layout + ")");
      h.movies_path = o.movies_path.empty() ? files.movies_path : o.movies_path;
      h.responses_path = o.responses_path.empty() ? files.responses_path : o.responses_path;
    } else {
      h.movies_path = file_in_dir(o.dir, o.movies_path, {".pkl", ".pickle"}, "movies_path");
      h.responses_path = file_in_dir(o.dir, o.responses_path, {".h5", ".hdf5"}, "responses_path");
    }
    h.quality = o.quality_checks;
    h.trace_type = o.trace_type;
    h.scale_traces = o.scale_traces;
    if (!o.split.val_clip_indices.empty()) h.validation_clip_indices = o.split.val_clip_indices;
    o.norm_mean = 0.0;  // the published movies are already normalised; openretina applies nothing
    o.norm_std = 1.0;
    data::RetinaDataset d = data::load_hoefling_2024(h);
    if (!o.chirp_path.empty() || !o.moving_bar_path.empty()) {
      // The chirp and moving-bar responses of the same ROIs, as extra test stimuli.
      auto in_dir = [&](const std::string& p) {
        namespace fs = std::filesystem;
        return p.empty() || fs::path(p).is_absolute() || !fs::is_directory(o.dir) ? p : (fs::path(o.dir) / p).string();
      };
      data::HoeflingArtificialOptions a;
      a.responses_path = h.responses_path;
      a.chirp_path = in_dir(o.chirp_path);
      a.moving_bar_path = in_dir(o.moving_bar_path);
      a.trace_type = o.trace_type;
      a.scale_traces = o.scale_traces;
      // test_names stays {"test"}: the natural test movie is what training
      // reports and eval scores by default; `fovea eval --test-name chirp`
      // (or moving_bar) scores these.
      data::add_hoefling_artificial_stimuli(d, a);
    }
    return d;
  }
  if (o.layout == "goldin_2022") {
    data::GoldinOptions g;
    // data.dir: goldin_2022 is the published folder, downloaded once into the cache.
    g.dir = names_published_dataset(o.dir)
                ? data::fetch_goldin_2022(o.species, nn::model_base_url())
                : o.dir;
    g.specie = o.species;
    g.response_type = o.response_type;
    g.fr_normalization = o.fr_normalization;
    normalised_by_reader(o);
    return data::load_goldin_2022(g);
  }
  if (o.layout == "sridhar_2025") {
    // data.dir: sridhar_2025 is the published folder of data.stimulus, downloaded once into the cache.
    o.sridhar.dir = names_published_dataset(o.dir)
                        ? data::fetch_sridhar_2025(o.sridhar.stimulus, nn::model_base_url(), {}, o.sridhar.get_locations)
                        : o.dir;
    data::RetinaDataset d = data::load_sridhar_2025(o.sridhar);
    // Clips of one trial each, so that the validation clips are the validation trials.
    std::string first;
    for (const auto& [k, r] : d.responses) {
      const int64_t frames = r.info.at("frames_per_trial").item<int64_t>();
      if (first.empty()) {
        first = k;
        o.split.clip_length = frames;
      }
      check(frames == o.split.clip_length, o.dir,
            "retina " + k + " has " + std::to_string(frames) + " frames per trial, retina " + first + " has " +
                std::to_string(o.split.clip_length) + "; train them separately (data.sessions)");
    }
    o.test_names = {"test"};
    o.norm_mean = 0.0;  // openretina does not normalise these stimuli (NM frames are image/255)
    o.norm_std = 1.0;
    return d;
  }
  if (o.layout == "karamanlis_2024") {
    data::KaramanlisOptions k;
    // data.dir: karamanlis_2024 is the published sessions folder, downloaded once into the cache.
    k.dir = names_published_dataset(o.dir)
                ? data::fetch_karamanlis_sessions(o.species, o.stim_type, nn::model_base_url())
                : o.dir;
    k.species = o.species;
    k.stim_type = o.stim_type;
    k.fr_normalization = o.fr_normalization;
    k.height = o.downsampled_size.at(0);
    k.width = o.downsampled_size.at(1);
    normalised_by_reader(o);
    return data::load_karamanlis_2024(k);
  }
  if (o.layout == "maheswaranathan_2023") {
    data::MaheswaranathanOptions m;
    m.dir = o.dir;
    m.response_type = o.response_type;
    m.stim_type = o.stim_type;
    m.fr_normalization = o.fr_normalization;
    normalised_by_reader(o);
    return data::load_maheswaranathan_2023(m);
  }
  data::RetinaLoadOptions load;
  load.dir = o.dir;
  load.test_names = o.test_names;
  load.stimulus_size = o.stimulus_size;
  data::RetinaDataset d = data::load_hdf5_layout(load);
  if (!o.norm_mean || !o.norm_std) {
    // One mean and standard deviation over every session's training movie
    // (sessions that share a movie count it once each, which leaves the
    // statistics of a shared movie unchanged).
    std::vector<at::Tensor> flat;
    for (const auto& [k, m] : d.movies)
      if (m.train.defined()) flat.push_back(m.train.reshape({-1}));
    check(!flat.empty(), o.dir, "no training stimuli to compute the normalisation from");
    at::Tensor all = torch::cat(flat).to(torch::kFloat64);
    if (!o.norm_mean) o.norm_mean = all.mean().item<double>();
    if (!o.norm_std) o.norm_std = all.std(/*unbiased=*/false).item<double>();
    if (*o.norm_std <= 0) fail(o.dir, "the training stimuli are constant: cannot normalise them");
  }
  for (auto& [k, m] : d.movies) {
    if (m.train.defined()) m.train = (m.train - *o.norm_mean) / *o.norm_std;
    for (auto& [name, t] : m.test) t = (t - *o.norm_mean) / *o.norm_std;
  }
  return d;
}

std::map<std::string, data::SessionClips> split_sessions(const data::RetinaDataset& dataset,
                                                         const data::ClipSplitOptions& options, bool test_only) {
  std::map<std::string, data::SessionClips> out;
  for (const auto& [key, r] : dataset.responses) {
    const auto& m = dataset.movies.at(key);
    data::SessionClips s;
    if (!test_only) {
      check(r.train.defined() && m.train.defined(), key, "the session has no training stimulus");
      data::ClipSplitOptions session_options = options;
      // Layouts with a published validation set give each session's clips.
      if (auto v = dataset.val_clip_indices.find(key); v != dataset.val_clip_indices.end())
        session_options.val_clip_indices = v->second;
      s = data::split_session(m.train, r.train, session_options, key);
    }
    for (const auto& [name, movie] : m.test) {
      s.test_movies[name] = movie;
      s.test_responses[name] = r.test.at(name).t().contiguous();
    }
    for (const auto& [name, trials] : r.test_by_trial) s.test_by_trial[name] = trials.transpose(1, 2).contiguous();
    out[key] = std::move(s);
  }
  return out;
}

RetinaTrainingRun train_retina(const Json& config, const data::RetinaDataset& dataset,
                               const RetinaDataOptions& data_options, const RunFiles& files,
                               bool show_progress, const EpochCallback& on_epoch) {
  validate_config(config, "run configuration");
  const Json& model_cfg = section(config, "model");
  const Json& t = section(config, "training");
  const uint64_t seed = get<uint64_t>(config, "seed", 42);
  const std::string device_name = get<std::string>(config, "device", "cpu");
  torch::manual_seed(seed);

  auto sessions = split_sessions(dataset, data_options.split);
  const auto& first = sessions.begin()->second;
  const int64_t channels = first.train_movie.size(0);

  Json spec;
  spec["family"] = "retina";
  spec["core"] = model_cfg.contains("core") ? model_cfg["core"] : Json::object();
  if (!spec["core"].contains("type")) spec["core"]["type"] = "simple_core_wrapper";
  // openretina's UnifiedCoreReadout: core channels = (input channels, *hidden_channels).
  if (model_cfg.contains("hidden_channels")) {
    Json ch = Json::array({channels});
    for (const auto& c : model_cfg["hidden_channels"]) ch.push_back(c);
    spec["core"]["channels"] = ch;
  }
  spec["readout"] = model_cfg.contains("readout") ? model_cfg["readout"] : Json{{"type", "gaussian_mask"}};
  spec["readout"]["n_neurons_dict"] = dataset.n_neurons_dict();
  init_rf_location_from_stas(spec["readout"], dataset);
  spec["input_shape"] = {channels, data_options.split.clip_length, first.train_movie.size(2), first.train_movie.size(3)};
  Json data_json = {{"layout", data_options.layout},
                    {"response_type", data_options.response_type},
                    {"stim_type", data_options.stim_type},
                    {"species", data_options.species},
                    {"downsampled_size", data_options.downsampled_size},
                    {"fr_normalization", data_options.fr_normalization},
                    {"test_names", data_options.test_names},
                    {"norm_mean", data_options.norm_mean.value_or(0.0)},
                    {"norm_std", data_options.norm_std.value_or(1.0)},
                    {"clip_length", data_options.split.clip_length}};
  if (data_options.layout == "hoefling_2024") {
    // What eval needs to select the same ROIs again.
    const auto& q = data_options.quality_checks;
    data_json["movies_path"] = data_options.movies_path;
    data_json["responses_path"] = data_options.responses_path;
    data_json["trace_type"] = data_options.trace_type;
    if (!data_options.chirp_path.empty()) data_json["chirp_path"] = data_options.chirp_path;
    if (!data_options.moving_bar_path.empty()) data_json["moving_bar_path"] = data_options.moving_bar_path;
    data_json["scale_traces"] = data_options.scale_traces;
    data_json["quality_checks"] = {{"filter_cell_types", q.filter_cell_types}, {"cell_types_list", q.cell_types_list},
                                   {"chirp_qi", q.chirp_qi}, {"d_qi", q.d_qi}, {"qi_logic", q.qi_logic},
                                   {"filter_counts", q.filter_counts}, {"count_threshold", q.count_threshold},
                                   {"classifier_confidence", q.classifier_confidence}};
    if (!data_options.split.val_clip_indices.empty())
      data_json["val_clip_indices"] = data_options.split.val_clip_indices;
  }
  if (data_options.layout == "sridhar_2025") {
    // What eval needs to read the same cells and trials again.
    const auto& s = data_options.sridhar;
    data_json.erase("clip_length");  // set from the trials on loading
    data_json["stimulus"] = s.stimulus;
    data_json["sessions"] = s.sessions;
    data_json["cell_index"] = s.cell_index;
    data_json["excluded_cells"] = s.excluded_cells;
    data_json["stimulus_seed"] = s.stimulus_seed;
    data_json["split_seed"] = s.split_seed;
    data_json["train_frac"] = s.train_frac;
    data_json["fixation_files"] = s.fixation_files;
    data_json["flip_imgs"] = s.flip_imgs;
    data_json["extra_frame"] = s.extra_frame;
    data_json["final_training"] = s.final_training;
    if (s.hard_coded) data_json["hard_coded"] = {{"train", s.hard_coded->train}, {"validation", s.hard_coded->validation}};
    // Evaluation needs no STA locations (a single-cell LNP keeps its rf_location in the spec).
    data_json["get_locations"] = false;
  }
  spec["data"] = data_json;
  // openretina's data_info keys, so tools that read them find them.
  spec["data_info"] = {{"input_shape", {channels, first.train_movie.size(2), first.train_movie.size(3)}},
                       {"stim_mean", data_options.norm_mean.value_or(0.0)},
                       {"stim_std", data_options.norm_std.value_or(1.0)}};
  spec["provenance"] = {{"trained_by", "fovea 0.1.0"}, {"seed", seed}, {"config", config}};
  Json val;
  for (const auto& [k, s] : sessions) val[k] = s.val_clip_indices;
  spec["provenance"]["val_clip_indices"] = val;

  std::shared_ptr<nn::Model> model;
  const auto transfer = transfer_options(config);
  if (transfer) {
    // openretina's paths.load_model_path: the pretrained model plus a fresh
    // readout per session of this dataset (transfer.h).
    std::map<std::string, at::Tensor> means;
    for (const auto& [k, s] : sessions) means[k] = s.mean_response;
    model = transfer_model(*transfer, model_cfg, spec, means);
    model->spec()["provenance"]["only_train_readout"] = transfer->only_train_readout;
    if (transfer->only_train_readout) freeze_core(*model);
  } else {
    // openretina initialises each session's readout bias at the mean training
    // response: readouts read it from mean_activity_dict (not kept in the saved spec).
    Json build_spec = spec;
    for (const auto& [k, s] : sessions) {
      const at::Tensor m = s.mean_response.to(torch::kFloat64).contiguous();
      build_spec["readout"]["mean_activity_dict"][k] =
          std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
    }
    model = nn::build_model(build_spec);
    model->spec() = spec;
    if (auto gm = std::dynamic_pointer_cast<nn::MultiGaussianMaskReadout>(model->readout()))
      for (const auto& [k, s] : sessions) gm->session(k)->initialize_bias(s.mean_response);
  }
  torch::Device device(device_name);
  model->to(device);

  RetinaRecipe recipe;
  recipe.batch_size = get<int64_t>(t, "batch_size", recipe.batch_size);
  recipe.chunk_size = get<int64_t>(t, "chunk_size", recipe.chunk_size);
  recipe.weight_decay = get<double>(t, "weight_decay", default_weight_decay(get<std::string>(t, "optimizer", "adamw")));
  recipe.loss = read_retina_loss(t);
  recipe.drop_last = get<bool>(t, "drop_last", recipe.drop_last);
  recipe.validation_score = get<std::string>(t, "validation_score", recipe.validation_score);
  recipe.seed = seed;
  RetinaTask task(model, sessions, recipe, device);

  TrainerOptions o;
  o.lr_schedule = get<std::string>(t, "lr_schedule", "plateau");
  o.lr = get<double>(t, "lr", 0.01);
  o.max_epochs = get<int64_t>(t, "max_epochs", 100);
  o.period_epochs = get<std::vector<int64_t>>(t, "period_epochs", o.period_epochs);
  o.plateau_factor = get<double>(t, "plateau_factor", 0.3);
  o.plateau_patience = get<int64_t>(t, "plateau_patience", 5);
  o.plateau_threshold = get<double>(t, "plateau_threshold", 5e-4);
  // openretina: min_lr = lr · factor³ (three reductions at most).
  o.min_lr = get<double>(t, "min_lr", o.lr * std::pow(o.plateau_factor, 3));
  o.patience = get<int64_t>(t, "patience", 10);
  o.min_delta = get<double>(t, "min_delta", 1e-3);
  o.grad_clip_norm = get<double>(t, "grad_clip_norm", 1.0);
  read_optimizer_and_scheduler(t, o);
  o.precision = resolve_precision(get<std::string>(t, "precision", "auto"), "retina", device.type(),
                                  "config field 'training.precision'");
  o.restore_best_each_period = true;
  files.apply_to(o);
  o.show_progress = show_progress;
  o.on_epoch = on_epoch;
  if (transfer && transfer->only_train_readout) o.eval_mode_modules.push_back(model->core());  // BatchNorm statistics too

  int64_t chunks = 0;
  for (const auto& [k, s] : sessions) chunks += s.train_movie.size(1) / recipe.chunk_size;
  spdlog::info("{} sessions, {} training chunks of {} frames, {} validation clips per session; model: {} parameters",
               sessions.size(), chunks, recipe.chunk_size, first.val_clip_indices.size(), model->n_parameters());
  RetinaTrainingRun run;
  run.model = model;
  run.result = fit(*model, task, o);
  run.model->to(torch::kCPU);
  run.model->eval();
  // null when no epoch had a finite validation score
  run.model->spec()["provenance"]["best_epoch"] = run.result.has_best() ? Json(run.result.best_epoch + 1) : Json();
  // best_val_correlation, or best_val_poisson_loss (training.validation_score)
  run.model->spec()["provenance"]["best_" + run.result.score_name] =
      run.result.has_best() ? Json(run.result.best_score) : Json();
  run.model->spec()["provenance"]["stop_reason"] = run.result.stop_reason;
  return run;
}

}  // namespace fovea::train
