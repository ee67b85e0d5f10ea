// Downloads into fovea's cache with libcurl: one URL, one cached file, written
// under a temporary name and renamed only when the transfer is complete.
#include "fovea/io/download.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"
#include "io/detail.h"

namespace fovea::io {
namespace {

namespace fs = std::filesystem;

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// 64-bit FNV-1a: stable across runs and platforms (std::hash is not), so a
// URL maps to the same cache folder every time.
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The file name a URL is cached under: its last path segment, decoded, with
// anything but letters, digits and ._+- replaced, so it is a safe file name.
std::string file_name_from_url(const std::string& url) {
  std::string rest = url.substr(0, url.find_first_of("?#"));
  const auto scheme = rest.find("://");
  if (scheme != std::string::npos) rest = rest.substr(scheme + 3);
  const auto slash = rest.find('/');
  std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
  const auto last = path.find_last_of('/');
  std::string name = percent_decode(last == std::string::npos ? path : path.substr(last + 1));
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '+';
    if (!ok) c = '_';
  }
  if (!name.empty() && name[0] == '.') name[0] = '_';  // no hidden files, no "." or ".."
  return name.empty() ? "download" : name;
}

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

void init_curl_once() {
  // curl_global_init is not thread-safe: run it once for the process.
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) fail("libcurl", std::string("cannot initialise: ") + curl_easy_strerror(result));
}

std::string megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

// A progress line on stderr for downloads that take more than a second: on a
// terminal one line rewritten in place, in logs a line every 10 seconds.
class ProgressLine {
 public:
  ProgressLine(std::string name, bool quiet) : name_(std::move(name)), quiet_(quiet), tty_(::isatty(2) == 1) {}

  void update(double done, double total) {
    if (quiet_) return;
    const auto now = Clock::now();
    const double elapsed = seconds(start_, now);
    if (elapsed < 1.0) return;
    if (shown_ && seconds(last_, now) < (tty_ ? 0.25 : 10.0)) return;
    last_ = now;
    shown_ = true;
    const double rate = done / elapsed;
    std::string line = "downloading " + name_ + ": " + megabytes(done);
    if (total > 0) {
      char pct[64];
      std::snprintf(pct, sizeof pct, " of %s (%d%%)", megabytes(total).c_str(), static_cast<int>(100 * done / total));
      line += pct;
    }
    line += ", " + megabytes(rate) + "/s";
    if (total > 0 && rate > 0) line += ", " + std::to_string(static_cast<long>((total - done) / rate)) + " s left";
    if (tty_) {
      std::fprintf(stderr, "\r%-79s", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  }

  // Ends the line (a terminal's cursor is still on it) with the outcome.
  void finish(bool ok, double bytes) {
    if (quiet_ || !shown_) return;
    const double elapsed = seconds(start_, Clock::now());
    if (ok) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " in %.0f s", elapsed);
      const std::string line = "downloaded " + name_ + ": " + megabytes(bytes) + buf;
      std::fprintf(stderr, tty_ ? "\r%-79s\n" : "%s\n", line.c_str());
    } else if (tty_) {
      std::fprintf(stderr, "\n");
    }
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
  std::string name_;
  bool quiet_, tty_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now(), last_ = start_;
};

struct Sink {
  FILE* file = nullptr;
  uint64_t written = 0;
  int write_errno = 0;  // set when writing to the cache failed
  ProgressLine* progress = nullptr;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (std::fwrite(data, 1, n, sink->file) != n) {
    sink->write_errno = errno ? errno : EIO;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  sink->written += n;
  return n;
}

int on_progress(void* user, curl_off_t total, curl_off_t done, curl_off_t, curl_off_t) {
  auto* sink = static_cast<Sink*>(user);
  sink->progress->update(static_cast<double>(done), static_cast<double>(total));
  return 0;
}

struct Attempt {
  bool ok = false;
  bool transient = false;  // worth another try
  std::string problem;
};

// One GET of `url` into the (truncated) file `tmp`.
Attempt fetch_once(const std::string& url, const std::string& tmp, const DownloadOptions& options,
                   ProgressLine& progress) {
  Attempt result;
  Sink sink;
  sink.progress = &progress;
  sink.file = std::fopen(tmp.c_str(), "wb");
  if (!sink.file) {
    result.problem = "cannot write the cache file " + tmp + ": " + std::strerror(errno);
    return result;
  }
  CURL* curl = curl_easy_init();
  if (!curl) {
    std::fclose(sink.file);
    result.problem = "cannot start libcurl";
    return result;
  }
  char error_text[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: safe in threads
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);  // Hugging Face redirects to its CDN
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "fovea/0.1.0 (+libcurl)");
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);  // a 4xx/5xx body is an error page, not the file
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_s);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &sink);

  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_off_t expected = -1;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
  curl_easy_cleanup(curl);

  bool closed_ok = std::fflush(sink.file) == 0;
  if (closed_ok) ::fsync(::fileno(sink.file));
  closed_ok = (std::fclose(sink.file) == 0) && closed_ok;

  const std::string curl_text = error_text[0] ? std::string(error_text) : std::string(curl_easy_strerror(code));
  switch (code) {
    case CURLE_OK:
      if (status < 200 || status >= 300) {
        result.problem = "server returned " + std::to_string(status);
      } else if (expected >= 0 && sink.written != static_cast<uint64_t>(expected)) {
        result.problem = "received " + std::to_string(sink.written) + " of " + std::to_string(expected) + " bytes";
        result.transient = true;
      } else if (!closed_ok) {
        result.problem = "cannot write the cache file " + tmp + ": " + std::strerror(errno);
      } else {
        result.ok = true;
      }
      break;
    case CURLE_HTTP_RETURNED_ERROR:
      result.problem = "server returned " + std::to_string(status);
      // Server trouble and rate limits pass; a 404 or 403 will not.
      result.transient = status >= 500 || status == 408 || status == 429;
      break;
    case CURLE_PARTIAL_FILE:
      result.problem = "connection closed after " + std::to_string(sink.written) +
                       (expected >= 0 ? " of " + std::to_string(expected) : std::string()) + " bytes";
      result.transient = true;
      break;
    case CURLE_WRITE_ERROR:
      result.problem = sink.write_errno ? "cannot write the cache file " + tmp + ": " + std::strerror(sink.write_errno)
                                        : curl_text;
      break;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
      result.problem = curl_text;
      result.transient = true;
      break;
    default:
      result.problem = curl_text;
      break;
  }
  // libcurl's messages are single lines; make sure ours stays one.
  for (char& c : result.problem)
    if (c == '\n' || c == '\r') c = ' ';
  return result;
}

}  // namespace

