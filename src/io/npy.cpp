// NumPy .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#include "fovea/io/npy.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;
constexpr size_t kGrowthAxisMaxDigits = 21;  // numpy pads the header for in-place growth

// ---- a tiny parser for the header: a Python dict literal ----
struct Literal {
  enum class Type { String, Int, Bool, None, Tuple, List, Dict } type = Type::None;
  std::string text;
  int64_t integer = 0;
  bool boolean = false;
  std::vector<Literal> items;
  std::vector<std::pair<std::string, Literal>> entries;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& origin) : s_(text), origin_(origin) {}

  Literal parse() {
    Literal v = value(0);
    skip_space();
    if (pos_ != s_.size()) bad("unexpected text after the header dict");
    return v;
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    fail(origin_, "malformed .npy header (" + what + " at character " + std::to_string(pos_) + ")");
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Literal value(int depth) {
    if (depth > 16) bad("nesting too deep");
    skip_space();
    if (pos_ >= s_.size()) bad("unexpected end");
    const char c = s_[pos_];
    if (c == '\'' || c == '"') return string();
    if (c == '{') return dict(depth);
    if (c == '(') return sequence(depth, ')', Literal::Type::Tuple);
    if (c == '[') return sequence(depth, ']', Literal::Type::List);
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return integer();
    if (std::isalpha(static_cast<unsigned char>(c))) {
      size_t end = pos_;
      while (end < s_.size() && std::isalnum(static_cast<unsigned char>(s_[end]))) ++end;
      const std::string word = s_.substr(pos_, end - pos_);
      Literal v;
      if (word == "True" || word == "False") {
        v.type = Literal::Type::Bool;
        v.boolean = word == "True";
      } else if (word == "None") {
        v.type = Literal::Type::None;
      } else {
        bad("unexpected word '" + word + "'");
      }
      pos_ = end;
      return v;
    }
    bad(std::string("unexpected character '") + c + "'");
  }

  Literal string() {
    const char quote = s_[pos_++];
    Literal v;
    v.type = Literal::Type::String;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      v.text += s_[pos_++];
    }
    if (pos_ >= s_.size()) bad("unterminated string");
    ++pos_;
    return v;
  }

  Literal integer() {
    Literal v;
    v.type = Literal::Type::Int;
    bool negative = false;
    if (s_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) bad("expected a digit");
    int64_t x = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (detail::mul_overflows(x, 10, &x) || detail::add_overflows(x, s_[pos_] - '0', &x)) {
        bad("integer too large");
      }
      ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;  // Python 2 long
    v.integer = negative ? -x : x;
    return v;
  }

  Literal sequence(int depth, char close, Literal::Type type) {
    ++pos_;
    Literal v;
    v.type = type;
    while (true) {
      if (eat(close)) return v;
      v.items.push_back(value(depth + 1));
      if (eat(close)) return v;
      if (!eat(',')) bad("expected ',' or closing bracket");
    }
  }

  Literal dict(int depth) {
    ++pos_;
    Literal v;
    v.type = Literal::Type::Dict;
    while (true) {
      if (eat('}')) return v;
      Literal key = value(depth + 1);
      if (key.type != Literal::Type::String) bad("dict key is not a string");
      if (!eat(':')) bad("expected ':'");
      v.entries.emplace_back(key.text, value(depth + 1));
      if (eat('}')) return v;
      if (!eat(',')) bad("expected ',' or '}'");
    }
  }

  const std::string& s_;
  const std::string& origin_;
  size_t pos_ = 0;
};

const Literal* find_key(const Literal& dict, const std::string& key) {
  for (const auto& [k, v] : dict.entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string descr_of(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kHalf: return "<f2";
    case at::kLong: return "<i8";
    case at::kInt: return "<i4";
    case at::kShort: return "<i2";
    case at::kChar: return "|i1";
    case at::kByte: return "|u1";
    case at::kBool: return "|b1";
    default:
      throw Error("serialize_npy: tensors of dtype " + detail::dtype_name(dtype) +
                  " cannot be written to .npy (supported: float16/32/64, int8/16/32/64, uint8, bool)");
  }
}

uint32_t read_le(const std::string& b, size_t pos, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[pos + i])) << (8 * i);
  return v;
}

}  // namespace

