// torch.save files, in both containers: the zip archive (`<name>/data.pkl` +
// raw storages `<name>/data/<key>`) and the legacy stream of pickles followed
// by the raw storages (PyTorch < 1.6, or _use_new_zipfile_serialization=False).
#include <ATen/ATen.h>

#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/pickle.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

// torch.save's legacy (non-zip) container starts with its magic number,
// pickled with protocol 2 as a 10-byte LONG1.
bool is_legacy_torch_file(const std::string& head) {
  static const char magic[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  return head.size() >= sizeof(magic) - 1 && std::memcmp(head.data(), magic, sizeof(magic) - 1) == 0;
}

std::string read_head(const std::string& path, size_t n) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string head(n, '\0');
  const size_t got = std::fread(&head[0], 1, n, f);
  std::fclose(f);
  head.resize(got);
  return head;
}

// A bool storage may hold any non-zero byte for true; at::kBool needs 1.
void normalise_bools(at::Tensor& t) {
  if (t.scalar_type() != at::kBool) return;
  auto* b = static_cast<uint8_t*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel(); ++i) b[i] = b[i] != 0;
}

std::string describe_kind(const PyRef& v) {
  if (!v) return "nothing";
  switch (v->kind) {
    case PyValue::Kind::None: return "None";
    case PyValue::Kind::Bool: return "a bool";
    case PyValue::Kind::Int: return "an int";
    case PyValue::Kind::Float: return "a float";
    case PyValue::Kind::String: return "a str";
    case PyValue::Kind::Bytes: return "bytes";
    case PyValue::Kind::List: return "a list";
    case PyValue::Kind::Tuple: return "a tuple";
    case PyValue::Kind::Dict: return "a dict";
    case PyValue::Kind::Tensor: return "a tensor";
    case PyValue::Kind::Object: return "an object of class " + v->class_name;
  }
  return "?";
}

// Why `v` is not a state dict (name -> tensor); empty if it is one.
std::string state_dict_problem(const PyRef& v, const std::string& what) {
  if (!v || v->kind != PyValue::Kind::Dict) return what + " is " + describe_kind(v);
  for (const auto& [k, x] : v->entries) {
    if (!k || k->kind != PyValue::Kind::String) return what + " has a key that is " + describe_kind(k) + ", not a str";
    if (!x || x->kind != PyValue::Kind::Tensor) {
      return what + " maps '" + k->text + "' to " + describe_kind(x) + ", not a tensor";
    }
  }
  return "";
}

// ---- the zip container ----

PyRef read_zip_archive(const std::string& path) {
  detail::ZipReader zip(path);

  // The archive's records live under one top-level folder of any name.
  std::string prefix;
  int64_t pkl_index = -1;
  for (const auto& e : zip.entries()) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = e.name.substr(0, slash + 1);
      pkl_index = static_cast<int64_t>(e.index);
      break;
    }
  }
  if (pkl_index < 0) fail(path, "not a PyTorch archive (no <name>/data.pkl inside the zip)");

  bool big_endian = false;
  const int64_t order_index = zip.find(prefix + "byteorder");
  if (order_index >= 0) {
    const std::string order = zip.read(static_cast<uint64_t>(order_index));
    if (order == "big") big_endian = true;
    else if (order != "little") fail(path, "unknown byteorder record '" + order.substr(0, 16) + "'");
  }

  std::unordered_map<std::string, at::Tensor> loaded;
  StorageLoader loader = [&](const std::string& key, at::ScalarType dtype, int64_t numel) -> at::Tensor {
    const auto it = loaded.find(key);
    if (it != loaded.end()) {
      if (it->second.scalar_type() != dtype) {
        fail(path, "storage '" + key + "' is used as both " + detail::dtype_name(it->second.scalar_type()) + " and " +
                       detail::dtype_name(dtype));
      }
      return it->second;
    }
    const std::string name = prefix + "data/" + key;
    const int64_t index = zip.find(name);
    if (index < 0) fail(path, "storage '" + key + "' is missing (no entry '" + name + "')");
    const std::unique_ptr<detail::ZipReader::Stream> stream = zip.open(static_cast<uint64_t>(index));
    const uint64_t size = stream->remaining();
    const int64_t esize = detail::element_size(dtype);
    int64_t expected = 0;
    if (detail::mul_overflows(numel, esize, &expected) || static_cast<uint64_t>(expected) != size) {
      fail(path, "storage '" + key + "' should hold " + std::to_string(numel) + " " + detail::dtype_name(dtype) +
                     " values (" + std::to_string(expected) + " bytes), the entry has " + std::to_string(size) +
                     " bytes");
    }
    // Read straight into the tensor's memory.
    at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(dtype));
    if (expected > 0) stream->read_full(static_cast<char*>(t.data_ptr()), static_cast<size_t>(expected));
    stream->finish();  // also reports a short entry
    normalise_bools(t);
    if (big_endian) detail::byteswap_inplace(t.data_ptr(), numel, esize);
    loaded[key] = t;
    return t;
  };
  return parse_pickle(zip.read(static_cast<uint64_t>(pkl_index)), path, loader);
}

