#pragma once
// The process group of data-parallel training, on LibTorch's own distributed
// layer (c10d: TCPStore rendezvous, ProcessGroupGloo on the CPU), the engine
// under PyTorch's DDP and Lightning. A worker learns its place from
// torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), so torchrun and Slurm launch lines work unchanged;
// `fovea train --nproc-per-node N` starts N such workers on one machine
// (launch_local_workers).
#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fovea::train {

// One worker's place, as torchrun describes it.
struct WorkerEnv {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// The worker's place from the environment; nullopt when WORLD_SIZE is unset
// (one process). A malformed or inconsistent variable throws fovea::Error
// naming it.
std::optional<WorkerEnv> worker_env_from_environment();

// Seconds a collective (and the rendezvous) waits for the other workers
// before it fails: FOVEA_DIST_TIMEOUT when set, else 300. (PyTorch's default
// is 30 minutes; a dead worker should end a run sooner than that.)
std::chrono::milliseconds default_collective_timeout();

// A port the kernel has just handed out on 127.0.0.1 (as torchrun picks one
// for a one-machine launch).
int free_local_port();

// A c10d process group over a TCPStore at MASTER_ADDR:MASTER_PORT (rank 0
// serves it). Gloo on the CPU: this LibTorch has no CUDA, so NCCL is not
// built in. Every collective waits for completion and turns a peer's failure
// or the timeout into fovea::Error.
class ProcessGroup {
 public:
  ProcessGroup(const WorkerEnv& env, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return rank_; }
  int64_t size() const { return size_; }
  // Sums each tensor over the workers, in place; the tensors are reduced
  // concurrently (one Gloo allreduce each) and all are waited for.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  // Rank `root`'s values of each tensor, in place on every worker.
  void broadcast(const std::vector<at::Tensor>& tensors, int64_t root = 0);
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t rank_ = 0, size_ = 1;
};

// `fovea train --nproc-per-node N`: runs `executable args...` N times with
// RANK/LOCAL_RANK = 0..N-1, WORLD_SIZE = N, MASTER_ADDR = 127.0.0.1 and a
// free MASTER_PORT, and waits for them. When a worker fails (non-zero exit
// or a signal), the others are terminated and a fovea::Error names the
// worker and how it ended; returns when all succeeded.
struct LaunchOptions {
  int64_t nproc = 1;
  std::vector<std::string> args;            // the command line each worker gets (without argv[0])
  std::string executable = "/proc/self/exe";
};
void launch_local_workers(const LaunchOptions& options);

}  // namespace fovea::train
