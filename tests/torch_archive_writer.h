#pragma once
// Writes torch.save zip archives (checkpoints) from io::PyValue trees, without
// Python: tests build openretina checkpoints from fovea's own weights, or take
// a real checkpoint apart with io::read_torch_archive and write a modified copy.
//
// The pickle uses protocol 2 opcodes (BINBYTES from protocol 3), as torch.save
// does: containers, numbers, strings, tensors (torch._utils._rebuild_tensor_v2
// with a persistent storage id) and objects (GLOBAL class, NEWOBJ, BUILD state).
#include <ATen/ATen.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fovea/io/pickle.h"
#include "io/detail.h"

namespace fovea::test {

// ---- building values ----
inline io::PyRef py_none() { return std::make_shared<io::PyValue>(); }
inline io::PyRef py_bool(bool b) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::Bool;
  v->boolean = b;
  return v;
}
inline io::PyRef py_int(int64_t i) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::Int;
  v->integer = i;
  return v;
}
inline io::PyRef py_float(double d) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::Float;
  v->number = d;
  return v;
}
inline io::PyRef py_str(const std::string& s) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::String;
  v->text = s;
  return v;
}
inline io::PyRef py_tensor(const at::Tensor& t) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::Tensor;
  v->tensor = t;
  return v;
}
inline io::PyRef py_list(std::vector<io::PyRef> items, bool tuple = false) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = tuple ? io::PyValue::Kind::Tuple : io::PyValue::Kind::List;
  v->items = std::move(items);
  return v;
}
inline io::PyRef py_ints(const std::vector<int64_t>& values) {
  std::vector<io::PyRef> items;
  for (auto x : values) items.push_back(py_int(x));
  return py_list(items);
}
inline io::PyRef py_dict(std::vector<std::pair<std::string, io::PyRef>> entries = {}) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::Dict;
  for (auto& [k, x] : entries) v->entries.emplace_back(py_str(k), x);
  return v;
}
// An instance of a Python class ("module.Class") with its BUILD state (e.g. an nn.Module's __dict__).
inline io::PyRef py_object(const std::string& class_name, io::PyRef state) {
  auto v = std::make_shared<io::PyValue>();
  v->kind = io::PyValue::Kind::Object;
  v->class_name = class_name;
  v->state = std::move(state);
  return v;
}

// Sets (or adds) a string key of a dict.
inline void py_set(const io::PyRef& dict, const std::string& key, io::PyRef value) {
  for (auto& [k, v] : dict->entries)
    if (k && k->kind == io::PyValue::Kind::String && k->text == key) {
      v = std::move(value);
      return;
    }
  dict->entries.emplace_back(py_str(key), std::move(value));
}
// Removes a string key of a dict; false if it was absent.
inline bool py_erase(const io::PyRef& dict, const std::string& key) {
  for (auto it = dict->entries.begin(); it != dict->entries.end(); ++it)
    if (it->first && it->first->kind == io::PyValue::Kind::String && it->first->text == key) {
      dict->entries.erase(it);
      return true;
    }
  return false;
}

