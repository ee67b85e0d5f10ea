// The safetensors format: u64 LE header size, JSON header, raw LE tensor data.
#include "fovea/io/safetensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the reference implementation's limit

const std::vector<std::pair<std::string, at::ScalarType>>& dtype_table() {
  static const std::vector<std::pair<std::string, at::ScalarType>> table = {
      {"F32", at::kFloat}, {"F64", at::kDouble}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
      {"I64", at::kLong},  {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},   {"BOOL", at::kBool},
  };
  return table;
}

bool dtype_from_name(const std::string& name, at::ScalarType* out) {
  for (const auto& [n, t] : dtype_table()) {
    if (n == name) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::string name_of_dtype(at::ScalarType t, const std::string& path, const std::string& tensor) {
  for (const auto& [n, d] : dtype_table()) {
    if (d == t) return n;
  }
  fail(path, "tensor '" + tensor + "' has dtype " + detail::dtype_name(t) +
                 ", which safetensors files written by fovea cannot hold (F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

struct Record {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

uint64_t as_offset(const nlohmann::json& j, const std::string& path, const std::string& what) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0)) {
    fail(path, what + " is not a non-negative integer");
  }
  return j.get<uint64_t>();
}

}  // namespace

SafetensorsContent read_safetensors(const std::string& path) {
  const std::unique_ptr<detail::ByteSource> source = detail::open_file(path);
  const uint64_t file_size = source->remaining();
  char size_bytes[8];
  check(source->read_full(size_bytes, 8) == 8, path,
        "truncated: a safetensors file starts with an 8-byte header size, the file has " + std::to_string(file_size) +
            " bytes");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(static_cast<unsigned char>(size_bytes[i])) << (8 * i);
  check(header_size <= file_size - 8, path,
        "truncated or not a safetensors file: header says " + std::to_string(header_size) + " bytes of header, file has " +
            std::to_string(file_size - 8) + " after the size");
  check(header_size <= kMaxHeader, path, "header of " + std::to_string(header_size) + " bytes is too large");
  std::string header_text(static_cast<size_t>(header_size), '\0');
  check(source->read_full(header_text.data(), header_text.size()) == header_text.size(), path,
        "truncated: the file ends inside the header");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("safetensors header is not valid JSON: ") + e.what());
  }
  check(header.is_object(), path, "safetensors header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_size;
  SafetensorsContent content;
  std::vector<Record> records;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      check(entry.is_object(), path, "'__metadata__' is not a JSON object");
      for (const auto& [k, v] : entry.items()) {
        check(v.is_string(), path, "'__metadata__' entry '" + k + "' is not a string");
        content.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    check(entry.is_object(), path, where + " is not a JSON object");
    check(entry.contains("dtype") && entry["dtype"].is_string(), path, where + " has no dtype");
    check(entry.contains("shape") && entry["shape"].is_array(), path, where + " has no shape");
    check(entry.contains("data_offsets") && entry["data_offsets"].is_array() && entry["data_offsets"].size() == 2,
          path, where + " has no data_offsets [begin, end]");
    Record r;
    r.name = name;
    const std::string dtype = entry["dtype"].get<std::string>();
    check(dtype_from_name(dtype, &r.dtype), path, where + " has unsupported dtype '" + dtype + "'");
    int64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      const uint64_t n = as_offset(d, path, where + " shape entry");
      check(n <= static_cast<uint64_t>(INT64_MAX) && !detail::mul_overflows(numel, static_cast<int64_t>(n), &numel),
            path, where + " has an impossible shape");
      r.shape.push_back(static_cast<int64_t>(n));
    }
    r.begin = as_offset(entry["data_offsets"][0], path, where + " data offset");
    r.end = as_offset(entry["data_offsets"][1], path, where + " data offset");
    check(r.begin <= r.end && r.end <= data_size, path,
          where + " data_offsets [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
              "] are outside the data section of " + std::to_string(data_size) + " bytes");
    int64_t nbytes = 0;
    const bool overflow = detail::mul_overflows(numel, detail::element_size(r.dtype), &nbytes);
    check(!overflow && static_cast<uint64_t>(nbytes) == r.end - r.begin, path,
          where + " has " + std::to_string(r.end - r.begin) + " bytes of data, its dtype " + dtype + " and shape need " +
              std::to_string(nbytes));
    records.push_back(std::move(r));
  }
  // The data section is the tensors back to back, without gaps or overlaps.
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const auto& r : records) {
    check(r.begin == expected, path,
          "tensor '" + r.name + "' starts at byte " + std::to_string(r.begin) + " of the data, expected " +
              std::to_string(expected) + " (tensors must be contiguous, without gaps or overlaps)");
    expected = r.end;
  }
  check(expected == data_size, path,
        "the data section has " + std::to_string(data_size) + " bytes, the tensors cover " + std::to_string(expected));
  // The data are back to back in offset order: read each tensor straight
  // into its memory.
  for (const auto& r : records) {
    at::Tensor t = at::empty(r.shape, at::TensorOptions().dtype(r.dtype));
    const auto nbytes = static_cast<size_t>(r.end - r.begin);
    if (nbytes > 0) {
      check(source->read_full(static_cast<char*>(t.data_ptr()), nbytes) == nbytes, path,
            "truncated: the file ends inside tensor '" + r.name + "'");
    }
    if (r.dtype == at::kBool && nbytes > 0) {
      auto* b = static_cast<uint8_t*>(t.data_ptr());
      for (size_t i = 0; i < nbytes; ++i) b[i] = b[i] != 0;
    }
    content.tensors.emplace_back(r.name, std::move(t));
  }
  return content;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<at::Tensor> data;
  data.reserve(tensors.size());
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    check(name != "__metadata__", path, "a tensor cannot be named '__metadata__'");
    check(names.insert(name).second, path, "tensor name '" + name + "' appears twice");
    check(tensor.defined(), path, "tensor '" + name + "' is undefined");
    const std::string dtype = name_of_dtype(tensor.scalar_type(), path, name);
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t nbytes = t.nbytes();
    header[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(std::move(t));
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("cannot encode the safetensors header (names and metadata must be UTF-8): ") + e.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(json.size()) >> (8 * i)) & 0xFF));
  out += json;
  for (const auto& t : data) {
    if (t.nbytes() > 0) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  }
  write_file_atomic(path, out);
}

}  // namespace fovea::io
