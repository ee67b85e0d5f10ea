// torch.save's zip container, written from PyValue trees (see fovea/io/torch_save.h).
#include "fovea/io/torch_save.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "fovea/error.h"
#include "io/detail.h"

namespace fovea::io {

namespace {

PyRef make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}

const char* storage_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "FloatStorage";
    case at::kDouble: return "DoubleStorage";
    case at::kHalf: return "HalfStorage";
    case at::kBFloat16: return "BFloat16Storage";
    case at::kLong: return "LongStorage";
    case at::kInt: return "IntStorage";
    case at::kShort: return "ShortStorage";
    case at::kChar: return "CharStorage";
    case at::kByte: return "ByteStorage";
    case at::kBool: return "BoolStorage";
    default: fail("torch.save writer", std::string("tensors of dtype ") + c10::toString(t) + " cannot be written");
  }
}

class Pickler {
 public:
  explicit Pickler(std::vector<std::string>& storages) : storages_(storages) {}

  std::string run(const PyRef& root) {
    out_ = "\x80\x02";  // PROTO 2
    value(root, 0);
    out_ += '.';       // STOP
    return std::move(out_);
  }

 private:
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {  // BININT1
      out_ += 'K';
      out_ += static_cast<char>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {  // BININT
      out_ += 'J';
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1: 8 bytes, two's complement, little-endian
      out_ += '\x8a';
      out_ += '\x08';
      for (int i = 0; i < 8; ++i) out_ += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF);
    }
  }
  void text(const std::string& s) {  // BINUNICODE
    out_ += 'X';
    u32(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  void global(const std::string& module, const std::string& name) { out_ += "c" + module + "\n" + name + "\n"; }
  void global(const std::string& dotted) {
    const auto dot = dotted.rfind('.');
    check(dot != std::string::npos && dot > 0, "torch.save writer", "class name '" + dotted + "' has no module");
    global(dotted.substr(0, dot), dotted.substr(dot + 1));
  }

  // torch._utils._rebuild_tensor_v2(('storage', torch.<T>Storage, key, 'cpu', numel),
  //                                 0, size, stride, False, OrderedDict())
  void tensor(const at::Tensor& t) {
    check(t.defined(), "torch.save writer", "an undefined tensor cannot be written");
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const char* type = storage_type(c.scalar_type());
    const std::string key = std::to_string(storages_.size());
    storages_.emplace_back(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel() * c.element_size()));
    global("torch._utils", "_rebuild_tensor_v2");
    out_ += "((";
    text("storage");
    global("torch", type);
    text(key);
    text("cpu");
    integer(c.numel());
    out_ += "tQ";  // TUPLE, BINPERSID
    integer(0);
    out_ += '(';
    for (auto s : c.sizes()) integer(s);
    out_ += "t(";
    for (auto s : c.strides()) integer(s);
    out_ += 't';
    out_ += '\x89';  // requires_grad = False
    global("collections", "OrderedDict");
    out_ += ")R";  // OrderedDict()
    out_ += "tR";  // args tuple, REDUCE
  }

  void entries(const PyValue& v, int depth) {
    out_ += '(';
    for (const auto& [k, x] : v.entries) {
      value(k, depth + 1);
      value(x, depth + 1);
    }
    out_ += 'u';  // SETITEMS
  }

  void value(const PyRef& v, int depth) {
    using Kind = PyValue::Kind;
    check(depth < 512, "torch.save writer", "values nested more than 512 deep");
    if (!v) {
      out_ += 'N';
      return;
    }
    switch (v->kind) {
      case Kind::None: out_ += 'N'; return;
      case Kind::Bool: out_ += v->boolean ? '\x88' : '\x89'; return;
      case Kind::Int: integer(v->integer); return;
      case Kind::Float: {  // BINFLOAT: big-endian double
        out_ += 'G';
        uint64_t bits = 0;
        std::memcpy(&bits, &v->number, 8);
        for (int i = 7; i >= 0; --i) out_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
        return;
      }
      case Kind::String: text(v->text); return;
      case Kind::Bytes:  // BINBYTES (protocol 3, as torch.save writes bytes)
        out_ += 'B';
        u32(static_cast<uint32_t>(v->text.size()));
        out_ += v->text;
        return;
      case Kind::List:
        out_ += "](";
        for (const auto& x : v->items) value(x, depth + 1);
        out_ += 'e';  // APPENDS
        return;
      case Kind::Tuple:
        out_ += '(';
        for (const auto& x : v->items) value(x, depth + 1);
        out_ += 't';
        return;
      case Kind::Dict:
        out_ += '}';
        entries(*v, depth);
        return;
      case Kind::Tensor: tensor(v->tensor); return;
      case Kind::Object:
        if (v->class_name == "collections.OrderedDict") {  // OrderedDict() then its items
          global("collections", "OrderedDict");
          out_ += ")R";
          entries(*v, depth);
          return;
        }
        global(v->class_name);
        out_ += '(';
        for (const auto& x : v->args) value(x, depth + 1);
        out_ += 't';
        out_ += '\x81';  // NEWOBJ: cls.__new__(cls, *args)
        if (v->state) {
          value(v->state, depth + 1);
          out_ += 'b';  // BUILD
        }
        return;
    }
  }

  std::string out_;
  std::vector<std::string>& storages_;
};

}  // namespace

