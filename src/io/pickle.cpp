// A pickle virtual machine (protocols 0-5) that builds plain PyValues.
// Reference: CPython's Lib/pickle.py and Lib/pickletools.py. Every length and
// index read from the bytes is checked; a bad pickle throws fovea::Error.
#include <ATen/ATen.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "fovea/error.h"
#include "fovea/io/pickle.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

using Kind = PyValue::Kind;

// Values nested deeper than this are refused (consumers recurse).
constexpr size_t kMaxDepth = 512;

// ---- value constructors ----
PyRef make(Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}
PyRef make_bool(bool b) {
  auto v = make(Kind::Bool);
  v->boolean = b;
  return v;
}
PyRef make_int(int64_t i) {
  auto v = make(Kind::Int);
  v->integer = i;
  return v;
}
PyRef make_float(double d) {
  auto v = make(Kind::Float);
  v->number = d;
  return v;
}
PyRef make_text(Kind k, std::string s) {
  auto v = make(k);
  v->text = std::move(s);
  return v;
}
PyRef make_seq(Kind k, std::vector<PyRef> items) {
  auto v = make(k);
  v->items = std::move(items);
  return v;
}
PyRef make_object(std::string cls, std::vector<PyRef> args = {}) {
  auto v = make(Kind::Object);
  v->class_name = std::move(cls);
  v->args = std::move(args);
  return v;
}
PyRef make_tensor(at::Tensor t) {
  auto v = make(Kind::Tensor);
  v->tensor = std::move(t);
  return v;
}

// A Python integer too large for int64: kept as an object with its digits.
PyRef make_big_int(std::string digits) {
  return make_object("builtins.int", {make_text(Kind::String, std::move(digits))});
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Tensor: return "tensor";
    case Kind::Object: return "object";
  }
  return "?";
}

std::string type_of(const PyRef& v) {
  if (!v) return "null";
  if (v->kind == Kind::Object) return v->class_name;
  return kind_name(v->kind);
}

// Appends UTF-8 for one code point.
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

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