std::string cache_directory() {
  const std::string fovea_dir = env_or_empty("FOVEA_CACHE_DIR");
  if (!fovea_dir.empty()) return fovea_dir;
  const std::string xdg = env_or_empty("XDG_CACHE_HOME");
  if (!xdg.empty() && xdg[0] == '/') return xdg + "/fovea";  // the XDG spec ignores relative paths
  const std::string home = env_or_empty("HOME");
  if (home.empty()) fail("FOVEA_CACHE_DIR", "is not set and neither is HOME: set it to a folder for downloads");
  return home + "/.cache/fovea";
}

bool is_url(const std::string& text) { return text.rfind("http://", 0) == 0 || text.rfind("https://", 0) == 0; }

std::string cached_path_for(const std::string& url, const DownloadOptions& options) {
  const std::string root = options.cache_dir.empty() ? cache_directory() : options.cache_dir;
  return root + "/downloads/" + hex16(fnv1a64(url)) + "/" + file_name_from_url(url);
}

std::string download_cached(const std::string& url, const DownloadOptions& options) {
  if (!is_url(url)) fail(url, "not an http:// or https:// URL");
  return download_to(url, cached_path_for(url, options), options);
}

std::string download_to(const std::string& url, const std::string& target, const DownloadOptions& options) {
  if (!is_url(url)) fail(url, "not an http:// or https:// URL");
  std::error_code ec;
  if (fs::is_regular_file(target, ec)) return target;  // downloaded before: no network

  init_curl_once();
  const std::string folder = fs::path(target).parent_path().string();
  make_directories(folder);
  const std::string tmp = detail::create_temp_file_for(target);
  ProgressLine progress(file_name_from_url(url), options.quiet);
  Attempt last;
  const int attempts = std::max(1, options.attempts);
  double wait = options.retry_wait_s;
  int tried = 0;
  try {
    for (tried = 1; tried <= attempts; ++tried) {
      last = fetch_once(url, tmp, options, progress);
      if (last.ok || !last.transient || tried == attempts) break;
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      wait *= 2;
    }
  } catch (...) {
    detail::remove_quietly(tmp);
    ::rmdir(folder.c_str());
    throw;
  }
  if (!last.ok) {
    progress.finish(false, 0);
    detail::remove_quietly(tmp);
    ::rmdir(folder.c_str());  // only removed when empty: another download may share nothing else
    std::string problem = last.problem;
    if (tried > 1) problem += " (tried " + std::to_string(tried) + " times)";
    fail(url, problem);
  }
  progress.finish(true, static_cast<double>(fs::file_size(tmp, ec)));
  detail::rename_into_place(tmp, target);
  return target;
}