namespace detail {

at::Tensor read_npy_stream(ByteSource& source, const std::string& origin) {
  char pre[12];
  size_t got = source.read_full(pre, 10);
  if (got < kMagicLen || std::memcmp(pre, kMagic, kMagicLen) != 0) {
    fail(origin, "not an .npy file (bad magic: expected \\x93NUMPY)");
  }
  check(got == 10, origin, "truncated: the file ends inside the .npy preamble");
  const int major = static_cast<unsigned char>(pre[6]);
  const int minor = static_cast<unsigned char>(pre[7]);
  size_t len_bytes = 0;
  if (major == 1) len_bytes = 2;
  else if (major == 2 || major == 3) len_bytes = 4;
  else fail(origin, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  if (len_bytes == 4) check(source.read_full(pre + 10, 2) == 2, origin, "truncated: the file ends inside the .npy preamble");
  const std::string preamble(pre, kMagicLen + 2 + len_bytes);
  const size_t header_len = read_le(preamble, kMagicLen + 2, len_bytes);
  check(source.remaining() >= header_len, origin,
        "truncated: header says " + std::to_string(header_len) + " bytes of header, file has " +
            std::to_string(source.remaining()));
  std::string header(header_len, '\0');
  got = source.read_full(header.data(), header_len);
  check(got == header_len, origin,
        "truncated: header says " + std::to_string(header_len) + " bytes of header, file has " + std::to_string(got));

  const Literal dict = HeaderParser(header, origin).parse();
  check(dict.type == Literal::Type::Dict, origin, "malformed .npy header (not a dict)");
  const Literal* descr = find_key(dict, "descr");
  const Literal* fortran = find_key(dict, "fortran_order");
  const Literal* shape = find_key(dict, "shape");
  check(descr != nullptr && fortran != nullptr && shape != nullptr, origin,
        "malformed .npy header (needs 'descr', 'fortran_order' and 'shape')");
  check(descr->type == Literal::Type::String, origin,
        "unsupported dtype: structured arrays (record dtypes) are not supported");
  check(fortran->type == Literal::Type::Bool, origin, "malformed .npy header ('fortran_order' is not True/False)");
  check(shape->type == Literal::Type::Tuple, origin, "malformed .npy header ('shape' is not a tuple)");

  const NumpyType type = parse_numpy_dtype(descr->text, origin);
  std::vector<int64_t> sizes;
  int64_t numel = 1;
  for (const auto& d : shape->items) {
    check(d.type == Literal::Type::Int && d.integer >= 0, origin,
          "malformed .npy header ('shape' must hold non-negative integers)");
    sizes.push_back(d.integer);
    check(!mul_overflows(numel, d.integer, &numel), origin, "shape too large");
  }
  int64_t nbytes = 0;
  check(!mul_overflows(numel, type.itemsize, &nbytes), origin, "shape too large");
  // Checked before allocating: a corrupt shape must not allocate terabytes.
  const uint64_t available = source.remaining();
  check(static_cast<uint64_t>(nbytes) <= available, origin,
        "truncated: header says " + std::to_string(nbytes) + " bytes of data, file has " + std::to_string(available));
  // Bytes after the data are ignored, as numpy does.

  const auto nb = static_cast<size_t>(nbytes);
  if (type.widen_u16 || type.widen_u32) {
    std::string data(nb, '\0');
    got = source.read_full(data.data(), nb);
    check(got == nb, origin,
          "truncated: header says " + std::to_string(nbytes) + " bytes of data, file has " + std::to_string(got));
    return numpy_bytes_to_tensor(data.data(), nbytes, type, sizes, fortran->boolean);
  }
  // Read straight into the tensor's memory.
  at::Tensor t = at::empty(stored_sizes(sizes, fortran->boolean), at::TensorOptions().dtype(type.dtype));
  got = nb > 0 ? source.read_full(static_cast<char*>(t.data_ptr()), nb) : 0;
  check(got == nb, origin,
        "truncated: header says " + std::to_string(nbytes) + " bytes of data, file has " + std::to_string(got));
  return finish_numpy_tensor(t, type, fortran->boolean);
}

}  // namespace detail

at::Tensor parse_npy(const std::string& bytes, const std::string& origin) {
  detail::MemorySource source(bytes);
  return detail::read_npy_stream(source, origin);
}

std::string serialize_npy(const at::Tensor& tensor) {
  check(tensor.defined(), "serialize_npy", "undefined tensor");
  const std::string descr = descr_of(tensor.scalar_type());
  const at::Tensor t = tensor.detach().to(at::kCPU).contiguous();

  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) {
    shape += std::to_string(t.size(i));
    shape += (t.dim() == 1) ? "," : (i + 1 < t.dim() ? ", " : "");
  }
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  if (t.dim() > 0) {
    const size_t digits = std::to_string(t.size(0)).size();
    header.append(kGrowthAxisMaxDigits - std::min(digits, kGrowthAxisMaxDigits), ' ');
  }
  // Version 1.0 stores the header length in 2 bytes, 2.0 in 4.
  const size_t hlen = header.size() + 1;  // + '\n'
  size_t len_bytes = 2;
  int major = 1;
  auto padding = [&](size_t lb) { return kAlign - ((kMagicLen + 2 + lb + hlen) % kAlign); };
  if (hlen + padding(2) > 0xFFFF) {
    len_bytes = 4;
    major = 2;
  }
  const size_t pad = padding(len_bytes);
  const size_t total_header = hlen + pad;

  std::string out;
  out.reserve(kMagicLen + 2 + len_bytes + total_header + t.nbytes());
  out.append(kMagic, kMagicLen);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  for (size_t i = 0; i < len_bytes; ++i) out.push_back(static_cast<char>((total_header >> (8 * i)) & 0xFF));
  out += header;
  out.append(pad, ' ');
  out.push_back('\n');
  if (t.nbytes() > 0) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

at::Tensor read_npy(const std::string& path) {
  const std::unique_ptr<detail::ByteSource> source = detail::open_file(path);
  return detail::read_npy_stream(*source, path);
}

void write_npy(const std::string& path, const at::Tensor& tensor) {
  std::string bytes;
  try {
    bytes = serialize_npy(tensor);
  } catch (const Error& e) {
    fail(path, e.what());
  }
  write_file_atomic(path, bytes);
}

}  // namespace fovea::io
