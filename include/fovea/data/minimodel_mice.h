#pragma once
// minimodel's table of mice (data.py: db, mouse_names, exp_date, NNs,
// NNs_valid, img_file_name) and the names of its published figshare files,
// so that a mouse name plus a folder finds a recording:
//   images     nat60k_text16.mat (FX9, FX10, FX8, FX20) or
//              nat60k_text16_old.mat (L1_A5, L1_A1), key `img`, 66 x 264 x 68000
//   responses  {mname}_nat60k_{datexp}.npz        e.g. FX10_nat60k_2023_05_16.npz
//   textures   text16_{mname}_{datexp}.npz        (FX9, FX10, FX8, FX20)
// and the per-mouse choices minimodel hard-codes by mouse id: FX20's crop
// x in [46, 176) (load_images), L1_A1's dropped flipped test images
// (load_neurons).
#include <cstdint>
#include <string>
#include <vector>

namespace fovea::data {

// Image index ranges of nat60k_text16.mat (minimodel.md §4).
inline constexpr int64_t kFlippedImagesStart = 30000;  // 30000..59999: flipped copies of 0..29999
inline constexpr int64_t kFlippedTestImagesEnd = 30500;  // L1_A1 drops istim in [30000, 30500] (inclusive)
inline constexpr int64_t kTextureImagesStart = 60000;  // 60000..67999: 16 texture classes x 500

struct MinimodelMouse {
  int id;                  // index in minimodel's db (0..5)
  std::string name;        // db[id]['mname'], e.g. "FX10"
  std::string datexp;      // db[id]['datexp'], e.g. "2023_05_16"
  std::string exp_date;    // exp_date[id] (mmddyy), used in model names, e.g. "051623"
  std::string blk;         // db[id]['blk']
  int64_t neurons;         // NNs[id]
  int64_t neurons_fev015;  // NNs_valid[id]: neurons with FEV > 0.15
  std::string image_file;  // img_file_name[id]
  int crop_x0, crop_x1;    // load_images' xrange
  bool textures;           // a text16_{mname}_{datexp}.npz was published

  std::string responses_file() const { return name + "_nat60k_" + datexp + ".npz"; }
  std::string texture_file() const { return "text16_" + name + "_" + datexp + ".npz"; }
  // load_neurons(mouse_id=1): training trials of flipped test images are dropped.
  bool drops_flipped_test_images() const { return id == 1; }
};

// The six mice, in minimodel's order (ids 0..5).
const std::vector<MinimodelMouse>& minimodel_mice();

// A mouse by name: "FX10", or the lower-case names minimodel writes into
// model file names ("l1a1", "l1a5", "fx10"). fovea::Error naming `field`
// and listing the known mice otherwise.
const MinimodelMouse& minimodel_mouse(const std::string& name, const std::string& field = "data.mouse");

// "L1_A5, L1_A1, FX9, FX10, FX8, FX20"
std::string known_minimodel_mice();

}  // namespace fovea::data
