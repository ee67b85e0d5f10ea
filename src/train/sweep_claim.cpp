#include "fovea/train/sweep_claim.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <vector>

#include "fovea/error.h"
#include "fovea/io/atomic_file.h"

namespace fovea::train {

namespace fs = std::filesystem;

namespace {

// A claim file whose creator has not yet written its line is taken over only
// after this long (the creator died between creating and writing it).
constexpr double kUnwrittenClaimSeconds = 60;

[[noreturn]] void fail_errno(const std::string& path, const std::string& what) {
  fail(path, what + ": " + std::strerror(errno));
}

std::string read_all(int fd, const std::string& path) {
  std::string text;
  char buffer[4096];
  if (lseek(fd, 0, SEEK_SET) < 0) fail_errno(path, "cannot read the claim");
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(path, "cannot read the claim");
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

// The complete lines ("host pid time\n") of a claim file.
std::vector<std::string> claim_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    if (nl > start) lines.push_back(text.substr(start, nl - start));
  return lines;
}

void append_line(int fd, const std::string& path) {
  const std::string line = host_name() + " " + std::to_string(getpid()) + " " + std::to_string(std::time(nullptr)) + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) fail_errno(path, "cannot write the claim");
  fsync(fd);
}

// Whether the holder named by `line` ran on this host and is gone.
bool holder_gone_here(const std::string& line) {
  std::istringstream in(line);
  std::string host;
  long pid = 0;
  if (!(in >> host >> pid) || host != host_name() || pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

double age_seconds(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return 0;
  return std::difftime(std::time(nullptr), st.st_mtime);
}

bool locks_unsupported(int error) { return error == ENOLCK || error == EOPNOTSUPP || error == ENOSYS || error == EINVAL; }

}  // namespace

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

std::unique_ptr<TrialClaim> TrialClaim::acquire(const std::string& dir, const std::string& done_file) {
  io::make_directories(dir);
  const std::string path = (fs::path(dir) / "claim").string();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    // Ours. Blocking: a worker inspecting the new, still empty claim holds the
    // lock for a moment and leaves it (see below).
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    if (fs::exists(done_file)) {  // the claim file had been removed by hand
      close(fd);
      return nullptr;
    }
    append_line(fd, path);
    return std::unique_ptr<TrialClaim>(new TrialClaim(fd, 1, ""));
  }
  if (errno != EEXIST) fail_errno(path, "cannot create the claim");
  fd = open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;  // removed meanwhile; the next pass sees it again
    fail_errno(path, "cannot open the claim");
  }
  bool stale = false;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    stale = true;  // the holder's lock is gone, so is the holder
  } else if (errno != EWOULDBLOCK && locks_unsupported(errno)) {
    const auto lines = claim_lines(read_all(fd, path));
    stale = !lines.empty() && holder_gone_here(lines.back());
  }
  if (!stale || fs::exists(done_file)) {
    close(fd);
    return nullptr;
  }
  const auto lines = claim_lines(read_all(fd, path));
  // Created but not yet written: its creator is between open() and flock();
  // give it the trial unless it has been like this for a minute.
  if (lines.empty() && age_seconds(fd) < kUnwrittenClaimSeconds) {
    close(fd);
    return nullptr;
  }
  const std::string previous = lines.empty() ? "" : lines.back();
  append_line(fd, path);
  return std::unique_ptr<TrialClaim>(new TrialClaim(fd, static_cast<int>(lines.size()) + 1, previous));
}

TrialClaim::~TrialClaim() { close(fd_); }

}  // namespace fovea::train
