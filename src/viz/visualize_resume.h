#pragma once
// What a `fovea visualize` run has finished, so that a killed run continued
// with --resume keeps it: S/visualize_record.json holds what was asked (the
// models' fingerprints and every option that changes an output file), the
// weight figures once all are drawn, and each finished batch of MEIs with its
// objectives (the page shows them). A unit counts as finished when the record
// lists it and all its files exist; its files are then left untouched. The
// record is replaced atomically after every unit.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fovea/nn/model.h"
#include "fovea/viz/model_weights.h"

namespace fovea::viz {

inline constexpr const char* kVisualizeRecordFile = "visualize_record.json";

// A fingerprint of a model: its spec and every parameter's and buffer's name,
// dtype, shape and bytes (FNV-1a, 64 bits, in hex).
std::string model_fingerprint(const nn::Model& model);

class VisualizeRecord {
 public:
  // With `resume`, the folder's record (if any) must have been made for the
  // same `asked`, else an error names the record and the first field that
  // differs; without it (or without a record) the run starts a new one.
  VisualizeRecord(const std::filesystem::path& save_folder, nlohmann::json asked, bool resume);

  // The objectives of the finished batch of `count` MEIs from `first` in
  // `folder` (relative), when the record has it and every file in `files`
  // (relative to the save folder) exists.
  std::optional<std::vector<double>> finished_batch(const std::string& folder, int64_t first, int64_t count,
                                                    const std::vector<std::string>& files) const;
  void batch_done(const std::string& folder, int64_t first, const std::vector<double>& objectives);

  // The weight figures, when all were drawn and every file exists.
  std::optional<WeightFigures> finished_weights() const;
  void weights_done(const WeightFigures& weights);

 private:
  void save() const;
  bool all_exist(const std::vector<std::string>& files) const;
  std::filesystem::path folder_, path_;
  nlohmann::json record_;
};

}  // namespace fovea::viz
