// minimodel's data.py tables, as published (commit 0f0316d).
#include "fovea/data/minimodel_mice.h"

#include <algorithm>
#include <cctype>

#include "fovea/error.h"

namespace fovea::data {

const std::vector<MinimodelMouse>& minimodel_mice() {
  // id, mname, datexp, exp_date, blk, NNs, NNs_valid, img_file_name, xrange, text16 file
  static const std::vector<MinimodelMouse> mice = {
      {0, "L1_A5", "2023_02_27", "022723", "1", 6636, 4242, "nat60k_text16_old.mat", 0, 130, false},
      {1, "L1_A1", "2023_03_06", "030623", "1", 6055, 2840, "nat60k_text16_old.mat", 0, 130, false},
      {2, "FX9", "2023_05_15", "051523", "2", 3575, 926, "nat60k_text16.mat", 0, 130, true},
      {3, "FX10", "2023_05_16", "051623", "1", 4792, 3040, "nat60k_text16.mat", 0, 130, true},
      {4, "FX8", "2023_05_16", "051623", "2", 5804, 2217, "nat60k_text16.mat", 0, 130, true},
      {5, "FX20", "2023_09_29", "092923", "1", 2746, 1239, "nat60k_text16.mat", 46, 176, true},
  };
  return mice;
}

namespace {
// "L1_A1" -> "l1a1": the form create_model_name writes; also used to compare names.
std::string folded(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::string known_minimodel_mice() {
  std::string out;
  for (const auto& m : minimodel_mice()) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

const MinimodelMouse& minimodel_mouse(const std::string& name, const std::string& field) {
  const auto& mice = minimodel_mice();
  auto it = std::find_if(mice.begin(), mice.end(), [&](const MinimodelMouse& m) { return folded(m.name) == folded(name); });
  if (it == mice.end()) fail(field, "unknown mouse '" + name + "'; minimodel's mice are " + known_minimodel_mice());
  return *it;
}

}  // namespace fovea::data
