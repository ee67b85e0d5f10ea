// NumPy dtype strings and raw array bytes -> tensors (for .npy and pickles).
#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "fovea/error.h"
#include "io/detail.h"

namespace fovea::io::detail {

NumpyType parse_numpy_dtype(const std::string& descr, const std::string& origin) {
  const std::string supported =
      " (supported: float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, bool)";
  auto unsupported = [&]() { fail(origin, "unsupported dtype '" + descr + "'" + supported); };
  std::string s = descr;
  char order = '=';
  if (!s.empty() && std::strchr("<>|=", s[0]) != nullptr) {
    order = s[0];
    s = s.substr(1);
  }
  if (s.size() < 2 || s.size() > 3) unsupported();
  const char kind = s[0];
  int64_t size = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) unsupported();
    size = size * 10 + (s[i] - '0');
  }
  NumpyType t;
  t.itemsize = size;
  t.big_endian = order == '>';
  bool ok = true;
  switch (kind) {
    case 'f':
      if (size == 2) t.dtype = at::kHalf;
      else if (size == 4) t.dtype = at::kFloat;
      else if (size == 8) t.dtype = at::kDouble;
      else ok = false;
      break;
    case 'i':
      if (size == 1) t.dtype = at::kChar;
      else if (size == 2) t.dtype = at::kShort;
      else if (size == 4) t.dtype = at::kInt;
      else if (size == 8) t.dtype = at::kLong;
      else ok = false;
      break;
    case 'u':
      if (size == 1) {
        t.dtype = at::kByte;
      } else if (size == 2) {
        t.dtype = at::kInt;
        t.widen_u16 = true;
      } else if (size == 4) {
        t.dtype = at::kLong;
        t.widen_u32 = true;
      } else {
        ok = false;
      }
      break;
    case 'b':
      if (size == 1) t.dtype = at::kBool;
      else ok = false;
      break;
    default:
      ok = false;
  }
  if (!ok) unsupported();
  return t;
}

std::vector<int64_t> stored_sizes(const std::vector<int64_t>& sizes, bool fortran_order) {
  std::vector<int64_t> s = sizes;
  if (fortran_order) std::reverse(s.begin(), s.end());
  return s;
}

at::Tensor finish_numpy_tensor(at::Tensor t, const NumpyType& type, bool fortran_order) {
  const int64_t numel = t.numel();
  if (type.dtype == at::kBool && numel > 0) {
    // Only 0 and 1 are valid bools; any other byte would be undefined behaviour.
    auto* p = static_cast<uint8_t*>(t.data_ptr());
    for (int64_t i = 0; i < numel; ++i) p[i] = p[i] != 0;
  }
  if (type.big_endian) byteswap_inplace(t.data_ptr(), numel, type.itemsize);
  if (fortran_order && t.dim() > 1) {
    std::vector<int64_t> perm(static_cast<size_t>(t.dim()));
    for (int64_t i = 0; i < t.dim(); ++i) perm[static_cast<size_t>(i)] = t.dim() - 1 - i;
    t = t.permute(perm).contiguous();
  }
  return t;
}

at::Tensor numpy_bytes_to_tensor(const char* data, int64_t nbytes, const NumpyType& type,
                                 const std::vector<int64_t>& sizes, bool fortran_order) {
  const std::vector<int64_t> stored = stored_sizes(sizes, fortran_order);
  if (!type.widen_u16 && !type.widen_u32) {
    at::Tensor t = at::empty(stored, at::TensorOptions().dtype(type.dtype));
    TORCH_CHECK(t.nbytes() == static_cast<size_t>(nbytes), "numpy_bytes_to_tensor: size mismatch");
    if (nbytes > 0) std::memcpy(t.data_ptr(), data, static_cast<size_t>(nbytes));
    return finish_numpy_tensor(t, type, fortran_order);
  }
  // uint16 / uint32 have no torch type: widen element by element.
  const int64_t numel = type.itemsize > 0 ? nbytes / type.itemsize : 0;
  at::Tensor t = at::empty(stored, at::TensorOptions().dtype(type.dtype));
  if (type.widen_u16) {
    auto* out = t.data_ptr<int32_t>();
    for (int64_t i = 0; i < numel; ++i) {
      uint16_t v;
      std::memcpy(&v, data + 2 * i, 2);
      if (type.big_endian) v = static_cast<uint16_t>((v >> 8) | (v << 8));
      out[i] = v;
    }
  } else {
    auto* out = t.data_ptr<int64_t>();
    for (int64_t i = 0; i < numel; ++i) {
      uint32_t v;
      std::memcpy(&v, data + 4 * i, 4);
      if (type.big_endian) v = __builtin_bswap32(v);
      out[i] = v;
    }
  }
  NumpyType native = type;
  native.big_endian = false;  // already swapped
  return finish_numpy_tensor(t, native, fortran_order);
}

}  // namespace fovea::io::detail
