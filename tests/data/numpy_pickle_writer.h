#pragma once
// Writes a pickle of a dict of numpy arrays (and strings) with the opcodes
// that numpy's ndarray.__reduce__ produces under pickle protocol 3:
// numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'), then BUILD
// with (1, shape, dtype(descr, False, True) + its state, False, raw bytes).
// For tests of readers of Python-made pickles (the Höfling 2024 movies).
#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace fovea::test {

class NumpyPickle {
 public:

  // `descr` is numpy's dtype string without the byte order ('f4', 'f8', 'u1', 'i8');
  // the tensor must already have that element type.
  void add_array(const std::string& key, const at::Tensor& t, const std::string& descr) {
    entries_.push_back({key, t.contiguous(), descr, ""});
  }
  void add_string(const std::string& key, const std::string& value) { entries_.push_back({key, {}, "", value}); }

  std::string bytes() const {
    std::string p = "\x80\x03}(";  // PROTO 3, EMPTY_DICT, MARK
    for (const auto& e : entries_) {
      unicode(p, e.key);
      if (!e.tensor.defined()) {
        unicode(p, e.text);
        continue;
      }
      p += "cnumpy.core.multiarray\n_reconstruct\n";
      p += "cnumpy\nndarray\n";
      p += std::string("K\x00\x85", 3);  // (0,)
      p += std::string("C\x01" "b", 3);  // b'b'
      p += "\x87R";                // TUPLE3, REDUCE
      p += "(K\x01(";              // state: (1, shape, dtype, False, data)
      for (int64_t d : e.tensor.sizes()) integer(p, d);
      p += "t";
      p += "cnumpy\ndtype\n";
      unicode(p, e.descr);
      p += "\x89\x88\x87R";        // (descr, False, True), REDUCE
      p += "(K\x03";               // dtype state (3, order, None, None, None, -1, -1, 0)
      unicode(p, e.descr == "u1" || e.descr == "i1" || e.descr == "b1" ? "|" : "<");
      p += std::string("NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb", 17);
      p += "\x89";                 // is_fortran False
      const size_t n = static_cast<size_t>(e.tensor.numel() * e.tensor.element_size());
      p += "B";
      le32(p, static_cast<uint32_t>(n));
      p.append(static_cast<const char*>(e.tensor.data_ptr()), n);
      p += "tb";                   // TUPLE, BUILD
    }
    p += "u.";  // SETITEMS, STOP
    return p;
  }

 private:
  struct Entry {
    std::string key;
    at::Tensor tensor;
    std::string descr, text;
  };
  static void le32(std::string& p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static void unicode(std::string& p, const std::string& s) {
    p += "X";
    le32(p, static_cast<uint32_t>(s.size()));
    p += s;
  }
  static void integer(std::string& p, int64_t v) {
    p += "J";  // BININT (shapes here fit in int32)
    le32(p, static_cast<uint32_t>(static_cast<int32_t>(v)));
  }
  std::vector<Entry> entries_;
};

}  // namespace fovea::test
