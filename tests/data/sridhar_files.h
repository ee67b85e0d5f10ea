#pragma once
// Small files in the exact Sridhar 2025 layout, for tests: the response
// pickle (a dict of numpy arrays, optionally with `seeds` and
// `trial_separation`, as openretina's load_responses reads it), the NM
// fixation text file and image .npy files, and the WN trial folders.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "data/numpy_pickle_writer.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/npy.h"

namespace fovea::test::sridhar {

// openretina's constants (dataloader/sridhar_nm_2025.yaml), restated for the expectations.
constexpr int64_t kTestLines = 5100, kFullW = 350, kFullH = 300;

struct Responses {
  at::Tensor train;  // (N, frames_per_trial, trials) float64
  at::Tensor test;   // (N, T_test, repeats) or (N, T_test) float64
  std::vector<int64_t> seeds;                            // written when not empty
  std::map<int64_t, std::vector<int64_t>> separation;    // trial_separation
  bool write_train = true;
};

inline void le32(std::string& p, int32_t v) {
  for (int i = 0; i < 4; ++i) p += static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
}
inline void int_list(std::string& p, const std::vector<int64_t>& v) {
  p += "](";  // EMPTY_LIST, MARK
  for (const int64_t x : v) {
    p += "J";
    le32(p, static_cast<int32_t>(x));
  }
  p += "e";  // APPENDS
}

inline void write_responses(const std::string& file, const Responses& r) {
  NumpyPickle pk;
  if (r.write_train) pk.add_array("train_responses", r.train.to(torch::kFloat64), "f8");
  pk.add_array("test_responses", r.test.to(torch::kFloat64), "f8");
  std::string p = pk.bytes();
  p.resize(p.size() - 2);  // reopen the dict: drop SETITEMS, STOP
  if (!r.seeds.empty()) {
    p += "X";
    le32(p, 5);
    p += "seeds";
    int_list(p, r.seeds);
    p += "X";
    le32(p, 16);
    p += "trial_separation";
    p += "}(";
    for (const auto& [seed, trials] : r.separation) {
      p += "J";
      le32(p, static_cast<int32_t>(seed));
      int_list(p, trials);
    }
    p += "u";
  }
  p += "u.";
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
  io::write_file_atomic(file, p);
}

// The NM images: `count` arrays (350, 300) uint8 named <k>_img_<k>.npy with distinct values.
inline at::Tensor write_images(const std::string& dir, int64_t count) {
  std::filesystem::create_directories(dir);
  std::vector<at::Tensor> images;
  for (int64_t k = 0; k < count; ++k) {
    at::Tensor x = torch::arange(kFullW, torch::kInt64).unsqueeze(1) * 3 + torch::arange(kFullH, torch::kInt64) * 7 + 41 * k;
    x = x.remainder(256).to(torch::kUInt8).contiguous();
    char name[64];
    std::snprintf(name, sizeof name, "/seq_img_%03lld.npy", static_cast<long long>(k));
    io::write_npy(dir + name, x);
    images.push_back(x);
  }
  return torch::stack(images);
}

struct Fixation {
  int64_t image, cx, cy;
  int flag;
};

// Line i: image i mod n_images, a centre that walks over the allowed range
// (the 200×150 cut stays inside the padded image), flag i mod 2.
inline Fixation fixation_of(int64_t i, int64_t n_images) {
  return {i % n_images, 50 + (i * 7) % 151, 25 + (i * 11) % 151, static_cast<int>(i % 2)};
}

inline void write_fixations(const std::string& file, int64_t lines, int64_t n_images) {
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
  std::ofstream out(file);
  for (int64_t i = 0; i < lines; ++i) {
    const Fixation f = fixation_of(i, n_images);
    // "<image> <x> <y> <center_x> <center_y> <duration> <flag>": the image as a float, as the files hold it.
    out << f.image << ".0 0 0 " << f.cx << " " << f.cy << " 12 " << f.flag << "\n";
  }
}

// _render_frame written out element by element: (80, 90) float32 of image/255 in float16.
inline at::Tensor expected_frame(const at::Tensor& images, const Fixation& f) {
  const at::Tensor img = (images[f.image].to(torch::kFloat64) / 255.0).to(torch::kHalf).to(torch::kFloat32);
  at::Tensor out = torch::empty({80, 90});
  auto o = out.accessor<float, 2>();
  auto in = img.accessor<float, 2>();
  const int64_t x0 = f.cx + 50 - 100, y0 = f.cy + 50 - 75;
  for (int64_t r = 0; r < 80; ++r)
    for (int64_t c = 0; c < 90; ++c) {
      const int64_t b = r + 35;                     // row of the transposed 150×200 cut
      const int64_t y = f.flag ? b : 149 - b;       // mirrored when the flag is 0
      o[r][c] = in[x0 + c + 55][y0 + y];
    }
  return out;
}

// An STA (frames, h, w) float32 whose temporal variance is largest at raw
// pixel (row, col): an alternating ±1 there; small ripples elsewhere; a larger
// alternating ±5 at (2, 3), inside the cropped-away border; and a large
// constant (variance 0) at (h − 40, 60), which a maximum of the mean would pick.
inline at::Tensor planted_sta(int64_t h, int64_t w, int64_t row, int64_t col, int64_t frames = 3) {
  const at::Tensor odd = torch::arange(frames, torch::kFloat32).remainder(2).view({-1, 1, 1});
  at::Tensor s = odd * 0.01 *
                 (torch::arange(h, torch::kFloat32).view({1, -1, 1}) + torch::arange(w, torch::kFloat32).view({1, 1, -1}))
                     .remainder(5);
  s = s.contiguous();
  const at::Tensor sign = odd * 2 - 1;  // -1, 1, -1, ...
  s.select(2, col).select(1, row).copy_(sign.view({-1}));
  s.select(2, 3).select(1, 2).copy_(sign.view({-1}) * 5);
  s.select(2, 60).select(1, h - 40).fill_(100);
  return s;
}

// Writes cell `cell`'s STA of retina `id` where openretina looks for it.
inline void write_sta(const std::string& dir, const std::string& id, int64_t cell, const at::Tensor& sta) {
  std::filesystem::create_directories(dir + "/stas");
  io::write_npy(dir + "/stas/cell_data_" + id + "_WN_stas_cell_" + std::to_string(cell) + ".npy", sta);
}

}  // namespace fovea::test::sridhar
