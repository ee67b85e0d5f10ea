// The c10d process group (TCPStore + ProcessGroupGloo) from torchrun's
// environment, its collectives with fovea's errors, and the one-machine
// launcher of `fovea train --nproc-per-node N`.
// ProcessGroupGloo.hpp declares the class only under USE_C10D_GLOO, which
// Debian's Torch CMake package already defines for its users; this is the one
// file that needs it.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include "fovea/train/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "fovea/error.h"

namespace fovea::train {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  auto v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  check(errno == 0 && end && *end == '\0' && x >= min && x <= max, std::string("environment variable ") + name,
        "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got '" + *v + "'");
  return x;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

// Gloo and the TCPStore report a dead peer or a timeout as c10::Error (with
// a C++ backtrace) or std::exception: one line for the user.
[[noreturn]] void rethrow_collective(const char* what, int64_t rank, const std::exception& e) {
  std::string message = e.what();
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) message = c->what_without_backtrace();
  if (auto nl = message.find('\n'); nl != std::string::npos) message = message.substr(0, nl);
  fail("data-parallel training",
       std::string(what) + " failed on worker " + std::to_string(rank) +
           " (another worker has probably died or timed out): " + message);
}

}  // namespace

std::optional<WorkerEnv> worker_env_from_environment() {
  if (!env("WORLD_SIZE")) return std::nullopt;
  WorkerEnv w;
  w.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  check(env("RANK").has_value(), "environment variable RANK", "is missing (WORLD_SIZE is set)");
  w.rank = env_int("RANK", 0, 0, w.world_size - 1);
  w.local_rank = env_int("LOCAL_RANK", w.rank, 0, 1 << 20);
  w.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
  w.master_port = static_cast<int>(env_int("MASTER_PORT", 29500, 1, 65535));
  return w;
}

std::chrono::milliseconds default_collective_timeout() {
  return std::chrono::seconds(env_int("FOVEA_DIST_TIMEOUT", 300, 1, 7 * 24 * 3600));
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(const WorkerEnv& env_, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()), rank_(env_.rank), size_(env_.world_size) {
  try {
    // Under torchrun the agent already serves a TCPStore at MASTER_PORT and
    // says so; the workers then share it under a prefix per restart, as
    // torch.distributed's env:// rendezvous does.
    const bool agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env_.master_port);
    so.isServer = env_.rank == 0 && !agent_store;
    so.numWorkers = static_cast<std::size_t>(env_.world_size);
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, so);
    if (agent_store)
      impl_->store = c10::make_intrusive<c10d::PrefixStore>(
          "/worker/attempt_" + env("TORCHELASTIC_RESTART_COUNT").value_or("0"), impl_->store);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // As torch.distributed: GLOO_SOCKET_IFNAME picks the interface; a
    // loopback master means one machine; else the host name's address.
    if (auto ifname = env("GLOO_SOCKET_IFNAME"))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
    else if (is_loopback(env_.master_addr))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;  // torch.distributed's default for Gloo
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, static_cast<int>(env_.rank),
                                                               static_cast<int>(env_.world_size), options);
  } catch (const fovea::Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (auto* c = dynamic_cast<const c10::Error*>(&e)) message = c->what_without_backtrace();
    if (auto nl = message.find('\n'); nl != std::string::npos) message = message.substr(0, nl);
    fail("data-parallel training", "worker " + std::to_string(env_.rank) + " could not join the process group at " +
                                       env_.master_addr + ":" + std::to_string(env_.master_port) + ": " + message);
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_reduce_sum(const std::vector<at::Tensor>& tensors) {
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      works.push_back(impl_->group->allreduce(one));
    }
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    rethrow_collective("all-reduce", rank_, e);
  }
}

void ProcessGroup::broadcast(const std::vector<at::Tensor>& tensors, int64_t root) {
  try {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      works.push_back(impl_->group->broadcast(one, o));
    }
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    rethrow_collective("broadcast", rank_, e);
  }
}

void ProcessGroup::barrier() {
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    rethrow_collective("barrier", rank_, e);
  }
}

// A port the kernel has just handed out on 127.0.0.1 (distributed.h).
int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  check(fd >= 0, "--nproc-per-node", std::string("cannot open a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  check(ok, "--nproc-per-node", "cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

namespace {

std::string how_it_ended(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "ended with status " + std::to_string(status);
}

}  // namespace

void launch_local_workers(const LaunchOptions& o) {
  check(o.nproc >= 1, "--nproc-per-node", "must be at least 1, got " + std::to_string(o.nproc));
  const std::string port = std::to_string(free_local_port());
  const pid_t launcher = getpid();
  std::vector<pid_t> pids;
  for (int64_t rank = 0; rank < o.nproc; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) {
      for (pid_t p : pids) kill(p, SIGTERM);
      fail("--nproc-per-node", std::string("cannot start worker ") + std::to_string(rank) + ": " + std::strerror(errno));
    }
    if (pid == 0) {
      // A worker ends with its launcher (killed or interrupted).
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != launcher) _exit(1);
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<std::string> args = o.args;
      std::string exe = o.executable;
      std::vector<char*> argv = {exe.data()};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    pids.push_back(pid);
  }
  // Wait for all; the first failure ends the others (they would otherwise
  // wait in a collective until the timeout).
  std::string failure;
  size_t running = pids.size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = std::find(pids.begin(), pids.end(), pid);
    if (it == pids.end()) continue;
    const int64_t rank = it - pids.begin();
    *it = -1;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failure.empty()) {
      failure = "worker " + std::to_string(rank) + " " + how_it_ended(status);
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGTERM);
    }
  }
  if (!failure.empty()) fail("data-parallel training", failure + "; the other workers were stopped");
}

}  // namespace fovea::train
