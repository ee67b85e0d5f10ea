#pragma once
// The pickle virtual machine's internals, shared by pickle.cpp (the opcodes)
// and pickle_rebuild.cpp (what calling a class or BUILD produces).
#include <ATen/core/Tensor.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fovea/error.h"
#include "fovea/io/pickle.h"
#include "io/detail.h"

namespace fovea::io::pickle_detail {

using Kind = PyValue::Kind;

// Values nested deeper than this are refused (consumers recurse).
constexpr size_t kMaxDepth = 512;

// ---- value constructors ----
inline PyRef make(Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}
inline PyRef make_bool(bool b) {
  auto v = make(Kind::Bool);
  v->boolean = b;
  return v;
}
inline PyRef make_int(int64_t i) {
  auto v = make(Kind::Int);
  v->integer = i;
  return v;
}
inline PyRef make_float(double d) {
  auto v = make(Kind::Float);
  v->number = d;
  return v;
}
inline PyRef make_text(Kind k, std::string s) {
  auto v = make(k);
  v->text = std::move(s);
  return v;
}
inline PyRef make_seq(Kind k, std::vector<PyRef> items) {
  auto v = make(k);
  v->items = std::move(items);
  return v;
}
inline PyRef make_object(std::string cls, std::vector<PyRef> args = {}) {
  auto v = make(Kind::Object);
  v->class_name = std::move(cls);
  v->args = std::move(args);
  return v;
}
inline PyRef make_tensor(at::Tensor t) {
  auto v = make(Kind::Tensor);
  v->tensor = std::move(t);
  return v;
}

// A Python integer too large for int64: kept as an object with its digits.
inline PyRef make_big_int(std::string digits) {
  return make_object("builtins.int", {make_text(Kind::String, std::move(digits))});
}

inline const char* kind_name(Kind k) {
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

inline std::string type_of(const PyRef& v) {
  if (!v) return "null";
  if (v->kind == Kind::Object) return v->class_name;
  return kind_name(v->kind);
}

// The virtual machine: one instance per parse.
class Unpickler {
 public:
  // Runs the pickle that starts at byte `start` of `bytes` (several pickles
  // may follow one another, as in torch.save's legacy container).
  Unpickler(const std::string& bytes, const std::string& origin, const StorageLoader& loader, size_t start = 0)
      : b_(bytes), origin_(origin), loader_(loader), pos_(start) {}

  PyRef run();
  // After run(): the offset just past the pickle's STOP opcode.
  size_t end() const { return pos_; }

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
  at::Tensor storage_view(const at::Tensor& root, const std::string& key, const PyRef& view);
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
  // Calls nested in calls (_rebuild_from_type_v2, copyreg.__newobj_ex__ call
  // what their arguments name): bounded like nested values, or a long chain
  // of them would overflow the C++ stack.
  size_t call_depth_ = 0;
  std::vector<PyRef> stack_;
  std::vector<std::vector<PyRef>> metastack_;
  std::unordered_map<uint64_t, PyRef> memo_;
  // Per dict: hashable key -> index in entries, so that a repeated key
  // replaces its value (as in Python) without a quadratic search.
  // The index holds a reference to its dict so that the address cannot be reused.
  std::unordered_map<const PyValue*, std::pair<PyRef, std::unordered_map<std::string, size_t>>> dict_index_;
  std::unordered_map<std::string, at::Tensor> storages_;
};

}  // namespace fovea::io::pickle_detail
