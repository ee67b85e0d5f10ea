// Zip archives through libzip: the container of .npz files and torch.save archives.
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "io/detail.h"

namespace fovea::io::detail {
namespace {

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

zip_t* as_zip(void* p) { return static_cast<zip_t*>(p); }

// A fixed timestamp (1980-01-03) so that writing the same arrays twice gives
// the same bytes.
constexpr time_t kZipTimestamp = 315532800 + 2 * 86400;

}  // namespace

ZipReader::ZipReader(const std::string& path) : path_(path) {
  // Distinguish "no such file" from "not a zip" with the system's words.
  uint64_t archive_size = 0;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
    if (std::fseek(f, 0, SEEK_END) == 0) archive_size = static_cast<uint64_t>(std::max(0L, std::ftell(f)));
    std::fclose(f);
  }
  int code = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (!z) {
    if (code == ZIP_ER_NOZIP) fail(path, "not a zip archive");
    fail(path, "cannot open as a zip archive: " + zip_error_text(code));
  }
  zip_ = z;
  const zip_int64_t n = zip_get_num_entries(z, 0);
  if (n < 0) {
    zip_discard(z);
    zip_ = nullptr;
    fail(path, "cannot list the zip archive's entries");
  }
  entries_.reserve(static_cast<size_t>(n));
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
      continue;  // a deleted or unreadable entry; reading it would fail anyway
    }
    ZipEntry e;
    e.name = st.name;
    e.index = static_cast<uint64_t>(i);
    e.size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
    if (st.valid & ZIP_STAT_SIZE) {
      // Deflate cannot expand data more than ~1032 times: a larger claim is a
      // corrupt (or malicious) header, and trusting it would allocate too much.
      // The compressed bytes must be in the archive, too: a stored entry
      // claims the same (possibly absurd) size for both.
      const uint64_t comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : archive_size;
      const uint64_t limit = std::min(comp, archive_size) * 1100 + 4096;
      if (st.size > limit || comp > archive_size) {
        zip_discard(z);
        zip_ = nullptr;
        fail(path, "zip entry '" + e.name + "' claims " + std::to_string(st.size) + " bytes uncompressed from " +
                       std::to_string(comp) + " compressed, in an archive of " +
                       std::to_string(archive_size) + " bytes (corrupt archive)");
      }
    }
    by_name_.emplace(e.name, entries_.size());
    by_index_.emplace(e.index, entries_.size());
    entries_.push_back(std::move(e));
  }
}

ZipReader::~ZipReader() {
  if (zip_) zip_discard(as_zip(zip_));
}

int64_t ZipReader::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : static_cast<int64_t>(entries_[it->second].index);
}

std::unique_ptr<ZipReader::Stream> ZipReader::open(uint64_t index) const {
  const auto it = by_index_.find(index);
  check(it != by_index_.end(), path_, "zip entry #" + std::to_string(index) + " does not exist");
  const ZipEntry& entry = entries_[it->second];
  std::unique_ptr<Stream> s(new Stream());
  s->where_ = path_ + ": zip entry '" + entry.name + "'";
  s->size_ = entry.size;
  zip_file_t* f = zip_fopen_index(as_zip(zip_), index, 0);
  if (!f) throw Error(s->where_ + ": cannot open: " + zip_strerror(as_zip(zip_)));
  s->file_ = f;
  return s;
}

ZipReader::Stream::~Stream() {
  if (file_) zip_fclose(static_cast<zip_file_t*>(file_));
}

size_t ZipReader::Stream::read(char* dst, size_t n) {
  check(file_ != nullptr, where_, "read after finish()");
  if (n > remaining()) n = static_cast<size_t>(remaining());
  if (n == 0) return 0;
  auto* f = static_cast<zip_file_t*>(file_);
  const zip_int64_t got = zip_fread(f, dst, n);
  if (got < 0) throw Error(where_ + ": cannot read: " + zip_file_strerror(f));
  done_ += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

void ZipReader::Stream::finish() {
  if (!file_) return;
  char buffer[1 << 14];
  while (remaining() > 0) {
    if (read(buffer, sizeof buffer) == 0) {
      throw Error(where_ + ": truncated: expected " + std::to_string(size_) + " bytes, got " + std::to_string(done_));
    }
  }
  // One more read reaches the end of the stream, where libzip checks the CRC.
  auto* f = static_cast<zip_file_t*>(file_);
  char extra;
  const zip_int64_t n = zip_fread(f, &extra, 1);
  if (n != 0) {
    throw Error(where_ + ": cannot read: " + (n < 0 ? std::string(zip_file_strerror(f)) : "more data than its header says"));
  }
  file_ = nullptr;
  const int rc = zip_fclose(f);
  if (rc != 0) throw Error(where_ + ": cannot read: " + zip_error_text(rc));
}

std::string ZipReader::read(uint64_t index) const {
  std::unique_ptr<Stream> s = open(index);
  std::string bytes(static_cast<size_t>(s->remaining()), '\0');
  s->read_full(bytes.data(), bytes.size());
  s->finish();
  return bytes;
}

void write_zip_atomic(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& entries, bool compress) {
  if (entries.empty()) {
    // libzip deletes an archive without entries; write the empty zip by hand
    // (an end-of-central-directory record and nothing else), as zipfile does.
    std::string eocd("PK\x05\x06", 4);
    eocd.append(18, '\0');
    write_file_atomic(path, eocd);
    return;
  }
  const std::string tmp = create_temp_file_for(path);
  int code = 0;
  zip_t* z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!z) {
    remove_quietly(tmp);
    fail(path, "cannot create zip archive: " + zip_error_text(code));
  }
  auto give_up = [&](const std::string& what) {
    const std::string msg = what + ": " + zip_strerror(z);
    zip_discard(z);
    remove_quietly(tmp);
    fail(path, msg);
  };
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    if (!src) give_up("cannot add '" + name + "'");
    const zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      give_up("cannot add '" + name + "'");
    }
    const auto ui = static_cast<zip_uint64_t>(idx);
    if (zip_set_file_compression(z, ui, compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
      give_up("cannot set the compression of '" + name + "'");
    }
    if (zip_file_set_mtime(z, ui, kZipTimestamp, 0) != 0) give_up("cannot set the time of '" + name + "'");
  }
  if (zip_close(z) != 0) give_up("cannot write zip archive");
  rename_into_place(tmp, path);
}

}  // namespace fovea::io::detail
