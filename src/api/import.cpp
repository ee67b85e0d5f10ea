#include "fovea/api/import.h"

#include <filesystem>
#include <sstream>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/nn/model_file.h"
#include "fovea/nn/model_loader.h"

namespace fovea::api {

ImportResult import_model(const ImportOptions& o) {
  nn::ImportOptions options;
  if (!o.input_size.empty()) {
    int h = 0, w = 0;
    char x = 0;
    std::istringstream in(o.input_size);
    if (!(in >> h >> x >> w) || (x != 'x' && x != 'X') || h <= 0 || w <= 0)
      fail("--input-size", "expected HxW, e.g. 66x130, got '" + o.input_size + "'");
    options.input_hw = {h, w};
  }
  if (o.output.empty()) fail("import", "no output file given (-o MODEL.safetensors)");
  ImportResult r;
  r.model = nn::load_any_model(o.file, options);
  const auto parent = std::filesystem::path(o.output).parent_path();
  if (!parent.empty()) io::make_directories(parent.string());
  nn::save_model(o.output, *r.model);
  r.output = o.output;
  return r;
}

}  // namespace fovea::api