// ---- the legacy container ----
// torch.serialization._legacy_save writes consecutive pickles: the magic
// number, the protocol version, a sys-info dict, the object and the list of
// storage keys; then, for each key in that list, an int64 element count and
// the storage's bytes. The storages come after the object pickle that names
// them, so the object is parsed twice: first to learn which storages it uses
// (dtype, element count) and where it ends, then, once the records after it
// have been checked against that, with the real storages.

// 0x1950a86a20f9469cfc6c, as the pickle reader renders an integer beyond int64.
constexpr const char* kLegacyMagic = "119547037146038801333356";
constexpr int64_t kLegacyProtocol = 1001;

// A storage that the object pickle names, and where its bytes lie.
struct LegacyStorage {
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;
  size_t offset = 0;    // of its bytes in the file
  bool stored = false;  // its record has been found
};

struct LegacyStorages {
  std::unordered_map<std::string, LegacyStorage> by_key;
  std::vector<std::string> order;  // keys in the order the pickle first names them
};

// The whole file: the pickles must be parsed before the storages can be
// found, and the storages are then copied out of it (so the file is held
// twice while the tensors are built).
std::string read_whole_file(const std::string& path) {
  const std::unique_ptr<detail::ByteSource> source = detail::open_file(path);
  std::string bytes(static_cast<size_t>(source->remaining()), '\0');
  if (source->read_full(&bytes[0], bytes.size()) != bytes.size()) fail(path, "the file shrank while it was read");
  return bytes;
}

// Checks the magic number and protocol version; returns where the object
// pickle starts. Python's loader ignores the sys-info dict, except that a
// big-endian writer is noted (see record_count).
size_t read_legacy_header(const std::string& bytes, const std::string& path, bool* big_endian_writer) {
  const std::string where = path + " (legacy torch.save header)";
  size_t pos = 0;
  const PyRef magic = parse_pickle_at(bytes, pos, where, nullptr, &pos);
  const bool magic_ok = magic->kind == PyValue::Kind::Object && magic->class_name == "builtins.int" &&
                        magic->args.size() == 1 && magic->args[0] && magic->args[0]->text == kLegacyMagic;
  if (!magic_ok) fail(path, "not a PyTorch file (legacy magic number is " + magic->repr() + ")");
  const PyRef version = parse_pickle_at(bytes, pos, where, nullptr, &pos);
  if (version->kind != PyValue::Kind::Int || version->integer != kLegacyProtocol) {
    fail(path, "legacy torch.save protocol version is " + version->repr() + ", expected 1001");
  }
  const PyRef sys_info = parse_pickle_at(bytes, pos, where, nullptr, &pos);
  const PyRef little = sys_info->get("little_endian");
  *big_endian_writer = little && little->kind == PyValue::Kind::Bool && !little->boolean;
  return pos;
}

// First pass over the object pickle: the storages it names. The tensors it
// builds are placeholders on the meta device, so that a claimed size is never
// allocated before the file is known to hold it. Returns where the pickle ends.
size_t survey_legacy_storages(const std::string& bytes, size_t start, const std::string& where,
                              const std::string& path, LegacyStorages* storages) {
  const StorageLoader survey = [&](const std::string& key, at::ScalarType dtype, int64_t numel) {
    int64_t nbytes = 0;
    if (detail::mul_overflows(numel, detail::element_size(dtype), &nbytes)) {
      fail(path, "storage '" + key + "' claims " + std::to_string(numel) + " elements, more than any file holds");
    }
    storages->by_key[key] = LegacyStorage{dtype, numel};
    storages->order.push_back(key);
    return at::empty({numel}, at::TensorOptions().dtype(dtype).device(at::kMeta));
  };
  size_t end = 0;
  parse_pickle_at(bytes, start, where, survey, &end);
  return end;
}

std::vector<std::string> read_storage_keys(const std::string& bytes, size_t* pos, const std::string& path) {
  const std::string where = path + " (legacy torch.save storage list)";
  const PyRef list = parse_pickle_at(bytes, *pos, where, nullptr, pos);
  std::vector<std::string> keys;
  if (list->kind == PyValue::Kind::List) {
    for (const PyRef& k : list->items) {
      if (!k || (k->kind != PyValue::Kind::String && k->kind != PyValue::Kind::Bytes)) break;
      keys.push_back(k->text);
    }
  }
  if (list->kind != PyValue::Kind::List || keys.size() != list->items.size()) {
    fail(path, "legacy storage list is " + list->repr() + ", expected a list of str");
  }
  return keys;
}

