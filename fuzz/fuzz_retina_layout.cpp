// openretina's generic HDF5 layout (load_hdf5_layout): the input is one
// session file, <dir>/session.h5, next to fixed shared stimuli
// stimuli/train.npy (1, 4, 2, 2) and stimuli/test.npy (1, 3, 2, 2).
#include <ATen/ATen.h>
#include <unistd.h>

#include <filesystem>

#include "fovea/data/retina_dataset.h"
#include "fovea/io/npy.h"
#include "harness.h"

namespace {

const std::string& layout_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    const std::string d =
        std::string(tmp && *tmp ? tmp : "/tmp") + "/fovea_fuzz_layout_" + std::to_string(::getpid());
    std::filesystem::create_directories(d + "/stimuli");
    fovea::io::write_npy(d + "/stimuli/train.npy", at::rand({1, 4, 2, 2}));
    fovea::io::write_npy(d + "/stimuli/test.npy", at::rand({1, 3, 2, 2}));
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = layout_dir();
  {
    std::ofstream out(dir + "/session.h5", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  return fovea::fuzz::run_reader([&] {
    fovea::data::RetinaLoadOptions options;
    options.dir = dir;
    options.test_names = {"test"};
    (void)fovea::data::load_hdf5_layout(options);
  });
}