PyRef py_none() { return make(PyValue::Kind::None); }
PyRef py_bool(bool value) {
  auto v = make(PyValue::Kind::Bool);
  v->boolean = value;
  return v;
}
PyRef py_int(int64_t value) {
  auto v = make(PyValue::Kind::Int);
  v->integer = value;
  return v;
}
PyRef py_float(double value) {
  auto v = make(PyValue::Kind::Float);
  v->number = value;
  return v;
}
PyRef py_str(const std::string& value) {
  auto v = make(PyValue::Kind::String);
  v->text = value;
  return v;
}
PyRef py_tensor(const at::Tensor& value) {
  auto v = make(PyValue::Kind::Tensor);
  v->tensor = value;
  return v;
}
PyRef py_list(std::vector<PyRef> items, bool tuple) {
  auto v = make(tuple ? PyValue::Kind::Tuple : PyValue::Kind::List);
  v->items = std::move(items);
  return v;
}
PyRef py_dict(std::vector<std::pair<std::string, PyRef>> entries) {
  auto v = make(PyValue::Kind::Dict);
  for (auto& [k, x] : entries) v->entries.emplace_back(py_str(k), std::move(x));
  return v;
}
PyRef py_ordered_dict(std::vector<std::pair<std::string, PyRef>> entries) {
  auto v = py_dict(std::move(entries));
  v->kind = PyValue::Kind::Object;
  v->class_name = "collections.OrderedDict";
  return v;
}
PyRef py_object(const std::string& class_name, PyRef state) {
  auto v = make(PyValue::Kind::Object);
  v->class_name = class_name;
  v->state = std::move(state);
  return v;
}

std::string pickle_for_torch(const PyRef& root, std::vector<std::string>& storages) {
  return Pickler(storages).run(root);
}

void write_torch_archive(const std::string& path, const PyRef& root, const std::string& archive) {
  std::vector<std::string> storages;
  const std::string pkl = pickle_for_torch(root, storages);
  std::vector<std::pair<std::string, std::string>> entries = {{archive + "/data.pkl", pkl},
                                                              {archive + "/byteorder", "little"}};
  for (size_t i = 0; i < storages.size(); ++i) entries.emplace_back(archive + "/data/" + std::to_string(i), storages[i]);
  entries.emplace_back(archive + "/version", "3\n");
  detail::write_zip_atomic(path, entries, /*compress=*/false);
}

}  // namespace fovea::io
