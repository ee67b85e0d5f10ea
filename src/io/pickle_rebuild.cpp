// What the pickle VM builds when a pickle calls a class (REDUCE, NEWOBJ,
// INST, OBJ) or sets an object's state (BUILD): torch tensors from storages,
// numpy arrays and scalars, Python containers, and plain Objects for the rest.
#include <ATen/ATen.h>

#include <cctype>
#include <unordered_map>

#include "io/unpickler.h"

namespace fovea::io::pickle_detail {
namespace {

// Decodes UTF-8 into code points; false on invalid input.
bool decode_utf8(const std::string& s, std::vector<uint32_t>* out) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      extra = 0;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      extra = 1;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      extra = 2;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      extra = 3;
    } else {
      return false;
    }
    if (extra > 0 && i + static_cast<size_t>(extra) >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    out->push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

at::ScalarType storage_dtype(const std::string& cls, bool* ok) {
  static const std::unordered_map<std::string, at::ScalarType> table = {
      {"DoubleStorage", at::kDouble},  {"FloatStorage", at::kFloat},
      {"HalfStorage", at::kHalf},      {"BFloat16Storage", at::kBFloat16},
      {"LongStorage", at::kLong},      {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},    {"CharStorage", at::kChar},
      {"ByteStorage", at::kByte},      {"BoolStorage", at::kBool},
      {"ComplexFloatStorage", at::kComplexFloat}, {"ComplexDoubleStorage", at::kComplexDouble},
      {"UntypedStorage", at::kByte},
  };
  std::string name = cls;
  for (const char* prefix : {"torch.cuda.", "torch.storage.", "torch."}) {
    const std::string p = prefix;
    if (name.rfind(p, 0) == 0) {
      name = name.substr(p.size());
      break;
    }
  }
  const auto it = table.find(name);
  *ok = it != table.end();
  return *ok ? it->second : at::kFloat;
}

}  // namespace

std::vector<int64_t> Unpickler::int_list(const PyRef& v, const std::string& what) {
  if (!v || (v->kind != Kind::Tuple && v->kind != Kind::List)) bad(what + " is a " + type_of(v) + ", expected a tuple");
  std::vector<int64_t> out;
  for (const auto& x : v->items) {
    if (!x || x->kind != Kind::Int) bad(what + " holds a " + type_of(x) + ", expected ints");
    out.push_back(x->integer);
  }
  return out;
}

std::string Unpickler::bytes_of(const PyRef& v, const std::string& what) {
  if (v && (v->kind == Kind::Bytes || v->kind == Kind::String)) return v->text;
  bad(what + " is a " + type_of(v) + ", expected bytes");
}

PyRef Unpickler::persistent_load(const PyRef& pid) {
  // The zip container writes ('storage', storage_type, key, location, numel);
  // the legacy container adds a sixth field, view_metadata: None, or
  // (view_key, offset, view_size) in elements when an old PyTorch saved a
  // view of the storage `key` instead of the storage itself.
  const bool is_storage = pid && pid->kind == Kind::Tuple && !pid->items.empty() && pid->items[0] &&
                          pid->items[0]->kind == Kind::String && pid->items[0]->text == "storage";
  if (!is_storage) bad("unsupported persistent id " + (pid ? pid->repr() : std::string("null")));
  if (pid->items.size() != 5 && pid->items.size() != 6) {
    bad("storage persistent id has " + std::to_string(pid->items.size()) + " fields, expected 5 (or 6 in a legacy file)");
  }
  const PyRef& type = pid->items[1];
  const PyRef& key = pid->items[2];
  const PyRef& numel = pid->items[4];
  if (!type || type->kind != Kind::Object) bad("storage type is a " + type_of(type) + ", expected a class");
  bool ok = false;
  const at::ScalarType dtype = storage_dtype(type->class_name, &ok);
  if (!ok) bad("unsupported storage type " + type->class_name);
  if (!key || key->kind != Kind::String) bad("storage key is a " + type_of(key) + ", expected a str");
  if (!numel || numel->kind != Kind::Int || numel->integer < 0) bad("storage size is not a non-negative int");
  if (!loader_) bad("the pickle refers to tensor storage '" + key->text + "' but no storage loader was given");
  const auto cached = storages_.find(key->text);
  at::Tensor storage;
  if (cached != storages_.end()) {
    storage = cached->second;
  } else {
    storage = loader_(key->text, dtype, numel->integer);
    storages_[key->text] = storage;
  }
  if (!storage.defined() || storage.dim() != 1 || storage.scalar_type() != dtype || storage.numel() < numel->integer) {
    bad("storage '" + key->text + "' does not hold " + std::to_string(numel->integer) + " elements of " +
        detail::dtype_name(dtype));
  }
  if (storage.numel() != numel->integer) storage = storage.narrow(0, 0, numel->integer);
  if (pid->items.size() == 6 && pid->items[5] && !pid->items[5]->is_none()) {
    storage = storage_view(storage, key->text, pid->items[5]);
  }
  return make_tensor(storage);
}

// A legacy storage view (view_key, offset, view_size): elements
// [offset, offset + view_size) of the root storage, sharing its memory.
at::Tensor Unpickler::storage_view(const at::Tensor& root, const std::string& key, const PyRef& view) {
  if (view->kind != Kind::Tuple || view->items.size() != 3) {
    bad("storage view of '" + key + "' is " + view->repr() + ", expected (view_key, offset, size)");
  }
  const PyRef& offset = view->items[1];
  const PyRef& size = view->items[2];
  if (!offset || offset->kind != Kind::Int || !size || size->kind != Kind::Int) {
    bad("storage view of '" + key + "' has a non-integer offset or size");
  }
  int64_t last = 0;
  if (offset->integer < 0 || size->integer < 0 || detail::add_overflows(offset->integer, size->integer, &last) ||
      last > root.numel()) {
    bad("storage view [" + std::to_string(offset->integer) + ", +" + std::to_string(size->integer) +
        ") lies outside storage '" + key + "' of " + std::to_string(root.numel()) + " elements");
  }
  return root.narrow(0, offset->integer, size->integer);
}

PyRef Unpickler::rebuild_tensor(const std::vector<PyRef>& args) {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  //                    backward_hooks[, metadata]); _rebuild_tensor has the first 4.
  if (args.size() < 4) bad("_rebuild_tensor needs at least 4 arguments, got " + std::to_string(args.size()));
  const PyRef& storage = args[0];
  if (!storage || storage->kind != Kind::Tensor) bad("tensor storage is a " + type_of(storage) + ", expected a storage");
  if (!args[1] || args[1]->kind != Kind::Int) bad("tensor storage offset is not an int");
  const int64_t offset = args[1]->integer;
  const std::vector<int64_t> sizes = int_list(args[2], "tensor size");
  const std::vector<int64_t> strides = int_list(args[3], "tensor stride");
  if (sizes.size() != strides.size()) bad("tensor size and stride have different lengths");
  const int64_t storage_numel = storage->tensor.numel();
  if (offset < 0) bad("negative tensor storage offset");
  int64_t numel = 1;
  int64_t last = offset;  // the largest element index the view touches
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0 || strides[i] < 0) bad("negative tensor size or stride");
    if (detail::mul_overflows(numel, sizes[i], &numel)) bad("tensor size overflows");
  }
  if (numel > 0) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      int64_t span = 0;
      if (detail::mul_overflows(sizes[i] - 1, strides[i], &span) || detail::add_overflows(last, span, &last)) {
        bad("tensor stride overflows");
      }
    }
    if (last >= storage_numel) {
      bad("tensor of size " + c10::str(at::IntArrayRef(sizes)) + " at offset " + std::to_string(offset) +
          " reaches element " + std::to_string(last) + " of a storage with " + std::to_string(storage_numel));
    }
    // A view with zero strides can be far larger than its storage; refuse
    // absurd expansions rather than allocate them.
    const int64_t esize = detail::element_size(storage->tensor.scalar_type());
    int64_t nbytes = 0;
    if (numel > storage_numel &&
        (detail::mul_overflows(numel, esize, &nbytes) || nbytes > (int64_t{1} << 28))) {
      bad("tensor of " + std::to_string(numel) + " elements expands a storage of " + std::to_string(storage_numel));
    }
  }
  // as_strided counts the offset from the start of the underlying memory; a
  // legacy storage view starts part-way into it.
  at::Tensor t = storage->tensor.as_strided(sizes, strides, storage->tensor.storage_offset() + offset).contiguous();
  return make_tensor(t);
}

