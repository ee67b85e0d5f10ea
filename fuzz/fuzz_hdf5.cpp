// HDF5 files: list the groups (two levels, as openretina's layouts nest them)
// and read every dataset found.
#include "fovea/io/hdf5.h"
#include "harness.h"

namespace {

void read_group(const std::string& path, const std::string& group, int depth) {
  for (const std::string& name : fovea::io::h5_members(path, group)) {
    const std::string member = group == "/" ? name : group + "/" + name;
    fovea::fuzz::run_reader([&] {
      if (!fovea::io::h5_has(path, member)) return;
      try {
        (void)fovea::io::read_h5_dataset(path, member);
      } catch (const fovea::Error&) {
        if (depth < 2) read_group(path, member, depth + 1);  // maybe a group
      }
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fovea::fuzz::write_input(data, size, ".h5");
  return fovea::fuzz::run_reader([&] { read_group(path, "/", 0); });
}
