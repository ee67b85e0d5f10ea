#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 for download tests: plain POSIX sockets,
// an ephemeral port, one thread, one request per connection (Connection:
// close). Each path serves a fixed response; unknown paths get a 404. It
// counts the requests per path, so a test can tell whether the network was
// used. Nothing here reaches beyond the loopback interface.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fovea::test {

// Sets (or, with nullptr, unsets) an environment variable for one scope and
// restores it after: how tests point FOVEA_CACHE_DIR and FOVEA_MODEL_BASE_URL
// at a scratch folder and at the server (child processes inherit them).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ScopedEnv(const char* name, const std::string& value) : ScopedEnv(name, value.c_str()) {}
  ~ScopedEnv() {
    if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Location
  // How many body bytes to send before closing the connection; -1 sends the
  // whole body. Content-Length always announces body.size(), so a smaller
  // value is a connection that closes early.
  long send_bytes = -1;
};

class HttpTestServer {
 public:
  HttpTestServer() {
    // A proxy from the environment would take the loopback requests elsewhere.
    ::setenv("no_proxy", "127.0.0.1,localhost", 1);
    ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("HttpTestServer: socket() failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // the kernel picks a free port
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("HttpTestServer: cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~HttpTestServer() { stop(); }
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  void serve(const std::string& path, HttpResponse response) {
    std::lock_guard<std::mutex> lock(mutex_);
    routes_[path] = std::move(response);
  }
  void serve_file(const std::string& path, const std::string& body) {
    HttpResponse r;
    r.body = body;
    serve(path, std::move(r));
  }
  void redirect(const std::string& from, const std::string& to, int status = 302) {
    HttpResponse r;
    r.status = status;
    r.headers.emplace_back("Location", to);
    serve(from, std::move(r));
  }

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& path) const { return base_url() + path; }

  int requests(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = counts_.find(path);
    return it == counts_.end() ? 0 : it->second;
  }
  int total_requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (const auto& [path, count] : counts_) n += count;
    return n;
  }

  // Stops accepting connections; later requests fail to connect.
  void stop() {
    if (stopping_.exchange(true)) return;
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }

 private:
  void loop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handle(fd);
      ::close(fd);
    }
  }

  // Reads the request head (up to the blank line), answers, and closes.
  void handle(int fd) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;  // a client that never finishes its request
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    // "GET /path?query HTTP/1.1"
    const auto sp1 = request.find(' '), sp2 = request.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return;
    std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    HttpResponse response;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_[path];
      const auto it = routes_.find(path);
      if (it != routes_.end()) {
        response = it->second;
      } else {
        response.status = 404;
        response.body = "not found\n";
      }
    }
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) + "\r\n";
    head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    head += "Connection: close\r\n";
    for (const auto& [k, v] : response.headers) head += k + ": " + v + "\r\n";
    head += "\r\n";
    const size_t body_bytes = response.send_bytes < 0 ? response.body.size()
                                                      : std::min(response.body.size(), size_t(response.send_bytes));
    send_all(fd, head + response.body.substr(0, body_bytes));
    ::shutdown(fd, SHUT_WR);
  }

  static void send_all(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;  // the client went away
      done += static_cast<size_t>(n);
    }
  }

  static const char* reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 301: return "Moved Permanently";
      case 302: return "Found";
      case 307: return "Temporary Redirect";
      case 404: return "Not Found";
      case 500: return "Internal Server Error";
      case 503: return "Service Unavailable";
      default: return "Status";
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, HttpResponse> routes_;
  std::map<std::string, int> counts_;
};

}  // namespace fovea::test