// Little-endian two's complement bytes -> decimal (or hex for very long ones).
std::string bytes_to_decimal(const std::string& le) {
  std::vector<uint8_t> mag(le.begin(), le.end());
  const bool negative = !mag.empty() && (mag.back() & 0x80);
  if (negative) {  // magnitude = two's complement negation
    int carry = 1;
    for (auto& b : mag) {
      const int x = static_cast<uint8_t>(~b) + carry;
      b = static_cast<uint8_t>(x & 0xFF);
      carry = x >> 8;
    }
  }
  while (!mag.empty() && mag.back() == 0) mag.pop_back();
  if (mag.empty()) return "0";
  std::string digits;
  if (mag.size() > 64) {  // long division would be quadratic: use hex
    static const char* hex = "0123456789abcdef";
    for (auto it = mag.rbegin(); it != mag.rend(); ++it) {
      digits += hex[*it >> 4];
      digits += hex[*it & 15];
    }
    return (negative ? "-0x" : "0x") + digits;
  }
  while (!mag.empty()) {
    int rem = 0;
    for (auto it = mag.rbegin(); it != mag.rend(); ++it) {
      const int cur = rem * 256 + *it;
      *it = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
    }
    digits += static_cast<char>('0' + rem);
    while (!mag.empty() && mag.back() == 0) mag.pop_back();
  }
  if (negative) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

// Python class names: map Python 2 and NumPy 2 module names onto the usual ones.
std::string normalize_class(std::string module, const std::string& name) {
  if (module == "__builtin__") module = "builtins";
  else if (module == "copy_reg") module = "copyreg";
  else if (module.rfind("numpy._core", 0) == 0) module = "numpy.core" + module.substr(11);
  return module + "." + name;
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

// ---- the virtual machine ----
class Unpickler {
 public:
  Unpickler(const std::string& bytes, const std::string& origin, const StorageLoader& loader)
      : b_(bytes), origin_(origin), loader_(loader) {}

  PyRef run();

 private:
  [[noreturn]] void bad(const std::string& problem) const {
    std::string op;
    if (op_pos_ >= b_.size()) {
      op = "end of data";
    } else {
      const auto c = static_cast<unsigned char>(b_[op_pos_]);
      char buf[16];
      if (c >= 0x20 && c < 0x7F) std::snprintf(buf, sizeof buf, "opcode '%c'", c);
      else std::snprintf(buf, sizeof buf, "opcode 0x%02x", c);
      op = buf;
    }
    fail(origin_, "bad pickle at byte " + std::to_string(op_pos_) + " (" + op + "): " + problem);
  }

  // -- reading --
  void need(uint64_t n) const {
    if (n > b_.size() - pos_) {
      bad("truncated: needs " + std::to_string(n) + " more bytes, " + std::to_string(b_.size() - pos_) + " left");
    }
  }
  uint64_t read_uint(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string read_bytes(uint64_t n) {
    need(n);
    std::string s = b_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string read_line() {
    const size_t nl = b_.find('\n', pos_);
    if (nl == std::string::npos) bad("truncated: missing end of line");
    std::string s = b_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }

  // -- stack --
  void push(PyRef v) { stack_.push_back(std::move(v)); }
  PyRef pop() {
    if (stack_.empty()) bad("stack underflow");
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    if (stack_.empty()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<PyRef> pop_mark() {
    if (metastack_.empty()) bad("no MARK on the stack");
    std::vector<PyRef> items = std::move(stack_);
    stack_ = std::move(metastack_.back());
    metastack_.pop_back();
    return items;
  }
  void memo_put(uint64_t index, const PyRef& v) { memo_[index] = v; }
  PyRef memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) bad("memo entry " + std::to_string(index) + " does not exist");
    return it->second;
  }

  // -- text-protocol parsing --
  int64_t parse_decimal(const std::string& s, bool* fits) {
    std::string t = s;
    if (!t.empty() && (t.back() == 'L' || t.back() == 'l')) t.pop_back();
    int64_t v = 0;
    const char* first = t.data();
    if (!t.empty() && t[0] == '+') ++first;
    const auto res = std::from_chars(first, t.data() + t.size(), v);
    if (res.ec == std::errc::result_out_of_range) {
      // Validate the digits; the value is kept as text.
      for (char c : t) {
        if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+')) bad("invalid integer '" + s + "'");
      }
      *fits = false;
      return 0;
    }
    if (res.ec != std::errc() || res.ptr != t.data() + t.size() || t.empty()) bad("invalid integer '" + s + "'");
    *fits = true;
    return v;
  }
  PyRef int_from_text(const std::string& s) {
    bool fits = true;
    const int64_t v = parse_decimal(s, &fits);
    if (!fits) {
      std::string digits = s;
      if (!digits.empty() && (digits.back() == 'L' || digits.back() == 'l')) digits.pop_back();
      return make_big_int(digits);
    }
    return make_int(v);
  }
  std::string decode_string_literal(const std::string& s);  // STRING opcode
  std::string decode_raw_unicode_escape(const std::string& s);  // UNICODE opcode

  // -- building --
  PyRef long_from_bytes(const std::string& le);
  void dict_set(const PyRef& dict, PyRef key, PyRef value);
  void set_items(const PyRef& target, std::vector<PyRef>& kv);
  void append_items(PyValue& target, std::vector<PyRef> items);
  PyRef call(const PyRef& callable, std::vector<PyRef> args);
  PyRef call_class(const std::string& cls, std::vector<PyRef> args);
  void build(PyRef& obj, PyRef state);
  PyRef persistent_load(const PyRef& pid);
  PyRef rebuild_tensor(const std::vector<PyRef>& args);
  PyRef numpy_scalar(const std::vector<PyRef>& args);
  PyRef numpy_frombuffer(const std::vector<PyRef>& args);
  void numpy_array_from_state(PyValue& obj, const PyRef& state);
  detail::NumpyType numpy_type(const PyRef& dtype);
  at::Tensor numpy_data(const PyRef& raw, const detail::NumpyType& type, const std::vector<int64_t>& sizes,
                        bool fortran);
  std::vector<int64_t> int_list(const PyRef& v, const std::string& what);
  std::string bytes_of(const PyRef& v, const std::string& what);

  // -- after the run --
  void finalize(const PyRef& root);
  void dismantle_all();

  const std::string& b_;
  const std::string& origin_;
  const StorageLoader& loader_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<PyRef> stack_;
  std::vector<std::vector<PyRef>> metastack_;
  std::unordered_map<uint64_t, PyRef> memo_;
  // Per dict: hashable key -> index in entries, so that a repeated key
  // replaces its value (as in Python) without a quadratic search.
  // The index holds a reference to its dict so that the address cannot be reused.
  std::unordered_map<const PyValue*, std::pair<PyRef, std::unordered_map<std::string, size_t>>> dict_index_;
  std::unordered_map<std::string, at::Tensor> storages_;
};

std::string Unpickler::decode_string_literal(const std::string& s) {
  if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0]) bad("STRING argument is not quoted");
  const std::string body = s.substr(1, s.size() - 2);
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    c = body[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      case 'x': {
        if (i + 2 >= body.size()) bad("invalid \\x escape");
        const std::string hex = body.substr(i + 1, 2);
        int v = 0;
        const auto r = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
        if (r.ec != std::errc() || r.ptr != hex.data() + hex.size()) bad("invalid \\x escape");
        out += static_cast<char>(v);
        i += 2;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
            v = v * 8 + (body[++i] - '0');
          }
          out += static_cast<char>(v & 0xFF);
        } else if (c == '\\' || c == '\'' || c == '"') {
          out += c;
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

std::string Unpickler::decode_raw_unicode_escape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
      const size_t n = s[i + 1] == 'u' ? 4 : 8;
      if (i + 2 + n > s.size()) bad("invalid \\u escape in UNICODE");
      uint32_t cp = 0;
      const auto r = std::from_chars(s.data() + i + 2, s.data() + i + 2 + n, cp, 16);
      if (r.ec != std::errc() || r.ptr != s.data() + i + 2 + n || cp > 0x10FFFF) bad("invalid \\u escape in UNICODE");
      append_utf8(out, cp);
      i += 1 + n;
    } else {
      append_utf8(out, c);  // latin-1
    }
  }
  return out;
}

PyRef Unpickler::long_from_bytes(const std::string& le) {
  if (le.empty()) return make_int(0);
  const bool negative = static_cast<unsigned char>(le.back()) & 0x80;
  // Fits in int64 when every byte above the 8th is pure sign extension.
  bool fits = true;
  for (size_t i = 8; i < le.size(); ++i) {
    if (static_cast<unsigned char>(le[i]) != (negative ? 0xFF : 0x00)) fits = false;
  }
  if (fits && le.size() > 8) {
    const bool sign8 = static_cast<unsigned char>(le[7]) & 0x80;
    if (sign8 != negative) fits = false;
  }
  if (!fits) return make_big_int(bytes_to_decimal(le));
  uint64_t v = negative ? ~uint64_t{0} : 0;
  const size_t n = std::min<size_t>(le.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    v &= ~(uint64_t{0xFF} << (8 * i));
    v |= static_cast<uint64_t>(static_cast<unsigned char>(le[i])) << (8 * i);
  }
  return make_int(static_cast<int64_t>(v));
}

void Unpickler::dict_set(const PyRef& dict, PyRef key, PyRef value) {
  PyValue& d = *dict;
  std::string h;
  if (key) {
    switch (key->kind) {
      case Kind::String: h = "s" + key->text; break;
      case Kind::Bytes: h = "b" + key->text; break;
      case Kind::Int: h = "i" + std::to_string(key->integer); break;
      case Kind::Bool: h = "i" + std::to_string(key->boolean ? 1 : 0); break;
      case Kind::None: h = "n"; break;
      default: break;  // unhashable here: no de-duplication
    }
  }
  if (!h.empty()) {
    auto& slot = dict_index_[&d];
    if (!slot.first) slot.first = dict;
    auto& index = slot.second;
    const auto it = index.find(h);
    if (it != index.end() && it->second < d.entries.size()) {
      d.entries[it->second].second = std::move(value);
      return;
    }
    index[h] = d.entries.size();
  }
  d.entries.emplace_back(std::move(key), std::move(value));
}

void Unpickler::set_items(const PyRef& target, std::vector<PyRef>& kv) {
  if (kv.size() % 2 != 0) bad("odd number of items for a dict");
  if (target->kind != Kind::Dict && target->kind != Kind::Object) {
    bad("cannot set items on a " + std::string(kind_name(target->kind)));
  }
  for (size_t i = 0; i < kv.size(); i += 2) dict_set(target, std::move(kv[i]), std::move(kv[i + 1]));
}

void Unpickler::append_items(PyValue& target, std::vector<PyRef> items) {
  if (target.kind != Kind::List && target.kind != Kind::Object) {
    bad("cannot append to a " + std::string(kind_name(target.kind)));
  }
  for (auto& v : items) target.items.push_back(std::move(v));
}

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
  const bool is_storage = pid && pid->kind == Kind::Tuple && !pid->items.empty() && pid->items[0] &&
                          pid->items[0]->kind == Kind::String && pid->items[0]->text == "storage";
  if (!is_storage) bad("unsupported persistent id " + (pid ? pid->repr() : std::string("null")));
  if (pid->items.size() != 5) bad("storage persistent id has " + std::to_string(pid->items.size()) + " fields, expected 5");
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
  return make_tensor(storage);
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
  at::Tensor t = storage->tensor.as_strided(sizes, strides, offset).contiguous();
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

PyRef Unpickler::run() {
  try {
    while (true) {
      op_pos_ = pos_;
      if (pos_ >= b_.size()) bad("truncated: no STOP opcode");
      const auto op = static_cast<unsigned char>(b_[pos_++]);
      switch (op) {
        case 0x80: {  // PROTO
          const uint64_t proto = read_uint(1);
          if (proto > 5) bad("unsupported pickle protocol " + std::to_string(proto));
          break;
        }
        case 0x95:  // FRAME: framing is advisory; only check the length
          need(read_uint(8));
          break;
        case '.':  // STOP
          if (stack_.empty()) bad("STOP with an empty stack");
          {
            PyRef root = stack_.back();
            finalize(root);
            return root;
          }
        case '(':  // MARK
          metastack_.push_back(std::move(stack_));
          stack_.clear();
          break;
        case '0':  // POP
          if (stack_.empty()) pop_mark();
          else stack_.pop_back();
          break;
        case '1':  // POP_MARK
          pop_mark();
          break;
        case '2':  // DUP
          push(top());
          break;

        // -- constants and numbers --
        case 'N': push(make(Kind::None)); break;
        case 0x88: push(make_bool(true)); break;
        case 0x89: push(make_bool(false)); break;
        case 'I': {  // INT (text); I01/I00 are True/False
          const std::string s = read_line();
          if (s == "01") push(make_bool(true));
          else if (s == "00") push(make_bool(false));
          else push(int_from_text(s));
          break;
        }
        case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(read_uint(4))))); break;  // BININT
        case 'K': push(make_int(static_cast<int64_t>(read_uint(1)))); break;                         // BININT1
        case 'M': push(make_int(static_cast<int64_t>(read_uint(2)))); break;                         // BININT2
        case 'L': push(int_from_text(read_line())); break;                                           // LONG (text)
        case 0x8a: push(long_from_bytes(read_bytes(read_uint(1)))); break;                           // LONG1
        case 0x8b: {                                                                                 // LONG4
          const auto n = static_cast<int32_t>(static_cast<uint32_t>(read_uint(4)));
          if (n < 0) bad("negative LONG4 length");
          push(long_from_bytes(read_bytes(static_cast<uint64_t>(n))));
          break;
        }
        case 'F': {  // FLOAT (text)
          const std::string s = read_line();
          double d = 0;
          const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
          if (r.ec != std::errc() || r.ptr != s.data() + s.size()) bad("invalid float '" + s + "'");
          push(make_float(d));
          break;
        }
        case 'G': {  // BINFLOAT: big-endian IEEE double
          need(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(b_[pos_ + static_cast<size_t>(i)]);
          pos_ += 8;
          double d;
          std::memcpy(&d, &bits, 8);
          push(make_float(d));
          break;
        }

        // -- strings and bytes --
        case 'S': push(make_text(Kind::String, decode_string_literal(read_line()))); break;  // STRING
        case 'T': {                                                                          // BINSTRING
          const auto n = static_cast<int32_t>(static_cast<uint32_t>(read_uint(4)));
          if (n < 0) bad("negative BINSTRING length");
          push(make_text(Kind::String, read_bytes(static_cast<uint64_t>(n))));
          break;
        }
        case 'U': push(make_text(Kind::String, read_bytes(read_uint(1)))); break;                // SHORT_BINSTRING
        case 'V': push(make_text(Kind::String, decode_raw_unicode_escape(read_line()))); break;  // UNICODE
        case 'X': push(make_text(Kind::String, read_bytes(read_uint(4)))); break;                // BINUNICODE
        case 0x8c: push(make_text(Kind::String, read_bytes(read_uint(1)))); break;               // SHORT_BINUNICODE
        case 0x8d: push(make_text(Kind::String, read_bytes(read_uint(8)))); break;               // BINUNICODE8
        case 'B': push(make_text(Kind::Bytes, read_bytes(read_uint(4)))); break;                 // BINBYTES
        case 'C': push(make_text(Kind::Bytes, read_bytes(read_uint(1)))); break;                 // SHORT_BINBYTES
        case 0x8e: push(make_text(Kind::Bytes, read_bytes(read_uint(8)))); break;                // BINBYTES8
        case 0x96: push(make_text(Kind::Bytes, read_bytes(read_uint(8)))); break;                // BYTEARRAY8
        case 0x97: bad("out-of-band buffers (NEXT_BUFFER) are not supported");
        case 0x98: top(); break;  // READONLY_BUFFER: no-op on our bytes

        // -- containers --
        case ')': push(make(Kind::Tuple)); break;
        case ']': push(make(Kind::List)); break;
        case '}': push(make(Kind::Dict)); break;
        case 0x8f: push(make(Kind::List)); break;  // EMPTY_SET
        case 't': push(make_seq(Kind::Tuple, pop_mark())); break;
        case 0x85: {
          PyRef a = pop();
          push(make_seq(Kind::Tuple, {a}));
          break;
        }
        case 0x86: {
          PyRef b = pop(), a = pop();
          push(make_seq(Kind::Tuple, {a, b}));
          break;
        }
        case 0x87: {
          PyRef c = pop(), b = pop(), a = pop();
          push(make_seq(Kind::Tuple, {a, b, c}));
          break;
        }
        case 'l': push(make_seq(Kind::List, pop_mark())); break;  // LIST
        case 0x91: push(make_seq(Kind::List, pop_mark())); break;  // FROZENSET
        case 'd': {                                                // DICT
          std::vector<PyRef> kv = pop_mark();
          PyRef d = make(Kind::Dict);
          set_items(d, kv);
          push(d);
          break;
        }
        case 'a': {  // APPEND
          PyRef v = pop();
          append_items(*top(), {v});
          break;
        }
        case 'e': {  // APPENDS
          std::vector<PyRef> items = pop_mark();
          append_items(*top(), std::move(items));
          break;
        }
        case 0x90: {  // ADDITEMS
          std::vector<PyRef> items = pop_mark();
          append_items(*top(), std::move(items));
          break;
        }
        case 's': {  // SETITEM
          PyRef v = pop(), k = pop();
          std::vector<PyRef> kv{k, v};
          set_items(top(), kv);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<PyRef> kv = pop_mark();
          set_items(top(), kv);
          break;
        }

        // -- memo --
        case 'p': {  // PUT (text)
          bool fits = true;
          const int64_t i = parse_decimal(read_line(), &fits);
          if (!fits || i < 0) bad("invalid memo index");
          memo_put(static_cast<uint64_t>(i), top());
          break;
        }
        case 'q': memo_put(read_uint(1), top()); break;  // BINPUT
        case 'r': memo_put(read_uint(4), top()); break;  // LONG_BINPUT
        case 0x94: memo_put(memo_.size(), top()); break;  // MEMOIZE
        case 'g': {  // GET (text)
          bool fits = true;
          const int64_t i = parse_decimal(read_line(), &fits);
          if (!fits || i < 0) bad("invalid memo index");
          push(memo_get(static_cast<uint64_t>(i)));
          break;
        }
        case 'h': push(memo_get(read_uint(1))); break;  // BINGET
        case 'j': push(memo_get(read_uint(4))); break;  // LONG_BINGET

        // -- classes and objects --
        case 'c': {  // GLOBAL
          const std::string module = read_line();
          const std::string name = read_line();
          push(make_object(normalize_class(module, name)));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PyRef name = pop(), module = pop();
          if (!name || !module || name->kind != Kind::String || module->kind != Kind::String) {
            bad("STACK_GLOBAL needs two strings");
          }
          push(make_object(normalize_class(module->text, name->text)));
          break;
        }
        case 'R': {  // REDUCE
          PyRef args = pop();
          PyRef callable = pop();
          if (!args || (args->kind != Kind::Tuple && args->kind != Kind::List)) {
            bad("REDUCE arguments are a " + type_of(args) + ", expected a tuple");
          }
          push(call(callable, args->items));
          break;
        }
        case 0x81: {  // NEWOBJ
          PyRef args = pop();
          PyRef cls = pop();
          if (!args || args->kind != Kind::Tuple) bad("NEWOBJ arguments are not a tuple");
          push(call(cls, args->items));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          PyRef kwargs = pop();
          PyRef args = pop();
          PyRef cls = pop();
          if (!args || args->kind != Kind::Tuple) bad("NEWOBJ_EX arguments are not a tuple");
          std::vector<PyRef> a = args->items;
          if (kwargs && kwargs->kind == Kind::Dict && !kwargs->entries.empty()) a.push_back(kwargs);
          push(call(cls, std::move(a)));
          break;
        }
        case 'i': {  // INST
          const std::string module = read_line();
          const std::string name = read_line();
          push(call_class(normalize_class(module, name), pop_mark()));
          break;
        }
        case 'o': {  // OBJ
          std::vector<PyRef> items = pop_mark();
          if (items.empty()) bad("OBJ without a class");
          PyRef cls = items.front();
          items.erase(items.begin());
          push(call(cls, std::move(items)));
          break;
        }
        case 'b': {  // BUILD
          PyRef state = pop();
          build(top(), std::move(state));
          break;
        }
        case 'P': {  // PERSID (text)
          PyRef pid = make_text(Kind::String, read_line());
          push(persistent_load(pid));
          break;
        }
        case 'Q': {  // BINPERSID
          PyRef pid = pop();
          push(persistent_load(pid));
          break;
        }
        case 0x82:
        case 0x83:
        case 0x84:
          bad("extension codes (EXT1/EXT2/EXT4) are not supported");
        default:
          bad("unknown opcode");
      }
    }
  } catch (...) {
    dismantle_all();
    throw;
  }
}