detail::NumpyType Unpickler::numpy_type(const PyRef& dtype) {
  // numpy.dtype objects: args ('f8', align, copy); BUILD state
  // (version, byteorder, subarray, names, fields, elsize, alignment, flags).
  if (!dtype || dtype->kind != Kind::Object || dtype->class_name != "numpy.dtype" || dtype->args.empty() ||
      !dtype->args[0] || dtype->args[0]->kind != Kind::String) {
    bad("numpy dtype is a " + type_of(dtype) + ", expected numpy.dtype");
  }
  std::string order;
  const PyRef& st = dtype->state;
  if (st && st->kind == Kind::Tuple && st->items.size() >= 2 && st->items[1] && st->items[1]->kind == Kind::String) {
    order = st->items[1]->text;
    if (st->items.size() >= 4 && st->items[3] && !st->items[3]->is_none()) {
      bad("numpy structured dtypes are not supported");
    }
  }
  if (order != "<" && order != ">" && order != "|" && order != "=") order = "";
  const std::string descr = order + dtype->args[0]->text;
  return detail::parse_numpy_dtype(descr, origin_ + ": numpy array");
}

at::Tensor Unpickler::numpy_data(const PyRef& raw, const detail::NumpyType& type, const std::vector<int64_t>& sizes,
                                 bool fortran) {
  if (raw && raw->kind == Kind::List) bad("numpy object arrays are not supported");
  const std::string data = bytes_of(raw, "numpy array data");
  int64_t numel = 1, nbytes = 0;
  for (const int64_t s : sizes) {
    if (s < 0 || detail::mul_overflows(numel, s, &numel)) bad("invalid numpy array shape");
  }
  if (detail::mul_overflows(numel, type.itemsize, &nbytes)) bad("invalid numpy array shape");
  if (static_cast<uint64_t>(nbytes) != data.size()) {
    bad("numpy array of shape " + c10::str(at::IntArrayRef(sizes)) + " needs " + std::to_string(nbytes) +
        " bytes, the pickle has " + std::to_string(data.size()));
  }
  return detail::numpy_bytes_to_tensor(data.data(), nbytes, type, sizes, fortran);
}

