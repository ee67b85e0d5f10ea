// The record of a visualize run's finished work (see visualize_resume.h).
#include "visualize_resume.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fmt/format.h>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace fovea::viz {

namespace {

constexpr int kVersion = 1;

struct Fnv1a {
  uint64_t h = 14695981039346656037ULL;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  void add(const std::string& s) {
    add(s.data(), s.size());
    add("\0", 1);  // so that "ab","c" and "a","bc" differ
  }
};

Json layer_json(const WeightFigures::Layer& l) {
  return {{"name", l.name}, {"folder", l.folder}, {"in_channels", l.in_channels}, {"out_channels", l.out_channels},
          {"files", l.files}, {"filters", l.filters}};
}

WeightFigures weights_from_json(const Json& j) {
  WeightFigures w;
  for (const auto& l : j.at("layers")) {
    WeightFigures::Layer layer;
    layer.name = l.at("name").get<std::string>();
    layer.folder = l.at("folder").get<std::string>();
    layer.in_channels = l.at("in_channels").get<int64_t>();
    layer.out_channels = l.at("out_channels").get<int64_t>();
    layer.files = l.at("files").get<std::vector<std::vector<std::string>>>();
    layer.filters = l.at("filters").get<std::string>();
    w.layers.push_back(std::move(layer));
  }
  w.neurons = j.at("neurons").get<std::map<std::string, std::vector<std::string>>>();
  w.summaries = j.at("summaries").get<std::vector<std::string>>();
  w.skipped = j.at("skipped").get<std::vector<std::string>>();
  return w;
}

std::vector<std::string> weight_files(const WeightFigures& w) {
  std::vector<std::string> files = w.summaries;
  for (const auto& l : w.layers) {
    if (!l.filters.empty()) files.push_back(l.filters);
    for (const auto& out : l.files)
      for (const auto& f : out)
        if (!f.empty()) files.push_back(f);
  }
  for (const auto& [session, list] : w.neurons)
    for (const auto& f : list)
      if (!f.empty()) files.push_back(f);
  return files;
}

}  // namespace

std::string model_fingerprint(const nn::Model& model) {
  Fnv1a h;
  h.add(model.spec().dump());
  auto add_tensor = [&](const std::string& name, const at::Tensor& t) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    h.add(name);
    h.add(std::string(c10::toString(c.scalar_type())));
    for (int64_t d : c.sizes()) h.add(&d, sizeof d);
    h.add(c.data_ptr(), c.nbytes());
  };
  for (const auto& p : model.named_parameters(true)) add_tensor(p.key(), p.value());
  for (const auto& b : model.named_buffers(true)) add_tensor(b.key(), b.value());
  return fmt::format("{:016x}", h.h);
}

VisualizeRecord::VisualizeRecord(const fs::path& save_folder, Json asked, bool resume)
    : folder_(save_folder), path_(save_folder / kVisualizeRecordFile) {
  if (resume && fs::exists(path_)) {
    Json old;
    try {
      old = Json::parse(io::read_file(path_.string()));
    } catch (const Json::exception& e) {
      fail(path_.string(), std::string("not a readable visualize record: ") + e.what());
    }
    check(old.is_object() && old.value("version", 0) == kVersion && old.contains("asked") && old["asked"].is_object(),
          path_.string(), "not a visualize record of this fovea (version " + std::to_string(kVersion) + ")");
    // The first field that differs (in either direction), to name it.
    for (const auto& [key, value] : asked.items()) {
      const Json before = old["asked"].value(key, Json());
      if (before != value)
        fail(path_.string(), "this folder was visualized with " + key + " " + before.dump() + ", now " + value.dump() +
                                 "; run without --resume to start over, or choose another --save-folder");
    }
    for (const auto& [key, value] : old["asked"].items())
      if (!asked.contains(key))
        fail(path_.string(), "this folder was visualized with " + key + " " + value.dump() +
                                 ", which this run does not set; run without --resume to start over");
    record_ = std::move(old);
    if (!record_.contains("mei_batches") || !record_["mei_batches"].is_object()) record_["mei_batches"] = Json::object();
    return;
  }
  record_ = {{"version", kVersion}, {"asked", std::move(asked)}, {"mei_batches", Json::object()}};
  save();
}

bool VisualizeRecord::all_exist(const std::vector<std::string>& files) const {
  for (const auto& f : files)
    if (!fs::exists(folder_ / f)) return false;
  return true;
}

std::optional<std::vector<double>> VisualizeRecord::finished_batch(const std::string& folder, int64_t first,
                                                                   int64_t count,
                                                                   const std::vector<std::string>& files) const {
  const Json& batches = record_.at("mei_batches");
  const auto f = batches.find(folder);
  if (f == batches.end() || !f->is_object()) return std::nullopt;
  const auto b = f->find(std::to_string(first));
  if (b == f->end() || !b->is_array() || static_cast<int64_t>(b->size()) != count || !all_exist(files))
    return std::nullopt;
  for (const auto& x : *b)
    if (!x.is_number()) return std::nullopt;
  return b->get<std::vector<double>>();
}

void VisualizeRecord::batch_done(const std::string& folder, int64_t first, const std::vector<double>& objectives) {
  record_["mei_batches"][folder][std::to_string(first)] = objectives;
  save();
}

std::optional<WeightFigures> VisualizeRecord::finished_weights() const {
  if (!record_.contains("weights")) return std::nullopt;
  try {
    WeightFigures w = weights_from_json(record_["weights"]);
    if (all_exist(weight_files(w))) return w;
  } catch (const Json::exception&) {  // a damaged entry: drawn again
  }
  return std::nullopt;
}

void VisualizeRecord::weights_done(const WeightFigures& w) {
  Json layers = Json::array();
  for (const auto& l : w.layers) layers.push_back(layer_json(l));
  record_["weights"] = {{"layers", layers}, {"neurons", w.neurons}, {"summaries", w.summaries}, {"skipped", w.skipped}};
  save();
}

void VisualizeRecord::save() const { io::write_file_atomic(path_.string(), record_.dump(1) + "\n"); }

}  // namespace fovea::viz
