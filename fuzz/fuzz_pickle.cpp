// Pickles (protocols 0-5) through the in-memory entry point. Persistent ids
// are served as torch_archive serves them: a storage of the claimed size, but
// only when a file could hold it (a claim past the input's size is refused, as
// the archive readers refuse a storage their file does not hold).
#include <ATen/ATen.h>

#include "fovea/io/pickle.h"
#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  return fovea::fuzz::run_reader([&] {
    const fovea::io::StorageLoader loader = [&](const std::string& key, at::ScalarType dtype, int64_t numel) {
      fovea::check(numel >= 0 && static_cast<uint64_t>(numel) <= bytes.size(), "fuzz.pkl",
                   "storage '" + key + "' larger than the input");
      return at::zeros({numel}, at::TensorOptions().dtype(dtype));
    };
    const fovea::io::PyRef root = fovea::io::parse_pickle(bytes, "fuzz.pkl", loader);
    (void)root->repr();
    (void)fovea::io::omegaconf_to_plain(root);
  });
}
