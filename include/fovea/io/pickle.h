#pragma once
// A Python pickle, as plain data. torch.save archives and Lightning
// checkpoints name classes that C++ does not know (numpy arrays, OmegaConf
// configs, ...). The reader rebuilds what it understands (tensors, numpy
// arrays and scalars, containers, OrderedDict) and keeps every other object as
// an Object: its class name, the arguments it was built with and its state.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fovea::io {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Object };
  Kind kind = Kind::None;

  bool boolean = false;
  int64_t integer = 0;
  double number = 0.0;
  std::string text;                          // String (UTF-8) and Bytes
  std::vector<PyRef> items;                  // List, Tuple
  std::vector<std::pair<PyRef, PyRef>> entries;  // Dict (insertion order)
  at::Tensor tensor;                         // Tensor: torch tensors and numpy arrays
  std::string class_name;                    // Object: "module.Class"
  std::vector<PyRef> args;                   // Object: constructor / reduce arguments
  PyRef state;                               // Object: __setstate__ / BUILD state (may be null)

  // Convenience accessors; each throws fovea::Error naming the expected kind.
  bool is_none() const { return kind == Kind::None; }
  bool is_dict() const { return kind == Kind::Dict; }
  // Dict lookup by string key; nullptr if absent (or not a dict).
  PyRef get(const std::string& key) const;
  int64_t as_int() const;       // Int or Bool
  double as_double() const;     // Float or Int
  const std::string& as_string() const;
  std::string repr() const;     // short Python-like rendering for messages and debugging
};

// Parses pickle bytes (protocols 0-5). Persistent ids of the form torch.save
// writes ('storage', storage_type, key, location, numel) are resolved through
// `load_storage(key, dtype, numel)`, which must return a 1-D tensor.
using StorageLoader = std::function<at::Tensor(const std::string& key, at::ScalarType dtype, int64_t numel)>;
PyRef parse_pickle(const std::string& bytes, const std::string& origin, const StorageLoader& load_storage = nullptr);

// Reads a torch.save zip archive (`<name>/data.pkl` + `<name>/data/<key>`):
// the unpickled object with every tensor materialised on the CPU.
PyRef read_torch_archive(const std::string& path);

// A state dict (an OrderedDict/dict of name -> tensor) from a torch.save file;
// a training checkpoint's "state_dict" entry is accepted too. Throws
// fovea::Error "<path>: not a PyTorch state dict (...)" otherwise.
std::vector<std::pair<std::string, at::Tensor>> read_state_dict(const std::string& path);

}  // namespace fovea::io