std::string unpack_zip_once(const std::string& zip_path, const std::string& folder) {
  std::error_code ec;
  if (fs::is_directory(folder, ec)) return folder;  // unpacked before
  detail::ZipReader zip(zip_path);
  const fs::path target(folder);
  const std::string tmp = folder + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  make_directories(tmp);
  try {
    for (const auto& entry : zip.entries()) {
      const fs::path relative = fs::path(entry.name).lexically_normal();
      // A name that climbs out of the folder ("../x", "/etc/x") is a corrupt or hostile archive.
      if (entry.name.empty() || relative.is_absolute() || relative.has_root_name() || *relative.begin() == "..")
        fail(zip_path, "zip entry '" + entry.name + "' points outside the archive's folder");
      const fs::path out = fs::path(tmp) / relative;
      if (entry.name.back() == '/') {
        make_directories(out.string());
        continue;
      }
      make_directories(out.parent_path().string());
      FILE* f = std::fopen(out.c_str(), "wb");
      if (!f) fail(out.string(), std::string("cannot create: ") + std::strerror(errno));
      try {
        auto stream = zip.open(entry.index);
        char buffer[1 << 16];
        for (;;) {
          const size_t n = stream->read(buffer, sizeof buffer);
          if (n == 0) break;
          if (std::fwrite(buffer, 1, n, f) != n) fail(out.string(), std::string("cannot write: ") + std::strerror(errno));
        }
        stream->finish();  // checks the CRC
      } catch (...) {
        std::fclose(f);
        throw;
      }
      if (std::fclose(f) != 0) fail(out.string(), std::string("cannot write: ") + std::strerror(errno));
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  if (::rename(tmp.c_str(), folder.c_str()) != 0) {
    const int err = errno;
    fs::remove_all(tmp, ec);
    // Another process unpacked the same archive first: use its folder.
    if ((err == EEXIST || err == ENOTEMPTY) && fs::is_directory(folder, ec)) return folder;
    fail(folder, std::string("cannot rename the unpacked folder into place: ") + std::strerror(err));
  }
  return folder;
}

std::string find_checkpoint_in(const std::string& folder) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // macOS zips carry resource forks ("__MACOSX/._model.ckpt"): not checkpoints.
    if (name == "__MACOSX" && it->is_directory()) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || name.rfind("._", 0) == 0) continue;
    for (const char* ext : {".ckpt", ".pt", ".pth", ".safetensors"})
      if (ends_with_ci(name, ext)) found.push_back(it->path().string());
  }
  if (ec) fail(folder, "cannot list: " + ec.message());
  if (found.empty()) fail(folder, "contains no checkpoint (.ckpt, .pt, .pth or .safetensors)");
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string list;
    for (const auto& f : found) list += (list.empty() ? "" : ", ") + fs::path(f).lexically_relative(folder).string();
    fail(folder, "contains " + std::to_string(found.size()) + " checkpoints (" + list + "), expected one");
  }
  return found.front();
}

std::string fetch_checkpoint(const std::string& url, const DownloadOptions& options) {
  const std::string path = download_cached(url, options);
  if (!ends_with_ci(path, ".zip")) return path;
  const std::string folder = path.substr(0, path.size() - 4);
  return find_checkpoint_in(unpack_zip_once(path, folder));
}

}  // namespace fovea::io