void Unpickler::numpy_array_from_state(PyValue& obj, const PyRef& state) {
  // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata)) or the
  // old 4-tuple without the version.
  if (!state || state->kind != Kind::Tuple) bad("numpy array state is a " + type_of(state) + ", expected a tuple");
  std::vector<PyRef> st = state->items;
  if (st.size() == 5) st.erase(st.begin());
  if (st.size() != 4) bad("numpy array state has " + std::to_string(state->items.size()) + " fields, expected 5");
  const std::vector<int64_t> sizes = int_list(st[0], "numpy array shape");
  const detail::NumpyType type = numpy_type(st[1]);
  if (!st[2] || (st[2]->kind != Kind::Bool && st[2]->kind != Kind::Int)) bad("numpy is_fortran flag is not a bool");
  const bool fortran = st[2]->kind == Kind::Bool ? st[2]->boolean : st[2]->integer != 0;
  at::Tensor t = numpy_data(st[3], type, sizes, fortran);
  obj.kind = Kind::Tensor;
  obj.tensor = t;
  obj.class_name.clear();
  obj.args.clear();
  obj.state = nullptr;
}

PyRef Unpickler::numpy_scalar(const std::vector<PyRef>& args) {
  // numpy.core.multiarray.scalar(dtype, bytes)
  if (args.size() != 2) bad("numpy scalar needs 2 arguments");
  const detail::NumpyType type = numpy_type(args[0]);
  const std::string data = bytes_of(args[1], "numpy scalar data");
  if (static_cast<int64_t>(data.size()) != type.itemsize) bad("numpy scalar has the wrong number of bytes");
  const at::Tensor t = detail::numpy_bytes_to_tensor(data.data(), type.itemsize, type, {}, false);
  if (t.scalar_type() == at::kBool) return make_bool(t.item<bool>());
  if (at::isFloatingType(t.scalar_type())) return make_float(t.to(at::kDouble).item<double>());
  return make_int(t.to(at::kLong).item<int64_t>());
}

