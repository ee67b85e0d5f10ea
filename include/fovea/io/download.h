#pragma once
// Downloads into fovea's cache (libcurl). A URL is fetched once; later calls
// return the cached file without touching the network.
//
// Cache layout: <cache>/downloads/<hash>/<name>, where <name> is the last
// path segment of the URL and <hash> is 16 hex digits of a hash of the whole
// URL (two URLs with the same file name never collide). The cache is
// FOVEA_CACHE_DIR, else $XDG_CACHE_HOME/fovea, else ~/.cache/fovea.
//
// Nothing half-done is ever left in the cache: the body goes to a temporary
// name next to the target and is renamed into place only when the transfer
// completed with a 2xx status; a `.zip` is unpacked into a temporary folder
// that is renamed into place.
#include <string>

namespace fovea::io {

struct DownloadOptions {
  std::string cache_dir;      // empty: cache_directory()
  bool quiet = false;         // no progress line on stderr
  int attempts = 3;           // tries of a transient failure (as openretina's GIN download); a 4xx is not retried
  double retry_wait_s = 2.0;  // wait before the 2nd try, doubled for each next one
  long connect_timeout_s = 30;
  // A transfer slower than 1 byte/s for this long is abandoned (a stalled
  // connection); large files may take as long as they need otherwise.
  long stall_timeout_s = 60;
};

// The cache folder (FOVEA_CACHE_DIR, $XDG_CACHE_HOME/fovea or ~/.cache/fovea).
std::string cache_directory();

// "http://..." or "https://...".
bool is_url(const std::string& text);

// Where `url` is (or will be) cached: <cache>/downloads/<hash>/<name>.
std::string cached_path_for(const std::string& url, const DownloadOptions& options = {});

// Downloads `url` into the cache unless it is there already and returns the
// local path. Redirects are followed. Throws fovea::Error "<url>: <problem>"
// (a 404, a connection closed early, a timeout); nothing is left in the cache
// on failure.
std::string download_cached(const std::string& url, const DownloadOptions& options = {});

// The same to a path of the caller's choosing (a file that exists is kept and
// not fetched again), for downloads that must share one folder, such as the
// 15 files of the Höfling 2024 ensemble.
std::string download_to(const std::string& url, const std::string& target, const DownloadOptions& options = {});

// As download_cached; a `.zip` URL is also unpacked into a folder next to the
// archive (<name without .zip>/) and the one checkpoint inside (.ckpt, .pt,
// .pth or .safetensors) is returned.
std::string fetch_checkpoint(const std::string& url, const DownloadOptions& options = {});

// Unpacks `zip_path` into `folder` atomically (a temporary folder renamed into
// place; an existing folder is reused as it is) and returns `folder`. Entries
// that would land outside the folder ("../x", "/x") are errors.
std::string unpack_zip_once(const std::string& zip_path, const std::string& folder);

// The one checkpoint file (.ckpt, .pt, .pth, .safetensors) under `folder`;
// throws naming the folder if there is none or more than one.
std::string find_checkpoint_in(const std::string& folder);

}  // namespace fovea::io
