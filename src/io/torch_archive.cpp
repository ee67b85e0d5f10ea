// torch.save zip archives: `<name>/data.pkl` + raw storages `<name>/data/<key>`.
#include <ATen/ATen.h>

#include <cstring>
#include <unordered_map>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "fovea/io/pickle.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

// torch.save's legacy (non-zip) format starts with a pickled magic number.
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

}  // namespace

PyRef read_torch_archive(const std::string& path) {
  const std::string head = read_head(path, 16);
  if (head.size() < 4 || head.compare(0, 2, "PK") != 0) {
    if (is_legacy_torch_file(head)) {
      fail(path, "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a current torch.save");
    }
    fail(path, "not a PyTorch file (torch.save writes a zip archive; this file is not a zip)");
  }
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
    if (dtype == at::kBool && numel > 0) {
      auto* b = static_cast<uint8_t*>(t.data_ptr());
      for (int64_t i = 0; i < numel; ++i) b[i] = b[i] != 0;
    }
    if (big_endian) detail::byteswap_inplace(t.data_ptr(), numel, esize);
    loaded[key] = t;
    return t;
  };
  return parse_pickle(zip.read(static_cast<uint64_t>(pkl_index)), path, loader);
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