// Children of a value, as slots that can be replaced.
PyRef* child_slot(PyValue& v, size_t i) {
  if (i < v.items.size()) return &v.items[i];
  i -= v.items.size();
  if (i < 2 * v.entries.size()) return i % 2 == 0 ? &v.entries[i / 2].first : &v.entries[i / 2].second;
  i -= 2 * v.entries.size();
  if (i < v.args.size()) return &v.args[i];
  i -= v.args.size();
  return i == 0 ? &v.state : nullptr;
}

// Frees a graph without recursive destructors: every node's children are
// moved into a work list before the node itself goes.
// Nodes in `keep` (still in use) are only released, never emptied.
void dismantle(std::vector<PyRef> work, const std::unordered_map<const PyValue*, uint8_t>* keep = nullptr) {
  while (!work.empty()) {
    PyRef v = std::move(work.back());
    work.pop_back();
    if (!v || (keep && keep->count(v.get()))) continue;
    for (auto& x : v->items) work.push_back(std::move(x));
    for (auto& [k, x] : v->entries) {
      work.push_back(std::move(k));
      work.push_back(std::move(x));
    }
    for (auto& x : v->args) work.push_back(std::move(x));
    work.push_back(std::move(v->state));
    v->items.clear();
    v->entries.clear();
    v->args.clear();
  }
}