// ---- writing ----
class TorchArchiveWriter {
 public:
  // Pickles `root` and writes it with its tensors' storages to `path`.
  void write(const std::string& path, const io::PyRef& root) {
    pkl_.clear();
    storages_.clear();
    pkl_ += "\x80\x02";
    value(root);
    pkl_ += '.';
    std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", pkl_},
                                                                {"archive/byteorder", "little"}};
    for (size_t i = 0; i < storages_.size(); ++i) entries.emplace_back("archive/data/" + std::to_string(i), storages_[i]);
    entries.emplace_back("archive/version", "3\n");
    io::detail::write_zip_atomic(path, entries, /*compress=*/false);
  }

 private:
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) pkl_ += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      pkl_ += 'K';
      pkl_ += static_cast<char>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      pkl_ += 'J';
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1: 8 bytes, two's complement, little-endian
      pkl_ += '\x8a';
      pkl_ += '\x08';
      for (int i = 0; i < 8; ++i) pkl_ += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
    }
  }
  void text(const std::string& s) {
    pkl_ += 'X';
    u32(static_cast<uint32_t>(s.size()));
    pkl_ += s;
  }
  void global(const std::string& module, const std::string& name) { pkl_ += "c" + module + "\n" + name + "\n"; }
  void global(const std::string& dotted) {
    const auto dot = dotted.rfind('.');
    global(dotted.substr(0, dot), dotted.substr(dot + 1));
  }

  static const char* storage_type(at::ScalarType t) {
    switch (t) {
      case at::kFloat: return "FloatStorage";
      case at::kDouble: return "DoubleStorage";
      case at::kHalf: return "HalfStorage";
      case at::kLong: return "LongStorage";
      case at::kInt: return "IntStorage";
      case at::kShort: return "ShortStorage";
      case at::kChar: return "CharStorage";
      case at::kByte: return "ByteStorage";
      case at::kBool: return "BoolStorage";
      default: throw std::runtime_error("TorchArchiveWriter: unsupported dtype");
    }
  }

  void tensor(const at::Tensor& t) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const std::string key = std::to_string(storages_.size());
    storages_.emplace_back(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel() * c.element_size()));
    // _rebuild_tensor_v2(('storage', torch.<T>Storage, key, 'cpu', numel), 0, size, stride, False, OrderedDict())
    global("torch._utils", "_rebuild_tensor_v2");
    pkl_ += '(';
    pkl_ += '(';
    text("storage");
    global("torch", storage_type(c.scalar_type()));
    text(key);
    text("cpu");
    integer(c.numel());
    pkl_ += 't';
    pkl_ += 'Q';
    integer(0);
    pkl_ += '(';
    for (auto s : c.sizes()) integer(s);
    pkl_ += 't';
    pkl_ += '(';
    for (auto s : c.strides()) integer(s);
    pkl_ += 't';
    pkl_ += '\x89';
    global("collections", "OrderedDict");
    pkl_ += ")R";
    pkl_ += 't';
    pkl_ += 'R';
  }

  void value(const io::PyRef& v) {
    using Kind = io::PyValue::Kind;
    if (!v) {
      pkl_ += 'N';
      return;
    }
    switch (v->kind) {
      case Kind::None: pkl_ += 'N'; return;
      case Kind::Bool: pkl_ += v->boolean ? '\x88' : '\x89'; return;
      case Kind::Int: integer(v->integer); return;
      case Kind::Float: {
        pkl_ += 'G';  // BINFLOAT: big-endian double
        uint64_t bits = 0;
        std::memcpy(&bits, &v->number, 8);
        for (int i = 7; i >= 0; --i) pkl_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
        return;
      }
      case Kind::String: text(v->text); return;
      case Kind::Bytes:
        pkl_ += 'B';
        u32(static_cast<uint32_t>(v->text.size()));
        pkl_ += v->text;
        return;
      case Kind::List:
        pkl_ += "](";
        for (const auto& x : v->items) value(x);
        pkl_ += 'e';
        return;
      case Kind::Tuple:
        pkl_ += '(';
        for (const auto& x : v->items) value(x);
        pkl_ += 't';
        return;
      case Kind::Dict:
        pkl_ += "}(";
        for (const auto& [k, x] : v->entries) {
          value(k);
          value(x);
        }
        pkl_ += 'u';
        return;
      case Kind::Tensor: tensor(v->tensor); return;
      case Kind::Object:
        global(v->class_name);
        pkl_ += '(';
        for (const auto& x : v->args) value(x);
        pkl_ += 't';
        pkl_ += '\x81';  // NEWOBJ: cls.__new__(cls, *args)
        if (v->state) {
          value(v->state);
          pkl_ += 'b';
        }
        return;
    }
  }

  std::string pkl_;
  std::vector<std::string> storages_;
};

inline void write_torch_archive(const std::string& path, const io::PyRef& root) { TorchArchiveWriter().write(path, root); }

}  // namespace fovea::test
