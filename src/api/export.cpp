#include "fovea/api/export.h"

#include <cctype>
#include <filesystem>

#include "export_formats.h"
#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/torch_save.h"
#include "fovea/nn/model_loader.h"

namespace fovea::api {

const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> formats = {"openretina-ckpt", "minimodel-pt"};
  return formats;
}

io::PyRef state_dict_object(const nn::Model& model) {
  std::vector<std::pair<std::string, io::PyRef>> entries;
  for (const auto& [name, t] : model.state_dict()) entries.emplace_back(name, io::py_tensor(t.detach().to(at::kCPU)));
  return io::py_ordered_dict(std::move(entries));
}

io::PyRef json_to_py(const nn::Json& v) {
  if (v.is_null()) return io::py_none();
  if (v.is_boolean()) return io::py_bool(v.get<bool>());
  if (v.is_number_integer()) return io::py_int(v.get<int64_t>());
  if (v.is_number()) return io::py_float(v.get<double>());
  if (v.is_string()) return io::py_str(v.get<std::string>());
  if (v.is_array()) {
    std::vector<io::PyRef> items;
    for (const auto& x : v) items.push_back(json_to_py(x));
    return io::py_list(std::move(items));
  }
  std::vector<std::pair<std::string, io::PyRef>> entries;
  for (const auto& [k, x] : v.items()) entries.emplace_back(k, json_to_py(x));
  return io::py_dict(std::move(entries));
}

ExportResult export_model(const ExportOptions& options) {
  // Checked before the model is read (a download may be slow).
  if (options.output.empty()) fail("export", "no output file given (-o FILE)");
  auto model = nn::load_any_model(options.model);
  return export_model(*model, options);
}

ExportResult export_model(const nn::Model& model, const ExportOptions& o) {
  if (o.output.empty()) fail("export", "no output file given (-o FILE)");
  const std::string origin = o.model.empty() ? "the model" : o.model;
  ExportedCheckpoint checkpoint;
  if (o.format == "openretina-ckpt") {
    checkpoint = openretina_checkpoint(model, origin);
  } else if (o.format == "minimodel-pt") {
    checkpoint = minimodel_state_dict(model, origin);
  } else {
    fail("--format", "unknown export format '" + o.format + "' (openretina-ckpt or minimodel-pt)");
  }
  const auto parent = std::filesystem::path(o.output).parent_path();
  if (!parent.empty()) io::make_directories(parent.string());
  // torch.save names the zip's folder after the file's stem; any name loads.
  std::string stem = std::filesystem::path(o.output).stem().string();
  for (char& c : stem)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  if (stem.empty()) stem = "archive";
  io::write_torch_archive(o.output, checkpoint.root, stem);
  ExportResult r;
  r.output = o.output;
  r.format = o.format;
  r.n_tensors = checkpoint.n_tensors;
  r.python_load = checkpoint.python_load;
  return r;
}

}  // namespace fovea::api
