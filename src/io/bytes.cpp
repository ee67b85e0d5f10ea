// Byte-level helpers: checked size arithmetic, byte swapping, dtype sizes.
#include <ATen/ATen.h>

#include <algorithm>

#include "fovea/error.h"
#include "io/detail.h"

namespace fovea::io::detail {

bool mul_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_add_overflow(a, b, out); }

void byteswap_inplace(void* data, int64_t count, int64_t elem_size) {
  if (elem_size <= 1) return;
  auto* p = static_cast<unsigned char*>(data);
  for (int64_t i = 0; i < count; ++i, p += elem_size) std::reverse(p, p + elem_size);
}

size_t ByteSource::read_full(char* dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    const size_t k = read(dst + got, n - got);
    if (k == 0) break;
    got += k;
  }
  return got;
}

int64_t element_size(at::ScalarType dtype) { return static_cast<int64_t>(c10::elementSize(dtype)); }

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(dtype);
  }
}

}  // namespace fovea::io::detail
