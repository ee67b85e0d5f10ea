#pragma once
// Writes torch.save's legacy (non-zip) container by hand, without Python, as
// PyTorch 1.13's torch.serialization._legacy_save lays it out: the pickles
// magic number, protocol version 1001, sys-info dict, object, list of storage
// keys; then per listed key an int64 element count and the storage's bytes.
// The object pickle is written with PickleWriter; legacy_tensor() adds a
// tensor whose persistent id has the legacy container's sixth field.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "pickle_builder.h"

namespace fovea_test {

// (view_key, offset, size): a storage view in elements, as old PyTorch wrote it.
struct LegacyView {
  std::string key;
  int64_t offset = 0;
  int64_t size = 0;
};

inline std::string int64_bytes(uint64_t v, bool big_endian = false) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[big_endian ? 7 - i : i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// Any int64: PickleWriter::integer for what fits an int32, else LONG1 (8 bytes).
inline PickleWriter& any_integer(PickleWriter& w, int64_t v) {
  if (v >= INT32_MIN && v <= INT32_MAX) return w.integer(v);
  return w.op('\x8a').byte(8).raw(int64_bytes(static_cast<uint64_t>(v)));
}

// torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel, view),
//                                 offset, size, stride, False, OrderedDict())
inline PickleWriter& legacy_tensor(PickleWriter& w, const std::string& storage_type, const std::string& key,
                                   int64_t numel, int64_t offset, std::initializer_list<int64_t> size,
                                   std::initializer_list<int64_t> stride,
                                   const std::optional<LegacyView>& view = std::nullopt) {
  w.global("torch._utils", "_rebuild_tensor_v2");
  w.mark();
  w.mark().str("storage").global("torch", storage_type).str(key).str("cpu");
  any_integer(w, numel);
  if (view) {
    w.mark().str(view->key).integer(view->offset).integer(view->size).tuple();
  } else {
    w.none();
  }
  w.tuple().binpersid();
  w.integer(offset).int_tuple(size).int_tuple(stride).boolean(false);
  w.global("collections", "OrderedDict").empty_tuple().reduce();
  return w.tuple().reduce();
}

// One storage record: the key, the element count written before the data,
// and the raw (little-endian) bytes.
struct LegacyRecord {
  std::string key;
  int64_t count = 0;
  std::string bytes;
};

// The three header pickles. `little_endian` goes into the sys-info dict.
inline std::string legacy_header(bool little_endian = true, int64_t protocol = 1001) {
  const std::string magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  PickleWriter version;
  version.proto(2).integer(protocol).stop();
  PickleWriter info;
  info.proto(2).empty_dict().mark();
  info.str("protocol_version").integer(1001).str("little_endian").boolean(little_endian);
  info.str("type_sizes").empty_dict().mark().str("short").integer(2).str("int").integer(4).str("long").integer(4);
  info.setitems().setitems().stop();
  return magic + version.bytes() + info.bytes();
}

inline std::string legacy_key_list(const std::vector<std::string>& keys) {
  PickleWriter w;
  w.proto(2).empty_list().mark();
  for (const auto& k : keys) w.str(k);
  return w.appends().stop().bytes();
}

// A complete legacy file: header, `object_pickle`, the list of the records'
// keys, then the records in that order. `count_big_endian` writes the counts
// in big-endian order, as old writers on a big-endian machine did.
inline std::string legacy_file(const std::string& object_pickle, const std::vector<LegacyRecord>& records,
                               bool little_endian = true, bool count_big_endian = false) {
  std::vector<std::string> keys;
  for (const auto& r : records) keys.push_back(r.key);
  std::string out = legacy_header(little_endian) + object_pickle + legacy_key_list(keys);
  for (const auto& r : records) out += int64_bytes(static_cast<uint64_t>(r.count), count_big_endian) + r.bytes;
  return out;
}

}  // namespace fovea_test