void Unpickler::dismantle_all() {
  std::vector<PyRef> work = std::move(stack_);
  for (auto& s : metastack_) {
    for (auto& v : s) work.push_back(std::move(v));
  }
  for (auto& [k, v] : memo_) work.push_back(std::move(v));
  for (auto& [p, entry] : dict_index_) work.push_back(std::move(entry.first));
  memo_.clear();
  metastack_.clear();
  dict_index_.clear();
  dismantle(std::move(work));
}

void Unpickler::finalize(const PyRef& root) {
  // Cut reference cycles (OmegaConf nodes point back to their parent): a
  // child that is one of its own ancestors becomes None. Then the result can
  // be freed by reference counting and walked recursively without looping.
  // Values nested deeper than kMaxDepth are refused.
  enum Color : uint8_t { kGrey = 1, kBlack = 2 };
  std::unordered_map<const PyValue*, uint8_t> color;
  struct Frame {
    PyValue* node;
    size_t next;
  };
  std::vector<Frame> path;
  color[root.get()] = kGrey;
  path.push_back({root.get(), 0});
  while (!path.empty()) {
    Frame& f = path.back();
    PyRef* slot = child_slot(*f.node, f.next);
    if (!slot) {
      color[f.node] = kBlack;
      path.pop_back();
      continue;
    }
    ++f.next;
    if (!*slot) continue;
    const auto it = color.find(slot->get());
    if (it == color.end()) {
      if (path.size() >= kMaxDepth) {
        stack_.push_back(root);
        dismantle_all();
        bad("values are nested more than " + std::to_string(kMaxDepth) + " levels deep");
      }
      color[slot->get()] = kGrey;
      path.push_back({slot->get(), 0});
    } else if (it->second == kGrey) {
      *slot = make(Kind::None);  // a back reference: cut the cycle
    }
  }
  // Release the VM's references; the caller keeps the root.
  std::vector<PyRef> rest = std::move(stack_);
  stack_.clear();
  for (auto& s : metastack_) {
    for (auto& v : s) rest.push_back(std::move(v));
  }
  metastack_.clear();
  for (auto& [k, v] : memo_) rest.push_back(std::move(v));
  memo_.clear();
  for (auto& [p, entry] : dict_index_) rest.push_back(std::move(entry.first));
  dict_index_.clear();
  // Values that the root does not reach are freed without recursion; the
  // root's own nodes are left intact.
  dismantle(std::move(rest), &color);
}

}  // namespace

PyRef parse_pickle(const std::string& bytes, const std::string& origin, const StorageLoader& load_storage) {
  Unpickler vm(bytes, origin, load_storage);
  try {
    return vm.run();
  } catch (const c10::Error& e) {
    fail(origin, std::string("cannot rebuild a tensor: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    fail(origin, "out of memory while reading the pickle");
  }
}

}  // namespace fovea::io
