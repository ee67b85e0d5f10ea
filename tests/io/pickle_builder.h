#pragma once
// Writes pickle opcodes by hand, for tests that need pickles Python would not
// produce (malformed ones) or that must not depend on Python.
#include <cstdint>
#include <string>

namespace fovea_test {

class PickleWriter {
 public:
  PickleWriter& proto(int p) { return raw("\x80", 1).byte(p); }
  PickleWriter& stop() { return op('.'); }
  PickleWriter& mark() { return op('('); }
  PickleWriter& op(char c) {
    b_ += c;
    return *this;
  }
  PickleWriter& raw(const char* s, size_t n) {
    b_.append(s, n);
    return *this;
  }
  PickleWriter& raw(const std::string& s) {
    b_ += s;
    return *this;
  }
  PickleWriter& byte(int v) {
    b_ += static_cast<char>(v & 0xFF);
    return *this;
  }
  PickleWriter& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) byte(static_cast<int>(v >> (8 * i)));
    return *this;
  }
  // BININT1 / BININT2 / BININT as needed.
  PickleWriter& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').byte(static_cast<int>(v));
    if (v >= 0 && v < 65536) return op('M').byte(static_cast<int>(v)).byte(static_cast<int>(v >> 8));
    return op('J').u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
  }
  PickleWriter& str(const std::string& s) { return op('X').u32(static_cast<uint32_t>(s.size())).raw(s); }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  PickleWriter& tuple() { return op('t'); }
  PickleWriter& empty_tuple() { return op(')'); }
  PickleWriter& empty_dict() { return op('}'); }
  PickleWriter& empty_list() { return op(']'); }
  PickleWriter& setitems() { return op('u'); }
  PickleWriter& appends() { return op('e'); }
  PickleWriter& reduce() { return op('R'); }
  PickleWriter& build() { return op('b'); }
  PickleWriter& binpersid() { return op('Q'); }
  PickleWriter& none() { return op('N'); }
  PickleWriter& boolean(bool v) { return op(v ? '\x88' : '\x89'); }
  PickleWriter& put(int i) { return op('q').byte(i); }
  PickleWriter& get(int i) { return op('h').byte(i); }

  // A tuple of ints: MARK ints TUPLE.
  PickleWriter& int_tuple(std::initializer_list<int64_t> values) {
    mark();
    for (auto v : values) integer(v);
    return tuple();
  }

  // torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel),
  //                                 offset, size, stride, False, OrderedDict())
  PickleWriter& tensor(const std::string& storage_type, const std::string& key, int64_t numel, int64_t offset,
                       std::initializer_list<int64_t> size, std::initializer_list<int64_t> stride) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().str("storage").global("torch", storage_type).str(key).str("cpu").integer(numel).tuple().binpersid();
    integer(offset).int_tuple(size).int_tuple(stride).boolean(false);
    global("collections", "OrderedDict").empty_tuple().reduce();
    return tuple().reduce();
  }

  const std::string& bytes() const { return b_; }

 private:
  std::string b_;
};

}  // namespace fovea_test
