// Downloads into the cache, against a local HTTP server in a thread of this
// test: bytes, reuse without network, 404 and early close (one-line errors,
// nothing left in the cache), retries, redirects, zip unpacking, and the
// cache folder from FOVEA_CACHE_DIR. No test reaches beyond 127.0.0.1.
#include "fovea/io/download.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fovea/error.h"
#include "test_util.h"
#include "fovea/io/atomic_file.h"
#include "http_test_server.h"
#include "io/detail.h"
#include "io_test_util.h"

namespace fs = std::filesystem;
using fovea::io::DownloadOptions;
using fovea::test::HttpResponse;
using fovea::test::HttpTestServer;
using fovea::test::ScopedEnv;

using fovea::test::error_of;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

// Options for tests: the cache in a scratch folder, no progress line, and no
// waiting between retries.
DownloadOptions in_cache(const std::string& dir) {
  DownloadOptions o;
  o.cache_dir = dir;
  o.quiet = true;
  o.retry_wait_s = 0;
  o.connect_timeout_s = 5;
  o.stall_timeout_s = 5;
  return o;
}

std::vector<std::string> regular_files_under(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path().string());
  return files;
}


class Download : public ::testing::Test {
 protected:
  HttpTestServer server;
  fovea_test::ScratchDir cache;
  DownloadOptions options = in_cache(cache.path());
};

TEST_F(Download, FileArrivesWithItsBytesUnderItsName) {
  const std::string body = random_bytes(300000, 1);  // several write callbacks
  server.serve_file("/files/model.ckpt", body);
  const std::string path = fovea::io::download_cached(server.url("/files/model.ckpt"), options);
  EXPECT_EQ(fs::path(path).filename(), "model.ckpt");
  EXPECT_EQ(path.rfind(cache.path() + "/downloads/", 0), 0u) << path;
  EXPECT_EQ(fovea::io::read_file(path), body);
  EXPECT_EQ(regular_files_under(cache.path()), std::vector<std::string>{path}) << "a temporary file was left";
}

TEST_F(Download, SecondCallUsesTheCacheWithoutTheNetwork) {
  const std::string body = random_bytes(5000, 2);
  server.serve_file("/files/model.ckpt", body);
  const std::string url = server.url("/files/model.ckpt");
  const std::string first = fovea::io::download_cached(url, options);
  const std::string second = fovea::io::download_cached(url, options);
  EXPECT_EQ(first, second);
  EXPECT_EQ(server.requests("/files/model.ckpt"), 1);
  server.stop();  // no server at all: the cache alone must answer
  EXPECT_EQ(fovea::io::read_file(fovea::io::download_cached(url, options)), body);
}

TEST_F(Download, NotFoundIsOneLineNamingTheUrlAndLeavesNothing) {
  const std::string url = server.url("/missing/model.ckpt");
  const std::string message = error_of([&] { fovea::io::download_cached(url, options); });
  EXPECT_EQ(message, url + ": server returned 404");
  EXPECT_EQ(server.requests("/missing/model.ckpt"), 1) << "a 404 must not be retried";
  EXPECT_TRUE(regular_files_under(cache.path()).empty());
  EXPECT_FALSE(fs::exists(fs::path(fovea::io::cached_path_for(url, options)).parent_path()));
}

