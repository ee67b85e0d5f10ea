// MAT files (v4, v5, v7 compressed, v7.3/HDF5) through matio: list the
// variables, then read each (the first few: a file may list thousands).
#include "fovea/io/mat.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fovea::fuzz::write_input(data, size, ".mat");
  return fovea::fuzz::run_reader([&] {
    const std::vector<std::string> names = fovea::io::mat_variable_names(path);
    for (size_t i = 0; i < names.size() && i < 4; ++i) {
      fovea::fuzz::run_reader([&] { (void)fovea::io::read_mat_variable(path, names[i]); });
    }
    (void)fovea::io::read_mat_variable(path, "x");  // a name the seeds use, or a missing one
  });
}