PyRef Unpickler::numpy_frombuffer(const std::vector<PyRef>& args) {
  // numpy.core.numeric._frombuffer(buffer, dtype, shape, order)
  if (args.size() != 4) bad("numpy _frombuffer needs 4 arguments");
  const detail::NumpyType type = numpy_type(args[1]);
  const std::vector<int64_t> sizes = int_list(args[2], "numpy array shape");
  const bool fortran = args[3] && args[3]->kind == Kind::String && args[3]->text == "F";
  return make_tensor(numpy_data(args[0], type, sizes, fortran));
}

PyRef Unpickler::call(const PyRef& callable, std::vector<PyRef> args) {
  if (!callable || callable->kind != Kind::Object) bad("cannot call a " + type_of(callable));
  return call_class(callable->class_name, std::move(args));
}

PyRef Unpickler::call_class(const std::string& cls, std::vector<PyRef> args) {
  struct Depth {
    size_t& n;
    explicit Depth(size_t& depth) : n(++depth) {}
    ~Depth() { --n; }
  } depth(call_depth_);
  if (call_depth_ > kMaxDepth) bad("calls are nested more than " + std::to_string(kMaxDepth) + " levels deep");
  auto arg = [&](size_t i) -> PyRef { return i < args.size() ? args[i] : nullptr; };
  if (cls == "collections.OrderedDict" || cls == "builtins.dict" || cls == "collections.defaultdict") {
    PyRef d = make(Kind::Dict);
    // dict(iterable_of_pairs) / dict(mapping); defaultdict(factory[, items]).
    const PyRef src = cls == "collections.defaultdict" ? arg(1) : arg(0);
    if (src && src->kind == Kind::Dict) {
      for (const auto& [k, v] : src->entries) dict_set(d, k, v);
    } else if (src && (src->kind == Kind::List || src->kind == Kind::Tuple)) {
      for (const auto& pair : src->items) {
        if (!pair || (pair->kind != Kind::List && pair->kind != Kind::Tuple) || pair->items.size() != 2) {
          bad(cls + " argument holds a " + type_of(pair) + ", expected (key, value) pairs");
        }
        dict_set(d, pair->items[0], pair->items[1]);
      }
    }
    return d;
  }
  if (cls == "builtins.list" || cls == "builtins.set" || cls == "builtins.frozenset" || cls == "builtins.tuple") {
    std::vector<PyRef> items;
    const PyRef src = arg(0);
    if (src && (src->kind == Kind::List || src->kind == Kind::Tuple)) items = src->items;
    else if (src && src->kind == Kind::Dict) for (const auto& kv : src->entries) items.push_back(kv.first);
    return make_seq(cls == "builtins.tuple" ? Kind::Tuple : Kind::List, std::move(items));
  }
  if (cls == "_codecs.encode") {
    // Protocol 2 pickles bytes as _codecs.encode(latin-1 text, 'latin1').
    if (args.size() < 1 || !args[0] || args[0]->kind != Kind::String) bad("_codecs.encode needs a str");
    std::string enc = args.size() > 1 && args[1] && args[1]->kind == Kind::String ? args[1]->text : "utf-8";
    for (auto& c : enc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (enc == "utf-8" || enc == "utf8") return make_text(Kind::Bytes, args[0]->text);
    if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" && enc != "iso8859-1") {
      bad("_codecs.encode with unsupported encoding '" + enc + "'");
    }
    std::vector<uint32_t> cps;
    if (!decode_utf8(args[0]->text, &cps)) bad("invalid UTF-8 in _codecs.encode argument");
    std::string out;
    out.reserve(cps.size());
    for (const uint32_t cp : cps) {
      if (cp > 0xFF) bad("_codecs.encode: character outside latin-1");
      out += static_cast<char>(cp);
    }
    return make_text(Kind::Bytes, std::move(out));
  }
  if (cls == "builtins.bytes" || cls == "builtins.bytearray") {
    const PyRef src = arg(0);
    if (!src) return make_text(Kind::Bytes, "");
    if (src->kind == Kind::Bytes) return make_text(Kind::Bytes, src->text);
    if (src->kind == Kind::String) return call_class("_codecs.encode", args);
    if (src->kind == Kind::List || src->kind == Kind::Tuple) {
      std::string out;
      for (const auto& x : src->items) {
        if (!x || x->kind != Kind::Int || x->integer < 0 || x->integer > 255) bad("bytes() of a non-byte value");
        out += static_cast<char>(x->integer);
      }
      return make_text(Kind::Bytes, std::move(out));
    }
    bad(cls + " of a " + type_of(src));
  }
  if (cls == "torch._utils._rebuild_tensor_v2" || cls == "torch._utils._rebuild_tensor") return rebuild_tensor(args);
  if (cls == "torch._utils._rebuild_parameter" || cls == "torch._utils._rebuild_parameter_with_state") {
    if (args.empty() || !args[0] || args[0]->kind != Kind::Tensor) bad("_rebuild_parameter needs a tensor");
    return make_tensor(args[0]->tensor);
  }
  if (cls == "torch._tensor._rebuild_from_type_v2" || cls == "torch._tensor._rebuild_from_type") {
    // (func, new_type, args, state): the tensor is func(*args).
    if (args.size() < 3 || !args[2] || args[2]->kind != Kind::Tuple) bad("_rebuild_from_type needs (func, type, args)");
    return call(args[0], args[2]->items);
  }
  if (cls == "torch.Size") {
    const PyRef src = arg(0);
    return make_seq(Kind::Tuple, src && (src->kind == Kind::Tuple || src->kind == Kind::List) ? src->items
                                                                                               : std::vector<PyRef>{});
  }
  if (cls == "numpy.core.multiarray._reconstruct") {
    // The array is filled in by the BUILD that follows.
    return make_object("numpy.ndarray", std::move(args));
  }
  if (cls == "numpy.core.multiarray.scalar") return numpy_scalar(args);
  if (cls == "numpy.core.numeric._frombuffer") return numpy_frombuffer(args);
  if (cls == "copyreg._reconstructor") {
    // copyreg._reconstructor(cls, base, state): an instance of cls.
    if (args.empty() || !args[0] || args[0]->kind != Kind::Object) bad("copyreg._reconstructor needs a class");
    PyRef obj = call_class(args[0]->class_name, {});
    if (obj->kind == Kind::Object && args.size() > 2 && args[2] && !args[2]->is_none()) obj->args.push_back(args[2]);
    return obj;
  }
  if (cls == "copyreg.__newobj__" || cls == "copyreg.__newobj_ex__") {
    if (args.empty() || !args[0] || args[0]->kind != Kind::Object) bad(cls + " needs a class");
    std::vector<PyRef> rest(args.begin() + 1, args.end());
    if (cls == "copyreg.__newobj_ex__" && rest.size() >= 1 && rest[0] && rest[0]->kind == Kind::Tuple) {
      std::vector<PyRef> a = rest[0]->items;
      if (rest.size() >= 2 && rest[1] && rest[1]->kind == Kind::Dict && !rest[1]->entries.empty()) a.push_back(rest[1]);
      rest = std::move(a);
    }
    return call_class(args[0]->class_name, std::move(rest));
  }
  return make_object(cls, std::move(args));
}

void Unpickler::build(PyRef& obj, PyRef state) {
  if (obj->kind == Kind::Object) {
    if (obj->class_name == "numpy.ndarray" && !obj->state) {
      numpy_array_from_state(*obj, state);
      return;
    }
    if (obj->state && obj->state->kind == Kind::Dict && state && state->kind == Kind::Dict) {
      for (auto& [k, v] : state->entries) dict_set(obj->state, k, v);
    } else {
      obj->state = std::move(state);
    }
    return;
  }
  // Dicts (OrderedDict's _metadata), tensors (Parameter attributes) and other
  // built-ins carry attributes that plain data has no place for: dropped.
}

}  // namespace fovea::io::pickle_detail