TEST_F(Download, EarlyCloseIsRetriedThenReportedAndLeavesNothing) {
  HttpResponse r;
  r.body = random_bytes(1000, 3);
  r.send_bytes = 100;  // Content-Length: 1000, then the connection closes
  server.serve("/files/cut.ckpt", r);
  const std::string url = server.url("/files/cut.ckpt");
  const std::string message = error_of([&] { fovea::io::download_cached(url, options); });
  EXPECT_EQ(message.rfind(url + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("closed after 100 of 1000 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("tried 3 times"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(server.requests("/files/cut.ckpt"), 3);
  EXPECT_TRUE(regular_files_under(cache.path()).empty());
}

TEST_F(Download, ServerErrorsAreRetriedAsTransient) {
  HttpResponse r;
  r.status = 503;
  r.body = "busy";
  server.serve("/files/busy.ckpt", r);
  const std::string url = server.url("/files/busy.ckpt");
  const std::string message = error_of([&] { fovea::io::download_cached(url, options); });
  EXPECT_EQ(message, url + ": server returned 503 (tried 3 times)");
  EXPECT_EQ(server.requests("/files/busy.ckpt"), 3);
  EXPECT_TRUE(regular_files_under(cache.path()).empty());
}

TEST_F(Download, NoServerIsAnErrorNamingTheUrl) {
  const std::string url = server.url("/files/model.ckpt");
  server.stop();
  const std::string message = error_of([&] { fovea::io::download_cached(url, options); });
  EXPECT_EQ(message.rfind(url + ": ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_TRUE(regular_files_under(cache.path()).empty());
}

TEST_F(Download, RedirectsAreFollowed) {
  const std::string body = random_bytes(2000, 4);
  server.serve_file("/cdn/blob-1234", body);
  server.redirect("/resolve/main/model.ckpt", server.url("/cdn/blob-1234"));
  const std::string path = fovea::io::download_cached(server.url("/resolve/main/model.ckpt"), options);
  EXPECT_EQ(fovea::io::read_file(path), body);
  EXPECT_EQ(fs::path(path).filename(), "model.ckpt") << "named after the URL asked for";
  EXPECT_EQ(server.requests("/resolve/main/model.ckpt"), 1);
  EXPECT_EQ(server.requests("/cdn/blob-1234"), 1);
}

TEST_F(Download, SameFileNameFromTwoUrlsDoesNotCollide) {
  server.serve_file("/a/model.ckpt", "first");
  server.serve_file("/b/model.ckpt", "second");
  const std::string a = fovea::io::download_cached(server.url("/a/model.ckpt"), options);
  const std::string b = fovea::io::download_cached(server.url("/b/model.ckpt"), options);
  EXPECT_NE(a, b);
  EXPECT_EQ(fovea::io::read_file(a), "first");
  EXPECT_EQ(fovea::io::read_file(b), "second");
}

TEST_F(Download, NameComesFromThePathWithoutTheQuery) {
  const std::string path = fovea::io::cached_path_for("https://example.org/x/hoefling%20model.ckpt?download=true#top",
                                                      options);
  EXPECT_EQ(fs::path(path).filename(), "hoefling_model.ckpt");
  EXPECT_EQ(fs::path(fovea::io::cached_path_for("https://example.org/", options)).filename(), "download");
  EXPECT_EQ(server.total_requests(), 0);
}

TEST_F(Download, ZipIsUnpackedAndItsCheckpointReturned) {
  const std::string ckpt = random_bytes(4000, 5);
  fovea_test::ScratchDir work;
  fovea::io::detail::write_zip_atomic(work.file("bundle.zip"),
                                      {{"bundle/", ""}, {"bundle/README.txt", "a model"}, {"bundle/model.ckpt", ckpt}},
                                      true);
  server.serve_file("/models/bundle.zip", fovea::io::read_file(work.file("bundle.zip")));
  const std::string url = server.url("/models/bundle.zip");
  const std::string path = fovea::io::fetch_checkpoint(url, options);
  EXPECT_EQ(fs::path(path).filename(), "model.ckpt");
  EXPECT_EQ(fovea::io::read_file(path), ckpt);
  const fs::path folder = fs::path(fovea::io::cached_path_for(url, options)).parent_path();
  EXPECT_EQ(fs::path(path).parent_path().parent_path(), folder / "bundle") << "unpacked next to the archive";
  EXPECT_EQ(fovea::io::read_file((folder / "bundle" / "bundle" / "README.txt").string()), "a model");
  for (const auto& entry : fs::directory_iterator(folder))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  EXPECT_EQ(fovea::io::fetch_checkpoint(url, options), path);
  EXPECT_EQ(server.requests("/models/bundle.zip"), 1);
}

TEST_F(Download, ZipEntryClimbingOutOfItsFolderIsRefused) {
  fovea_test::ScratchDir work;
  fovea::io::detail::write_zip_atomic(work.file("evil.zip"), {{"../../evil.ckpt", "x"}}, false);
  server.serve_file("/models/evil.zip", fovea::io::read_file(work.file("evil.zip")));
  const std::string url = server.url("/models/evil.zip");
  const std::string message = error_of([&] { fovea::io::fetch_checkpoint(url, options); });
  EXPECT_NE(message.find("points outside"), std::string::npos) << message;
  const fs::path folder = fs::path(fovea::io::cached_path_for(url, options)).parent_path();
  // Only the archive itself remains: no unpacked or temporary folder, no escaped file.
  EXPECT_EQ(regular_files_under(cache.path()), std::vector<std::string>{(folder / "evil.zip").string()});
  EXPECT_FALSE(fs::exists(folder.parent_path() / "evil.ckpt"));
  EXPECT_FALSE(fs::exists(folder / "evil"));
}

TEST_F(Download, ZipWithTwoCheckpointsNamesThem) {
  fovea_test::ScratchDir work;
  fovea::io::detail::write_zip_atomic(work.file("two.zip"), {{"a.ckpt", "a"}, {"b.pt", "b"}}, false);
  server.serve_file("/models/two.zip", fovea::io::read_file(work.file("two.zip")));
  const std::string message = error_of([&] { fovea::io::fetch_checkpoint(server.url("/models/two.zip"), options); });
  EXPECT_NE(message.find("2 checkpoints (a.ckpt, b.pt)"), std::string::npos) << message;
}

TEST(DownloadCache, FoveaCacheDirIsHonoured) {
  HttpTestServer server;
  fovea_test::ScratchDir dir;
  ScopedEnv env("FOVEA_CACHE_DIR", dir.path().c_str());
  server.serve_file("/m.safetensors", "bytes");
  EXPECT_EQ(fovea::io::cache_directory(), dir.path());
  DownloadOptions quiet;  // no cache_dir: the environment decides
  quiet.quiet = true;
  const std::string path = fovea::io::download_cached(server.url("/m.safetensors"), quiet);
  EXPECT_EQ(path.rfind(dir.path() + "/downloads/", 0), 0u) << path;
  EXPECT_EQ(fovea::io::read_file(path), "bytes");
}

TEST(DownloadCache, DefaultsToXdgCacheHomeThenHome) {
  // Only the names are computed here: nothing is created under these folders.
  ScopedEnv no_fovea("FOVEA_CACHE_DIR", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/nonexistent/xdg");
    EXPECT_EQ(fovea::io::cache_directory(), "/nonexistent/xdg/fovea");
  }
  ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/nonexistent/home");
  EXPECT_EQ(fovea::io::cache_directory(), "/nonexistent/home/.cache/fovea");
}

TEST(DownloadCache, OnlyHttpUrlsAreDownloaded) {
  fovea_test::ScratchDir dir;
  const std::string message = error_of([&] { fovea::io::download_cached("ftp://example.org/m.ckpt", in_cache(dir.path())); });
  EXPECT_EQ(message, "ftp://example.org/m.ckpt: not an http:// or https:// URL");
  EXPECT_TRUE(fovea::io::is_url("https://huggingface.co/x"));
  EXPECT_FALSE(fovea::io::is_url("runs/model.safetensors"));
}

}  // namespace
