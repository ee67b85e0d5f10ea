#pragma once
// Claiming a sweep trial through its folder, so that any number of workers,
// on any machines that share the sweep folder, run each trial once and a
// trial whose worker died is taken over.
//
// A worker claims trial folder D by creating D/claim with O_CREAT|O_EXCL
// (atomic on local file systems and NFS) and holds an exclusive flock on it
// while it runs the trial; every claim appends one line "host pid unix-time"
// to the file, so its line count is the number of times the trial was taken.
// A claim file that exists is taken over when its holder is gone: its flock
// is free (the kernel drops it when the process dies, however it dies), or,
// where the file system offers no flock, when its holder ran on this host and
// that pid no longer exists. A finished trial is marked by its done file
// (result.json), which no claim passes.
#include <memory>
#include <string>

namespace fovea::train {

class TrialClaim {
 public:
  // Claims the trial in `dir` (made if needed); nullptr when another live
  // worker holds it or `done_file` exists. fovea::Error on an I/O failure.
  static std::unique_ptr<TrialClaim> acquire(const std::string& dir, const std::string& done_file);
  ~TrialClaim();  // releases the lock; the claim file stays as the trial's record
  TrialClaim(const TrialClaim&) = delete;
  TrialClaim& operator=(const TrialClaim&) = delete;

  // How many times the trial has been claimed, this claim included (> 1: an
  // earlier worker died holding it).
  int attempts() const { return attempts_; }
  // The previous holder's line "host pid unix-time" ("" for a first claim).
  const std::string& previous_holder() const { return previous_; }

 private:
  TrialClaim(int fd, int attempts, std::string previous) : fd_(fd), attempts_(attempts), previous_(std::move(previous)) {}
  int fd_;
  int attempts_;
  std::string previous_;
};

// This host's name, as claim lines record it.
std::string host_name();

}  // namespace fovea::train