// The element count before a storage's bytes. PyTorch writes it (and the
// data) little-endian; older writers on a big-endian machine wrote the count
// in the machine's order, so from such a machine either order that matches
// the expected count is accepted.
int64_t record_count(const char* p, int64_t expected, bool big_endian_writer) {
  uint64_t little = 0, big = 0;
  for (int i = 0; i < 8; ++i) {
    const auto byte = static_cast<uint64_t>(static_cast<unsigned char>(p[i]));
    little |= byte << (8 * i);
    big = (big << 8) | byte;
  }
  if (big_endian_writer && static_cast<int64_t>(little) != expected && static_cast<int64_t>(big) == expected) {
    return expected;
  }
  return static_cast<int64_t>(little);
}

// Walks the storage records from `pos`, in the order of `keys`, checks each
// against what the object pickle says, and notes where its bytes lie.
void locate_legacy_records(const std::string& bytes, size_t pos, const std::vector<std::string>& keys,
                           bool big_endian_writer, const std::string& path, LegacyStorages* storages) {
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i];
    const auto it = storages->by_key.find(key);
    if (it == storages->by_key.end()) {
      fail(path, "the legacy storage list names '" + key + "', which no tensor in the file uses");
    }
    LegacyStorage& s = it->second;
    if (s.stored) fail(path, "the legacy storage list names '" + key + "' twice");
    const std::string which = "storage '" + key + "' (record " + std::to_string(i + 1) + " of " +
                              std::to_string(keys.size()) + ")";
    const size_t left = bytes.size() - pos;
    if (left < 8) {
      fail(path, "truncated: " + which + " has no element count at byte " + std::to_string(pos) + ", " +
                     std::to_string(left) + " bytes left");
    }
    const int64_t count = record_count(bytes.data() + pos, s.numel, big_endian_writer);
    pos += 8;
    if (count != s.numel) {
      fail(path, which + " holds " + std::to_string(count) + " elements, the pickle says " + std::to_string(s.numel));
    }
    const int64_t nbytes = s.numel * detail::element_size(s.dtype);  // checked by the survey
    if (static_cast<uint64_t>(nbytes) > bytes.size() - pos) {
      fail(path, "truncated: " + which + " needs " + std::to_string(nbytes) + " bytes at byte " + std::to_string(pos) +
                     ", " + std::to_string(bytes.size() - pos) + " bytes left");
    }
    s.offset = pos;
    s.stored = true;
    pos += static_cast<size_t>(nbytes);
  }
  for (const std::string& key : storages->order) {
    if (!storages->by_key[key].stored) {
      fail(path, "storage '" + key + "' is used by a tensor, but the legacy storage list does not name it");
    }
  }
}

PyRef read_legacy_archive(const std::string& path) {
  const std::string bytes = read_whole_file(path);
  bool big_endian_writer = false;
  const size_t object_start = read_legacy_header(bytes, path, &big_endian_writer);
  const std::string object_where = path + " (legacy torch.save object)";
  LegacyStorages storages;
  size_t pos = survey_legacy_storages(bytes, object_start, object_where, path, &storages);
  const std::vector<std::string> keys = read_storage_keys(bytes, &pos, path);
  locate_legacy_records(bytes, pos, keys, big_endian_writer, path, &storages);
  // Bytes after the last record are ignored, as torch.load ignores them.

  // Second pass: the same pickle, now with the real storages.
  const StorageLoader load = [&](const std::string& key, at::ScalarType dtype, int64_t numel) -> at::Tensor {
    const auto it = storages.by_key.find(key);
    if (it == storages.by_key.end() || it->second.dtype != dtype || it->second.numel != numel) {
      fail(path, "storage '" + key + "' is named differently on a second reading");  // a pickle is deterministic
    }
    at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(dtype));
    if (numel > 0) std::memcpy(t.data_ptr(), bytes.data() + it->second.offset, static_cast<size_t>(t.nbytes()));
    normalise_bools(t);
    return t;
  };
  return parse_pickle_at(bytes, object_start, object_where, load, nullptr);
}

}  // namespace

PyRef read_torch_archive(const std::string& path) {
  const std::string head = read_head(path, 16);
  if (head.size() >= 4 && head.compare(0, 2, "PK") == 0) return read_zip_archive(path);
  if (is_legacy_torch_file(head)) return read_legacy_archive(path);
  fail(path, "not a PyTorch file (neither a zip archive nor a legacy torch.save file)");
}

std::vector<std::pair<std::string, at::Tensor>> read_state_dict(const std::string& path) {
  const PyRef root = read_torch_archive(path);
  PyRef dict = root;
  std::string problem = state_dict_problem(root, "the top-level object");
  if (!problem.empty() && root && root->kind == PyValue::Kind::Dict) {
    if (const PyRef inner = root->get("state_dict")) {
      dict = inner;
      problem = state_dict_problem(inner, "its 'state_dict' entry");
    } else {
      problem = state_dict_problem(root, "the top-level dict (no 'state_dict' entry)");
    }
  }
  if (!problem.empty()) fail(path, "not a PyTorch state dict (" + problem + ")");
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(dict->entries.size());
  for (const auto& [k, v] : dict->entries) out.emplace_back(k->text, v->tensor);
  return out;
}

}  // namespace fovea::io
