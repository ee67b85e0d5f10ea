// minimodel's mouse V1 layout (load_v1_dataset: src/data/v1_*.cpp,
// global_zscore.cpp, minimodel_mice.cpp and monkey_v1_dataset.cpp are
// compiled into the harness, fovea_metrics linked for the FEV). Each input is
// tried twice: as the image file (.mat, variable img) next to a fixed valid
// responses .npz, and as the responses .npz next to a fixed valid image .mat;
// so both readers and the code that joins them (image indices, split,
// normalisation, FEV) see it.
#include <ATen/ATen.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fovea/data/v1_dataset.h"
#include "harness.h"
#include "v1_fuzz_files.h"

namespace {

struct Layout {
  std::string images, responses, input_mat, input_npz;
};

const Layout& layout() {
  static const Layout l = [] {
    const char* tmp = std::getenv("TMPDIR");
    const std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/fovea_fuzz_v1_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    Layout x{dir + "/img.mat", dir + "/responses.npz", dir + "/input.mat", dir + "/input.npz"};
    fovea::fuzz::write_v1_images_mat(x.images);
    fovea::fuzz::write_v1_responses(x.responses);
    return x;
  }();
  return l;
}

void write(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Layout& l = layout();
  write(l.input_mat, data, size);
  write(l.input_npz, data, size);
  fovea::fuzz::run_reader([&] {
    fovea::data::V1LoadOptions o;
    o.images_path = l.input_mat;
    o.responses_path = l.responses;
    (void)fovea::data::load_v1_dataset(o);
  });
  return fovea::fuzz::run_reader([&] {
    fovea::data::V1LoadOptions o;
    o.images_path = l.images;
    o.responses_path = l.input_npz;
    (void)fovea::data::load_v1_dataset(o);
  });
}
