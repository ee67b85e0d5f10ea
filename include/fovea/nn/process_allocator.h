#pragma once
// The malloc that serves this process's tensors.
//
// fovea's executables (the `fovea` command, the tests, the benchmarks, the
// examples) link tcmalloc (Debian's libtcmalloc-minimal4; CMake target
// fovea_tcmalloc), as PyTorch's CPU tuning guide preloads it: tcmalloc keeps
// freed memory for reuse, where glibc hands every large block back to the OS,
// so a training step would page-fault its activations in again on every batch
// (~14 µs per 4 KB page on a VM; bench/README.md, "Allocator"). A library
// loaded into a running process (the Python module) cannot change its malloc:
// there it is the interpreter's (preload tcmalloc to get the same).
#include <string>

namespace fovea::nn {

// "tcmalloc" when tcmalloc's malloc serves this process, else "glibc malloc".
std::string process_allocator();

// Hands the free memory the allocator keeps back to the OS (tcmalloc's
// ReleaseFreeMemory, or glibc's malloc_trim), e.g. before measuring the peak
// memory of a piece of work on its own.
void release_free_memory();

}  // namespace fovea::nn
