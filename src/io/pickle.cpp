// A pickle virtual machine (protocols 0-5) that builds plain PyValues: the
// opcodes, the memo and the stack. What calling a class produces is in
// pickle_rebuild.cpp. Reference: CPython's Lib/pickle.py and pickletools.py.
// Every length and index read from the bytes is checked; a bad pickle throws
// fovea::Error.
#include <ATen/ATen.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "io/unpickler.h"

namespace fovea::io {
namespace pickle_detail {
namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace pickle_detail

PyRef parse_pickle(const std::string& bytes, const std::string& origin, const StorageLoader& load_storage) {
  return parse_pickle_at(bytes, 0, origin, load_storage, nullptr);
}

PyRef parse_pickle_at(const std::string& bytes, size_t offset, const std::string& origin,
                      const StorageLoader& load_storage, size_t* end) {
  if (offset > bytes.size()) {
    fail(origin, "bad pickle: starts at byte " + std::to_string(offset) + ", past the end of the data (" +
                     std::to_string(bytes.size()) + " bytes)");
  }
  pickle_detail::Unpickler vm(bytes, origin, load_storage, offset);
  try {
    PyRef root = vm.run();
    if (end) *end = vm.end();
    return root;
  } catch (const c10::Error& e) {
    fail(origin, std::string("cannot rebuild a tensor: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    fail(origin, "out of memory while reading the pickle");
  }
}

}  // namespace fovea::io
