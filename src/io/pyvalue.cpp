// PyValue accessors, a short repr, and OmegaConf -> plain data.
#include <ATen/ATen.h>

#include <cstdio>
#include <unordered_map>

#include "fovea/error.h"
#include "fovea/io/pickle.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

using Kind = PyValue::Kind;

constexpr size_t kReprLimit = 240;
constexpr int kReprDepth = 4;
constexpr int kMaxDepth = 1000;

void repr_into(const PyValue& v, std::string& out, int depth) {
  if (out.size() > kReprLimit) return;
  auto seq = [&](const std::vector<PyRef>& items, const char* open, const char* close) {
    out += open;
    if (depth >= kReprDepth && !items.empty()) {
      out += "...";
    } else {
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        if (out.size() > kReprLimit || i >= 16) {
          out += "...";
          break;
        }
        if (items[i]) repr_into(*items[i], out, depth + 1);
        else out += "null";
      }
    }
    if (items.size() == 1 && std::string(open) == "(") out += ",";
    out += close;
  };
  switch (v.kind) {
    case Kind::None: out += "None"; break;
    case Kind::Bool: out += v.boolean ? "True" : "False"; break;
    case Kind::Int: out += std::to_string(v.integer); break;
    case Kind::Float: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.number);
      out += buf;
      break;
    }
    case Kind::String:
    case Kind::Bytes: {
      out += v.kind == Kind::Bytes ? "b'" : "'";
      for (size_t i = 0; i < v.text.size() && i < 64; ++i) {
        const auto c = static_cast<unsigned char>(v.text[i]);
        if (c == '\'' || c == '\\') {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7F || (v.kind == Kind::Bytes && c >= 0x80)) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
      }
      if (v.text.size() > 64) out += "...";
      out += "'";
      break;
    }
    case Kind::List: seq(v.items, "[", "]"); break;
    case Kind::Tuple: seq(v.items, "(", ")"); break;
    case Kind::Dict: {
      out += "{";
      for (size_t i = 0; i < v.entries.size(); ++i) {
        if (i) out += ", ";
        if (out.size() > kReprLimit || i >= 16 || depth >= kReprDepth) {
          out += "...";
          break;
        }
        if (v.entries[i].first) repr_into(*v.entries[i].first, out, depth + 1);
        out += ": ";
        if (v.entries[i].second) repr_into(*v.entries[i].second, out, depth + 1);
      }
      out += "}";
      break;
    }
    case Kind::Tensor:
      if (!v.tensor.defined()) {
        out += "tensor(undefined)";
      } else {
        out += "tensor(" + detail::dtype_name(v.tensor.scalar_type()) + ", " + c10::str(v.tensor.sizes()) + ")";
      }
      break;
    case Kind::Object:
      out += v.class_name;
      seq(v.args, "(", ")");
      break;
  }
}

std::string describe(const PyValue& v) {
  std::string r = v.repr();
  if (r.size() > 80) r = r.substr(0, 77) + "...";
  return r;
}

[[noreturn]] void wrong_kind(const PyValue& v, const char* expected) {
  throw Error(std::string("expected ") + expected + ", got " + describe(v));
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

class OmegaConfConverter {
 public:
  PyRef convert(const PyRef& v, int depth) {
    if (!v) return v;
    if (depth > kMaxDepth) throw Error("omegaconf_to_plain: values nested more than 1000 levels deep");
    const auto it = done_.find(v.get());
    if (it != done_.end()) return it->second;
    PyRef out = convert_uncached(v, depth);
    done_[v.get()] = out;
    return out;
  }

 private:
  PyRef state_entry(const PyValue& obj, const char* key) {
    return obj.state ? obj.state->get(key) : nullptr;
  }

  PyRef convert_uncached(const PyRef& v, int depth) {
    switch (v->kind) {
      case Kind::Dict: {
        auto d = std::make_shared<PyValue>();
        d->kind = Kind::Dict;
        for (const auto& [k, x] : v->entries) d->entries.emplace_back(k, convert(x, depth + 1));
        return d;
      }
      case Kind::List:
      case Kind::Tuple: {
        auto l = std::make_shared<PyValue>();
        l->kind = v->kind;
        for (const auto& x : v->items) l->items.push_back(convert(x, depth + 1));
        return l;
      }
      case Kind::Object: break;
      default: return v;
    }
    const std::string& cls = v->class_name;
    if (cls == "omegaconf.dictconfig.DictConfig" || cls == "omegaconf.listconfig.ListConfig") {
      const PyRef content = state_entry(*v, "_content");
      if (!content) {
        auto empty = std::make_shared<PyValue>();
        empty->kind = cls == "omegaconf.dictconfig.DictConfig" ? Kind::Dict : Kind::List;
        return empty;
      }
      // None (a None-valued config) and strings ("???", interpolations) stay as they are.
      return convert(content, depth + 1);
    }
    if (starts_with(cls, "omegaconf.nodes.")) {
      const PyRef val = state_entry(*v, "_val");
      if (!val) {
        auto none = std::make_shared<PyValue>();
        return none;
      }
      return convert(val, depth + 1);
    }
    if (!v->entries.empty()) {  // an instance of a dict subclass
      auto d = std::make_shared<PyValue>();
      d->kind = Kind::Dict;
      for (const auto& [k, x] : v->entries) d->entries.emplace_back(k, convert(x, depth + 1));
      return d;
    }
    return v;
  }

  std::unordered_map<const PyValue*, PyRef> done_;
};

}  // namespace

PyValue::~PyValue() {
  // Children that only this value owns are taken apart here, one level at a
  // time, instead of by their own (recursive) destructors.
  std::vector<PyRef> work;
  auto take = [&work](PyValue& v) {
    for (auto& x : v.items) work.push_back(std::move(x));
    for (auto& [k, x] : v.entries) {
      work.push_back(std::move(k));
      work.push_back(std::move(x));
    }
    for (auto& x : v.args) work.push_back(std::move(x));
    if (v.state) work.push_back(std::move(v.state));
    v.items.clear();
    v.entries.clear();
    v.args.clear();
  };
  take(*this);
  while (!work.empty()) {
    PyRef v = std::move(work.back());
    work.pop_back();
    if (v && v.use_count() == 1) take(*v);
  }
}

PyRef PyValue::get(const std::string& key) const {
  if (kind != Kind::Dict && kind != Kind::Object) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k && k->kind == Kind::String && k->text == key) return v;
  }
  return nullptr;
}

int64_t PyValue::as_int() const {
  if (kind == Kind::Int) return integer;
  if (kind == Kind::Bool) return boolean ? 1 : 0;
  wrong_kind(*this, "an int");
}

double PyValue::as_double() const {
  if (kind == Kind::Float) return number;
  if (kind == Kind::Int) return static_cast<double>(integer);
  if (kind == Kind::Bool) return boolean ? 1.0 : 0.0;
  wrong_kind(*this, "a number");
}

const std::string& PyValue::as_string() const {
  if (kind == Kind::String) return text;
  wrong_kind(*this, "a str");
}

std::string PyValue::repr() const {
  std::string out;
  repr_into(*this, out, 0);
  return out;
}

PyRef omegaconf_to_plain(const PyRef& value) {
  OmegaConfConverter converter;
  return converter.convert(value, 0);
}

}  // namespace fovea::io
