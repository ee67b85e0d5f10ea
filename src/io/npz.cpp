// NumPy .npz archives: a zip of .npy members (np.savez / np.savez_compressed).
#include <ATen/ATen.h>

#include <set>

#include "fovea/error.h"
#include "fovea/io/npy.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

const std::string kSuffix = ".npy";

bool is_npy_member(const std::string& name) {
  return name.size() > kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

std::string key_of(const std::string& name) { return name.substr(0, name.size() - kSuffix.size()); }

// Streams a member into its tensor (no intermediate copy of the bytes).
at::Tensor read_member(const detail::ZipReader& zip, uint64_t index, const std::string& origin) {
  std::unique_ptr<detail::ZipReader::Stream> stream = zip.open(index);
  at::Tensor t = detail::read_npy_stream(*stream, origin);
  stream->finish();
  return t;
}

std::string member_origin(const std::string& path, const std::string& key) {
  return path + ": key '" + key + "'";
}

}  // namespace

NpzArrays read_npz(const std::string& path) {
  detail::ZipReader zip(path);
  NpzArrays arrays;
  for (const auto& e : zip.entries()) {
    if (!is_npy_member(e.name)) continue;
    const std::string key = key_of(e.name);
    arrays.emplace_back(key, read_member(zip, e.index, member_origin(path, key)));
  }
  return arrays;
}

std::vector<std::string> npz_keys(const std::string& path) {
  detail::ZipReader zip(path);
  std::vector<std::string> keys;
  for (const auto& e : zip.entries()) {
    if (is_npy_member(e.name)) keys.push_back(key_of(e.name));
  }
  return keys;
}

at::Tensor read_npz_key(const std::string& path, const std::string& key) {
  detail::ZipReader zip(path);
  int64_t index = zip.find(key + kSuffix);
  if (index < 0) {
    std::string keys;
    for (const auto& e : zip.entries()) {
      if (!is_npy_member(e.name)) continue;
      keys += (keys.empty() ? "" : ", ") + key_of(e.name);
    }
    fail(path, "key '" + key + "' is missing (the archive has: " + (keys.empty() ? "no arrays" : keys) + ")");
  }
  return read_member(zip, static_cast<uint64_t>(index), member_origin(path, key));
}

void write_npz(const std::string& path, const NpzArrays& arrays, bool compress) {
  std::vector<std::pair<std::string, std::string>> entries;
  entries.reserve(arrays.size());
  std::set<std::string> seen;
  for (const auto& [key, tensor] : arrays) {
    check(!key.empty(), path, "cannot write an array with an empty key");
    check(seen.insert(key).second, path, "key '" + key + "' appears twice");
    try {
      entries.emplace_back(key + kSuffix, serialize_npy(tensor));
    } catch (const Error& e) {
      fail(path, "key '" + key + "': " + e.what());
    }
  }
  detail::write_zip_atomic(path, entries, compress);
}

}  // namespace fovea::io
