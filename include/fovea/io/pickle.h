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

  PyValue() = default;
  PyValue(const PyValue&) = default;
  PyValue(PyValue&&) = default;
  PyValue& operator=(const PyValue&) = default;
  PyValue& operator=(PyValue&&) = default;
  // Frees nested values iteratively: a deeply nested value (from a hostile
  // pickle) cannot overflow the stack when it is destroyed.
  ~PyValue();

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
  // Dict lookup by string key; nullptr if absent (or not a dict). Also looks
  // into the items of an Object (an instance of a dict subclass).
  PyRef get(const std::string& key) const;
  int64_t as_int() const;       // Int or Bool
  double as_double() const;     // Float or Int
  const std::string& as_string() const;
  std::string repr() const;     // short Python-like rendering for messages and debugging
};

// Parses pickle bytes (protocols 0-5).
// Rebuilt: torch tensors (_rebuild_tensor_v2, _rebuild_parameter; the storage
// view is made contiguous; requires_grad is not set), numpy arrays
// (_reconstruct + BUILD, _frombuffer) -> Tensor, numpy scalars -> Int/Float/Bool,
// OrderedDict/defaultdict -> Dict, set/frozenset -> List, _codecs.encode -> Bytes.
// Other objects -> Object (dict or list items added to an instance of an
// unknown dict/list subclass are kept in its `entries`/`items`). Attributes set
// by BUILD on built-ins (an OrderedDict's `_metadata`) are dropped. Integers
// beyond int64 become Object "builtins.int" whose args[0] holds the digits.
// Reference cycles (OmegaConf nodes point to their `_parent`) are cut: the
// back reference reads as None. Values nested more than 512 deep are refused.
// Persistent ids of the forms torch.save writes are resolved through
// `load_storage(key, dtype, numel)`, which must return a 1-D tensor of at
// least `numel` elements; each key is loaded once per parse, so tensors on
// the same storage share its memory (unless their view had to be made
// contiguous, which copies it). The two forms:
//   zip container:    ('storage', storage_type, key, location, numel)
//   legacy container: ('storage', storage_type, key, location, numel, view)
//                     where view is None (the whole storage) or
//                     (view_key, offset, size), elements of storage `key`.
using StorageLoader = std::function<at::Tensor(const std::string& key, at::ScalarType dtype, int64_t numel)>;
PyRef parse_pickle(const std::string& bytes, const std::string& origin, const StorageLoader& load_storage = nullptr);

// Parses the pickle that starts at byte `offset` of `bytes` and, if `end` is
// given, stores there the offset just past its STOP opcode: for streams of
// consecutive pickles (torch.save's legacy container). Errors give positions
// counted from the start of `bytes`.
PyRef parse_pickle_at(const std::string& bytes, size_t offset, const std::string& origin,
                      const StorageLoader& load_storage, size_t* end);

// Turns OmegaConf objects (DictConfig, ListConfig, AnyNode and the other
// value nodes) into plain Dict/List/values, recursively through their
// `_content` and `_val`; containers are converted element by element, and an
// instance of an unknown dict subclass (Lightning's AttributeDict) becomes a
// Dict of its items. Everything else is returned as it is.
PyRef omegaconf_to_plain(const PyRef& value);

// Reads a torch.save file: the unpickled object with every tensor
// materialised on the CPU. Both containers are read, told apart by their
// first bytes:
//  * zip (PyTorch >= 1.6, "PK\x03\x04"): `<name>/data.pkl` holds the object
//    pickle, `<name>/data/<key>` the raw bytes of each storage, and an
//    optional `<name>/byteorder` says "little" or "big".
//  * legacy (older PyTorch, or `_use_new_zipfile_serialization=False`;
//    "\x80\x02" and a pickled magic number): consecutive pickles (the magic
//    number, protocol version 1001, a sys-info dict, the object, the list of
//    storage keys), then for each key in that list an int64 element count and
//    the storage's bytes, both little-endian.
// Every error (truncated file, a storage missing, sizes that disagree) is a
// fovea::Error naming `path`.
PyRef read_torch_archive(const std::string& path);

// A state dict (an OrderedDict/dict of name -> tensor) from a torch.save file
// of either container, in the file's key order;
// a training checkpoint's "state_dict" entry is accepted too. Throws
// fovea::Error "<path>: not a PyTorch state dict (...)" otherwise.
std::vector<std::pair<std::string, at::Tensor>> read_state_dict(const std::string& path);

}  // namespace fovea::io
