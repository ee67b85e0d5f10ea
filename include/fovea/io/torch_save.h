#pragma once
// Writing torch.save's zip container, what torch.load (and Lightning's
// load_from_checkpoint) reads: `<archive>/data.pkl` (the object, pickled with
// protocol 2 opcodes as torch.save writes them), `<archive>/data/<k>` (each
// tensor's bytes, little-endian), `<archive>/byteorder` and
// `<archive>/version`. The inverse of read_torch_archive (fovea/io/pickle.h).
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "fovea/io/pickle.h"

namespace fovea::io {

// Values to build the object from.
PyRef py_none();
PyRef py_bool(bool value);
PyRef py_int(int64_t value);
PyRef py_float(double value);
PyRef py_str(const std::string& value);
PyRef py_tensor(const at::Tensor& value);  // written as a CPU tensor; float, double, half, int and bool dtypes
PyRef py_list(std::vector<PyRef> items, bool tuple = false);
PyRef py_dict(std::vector<std::pair<std::string, PyRef>> entries = {});
// collections.OrderedDict, as torch.save writes a state dict.
PyRef py_ordered_dict(std::vector<std::pair<std::string, PyRef>> entries = {});
// An instance of "module.Class" with its BUILD state (cls.__new__(cls), then the state).
PyRef py_object(const std::string& class_name, PyRef state);

// The pickle bytes of `root`; each tensor's bytes are appended to `storages`
// (its persistent id is its index there).
std::string pickle_for_torch(const PyRef& root, std::vector<std::string>& storages);

// Writes `root` as torch.save does (zip container), atomically: temporary
// name + rename, nothing left behind on an error. `archive` is the folder
// inside the zip (torch.save uses the file's stem; any name loads).
void write_torch_archive(const std::string& path, const PyRef& root, const std::string& archive = "archive");

}  // namespace fovea::io
