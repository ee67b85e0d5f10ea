#pragma once
// What every harness shares. A reader given any bytes must either return or
// throw fovea::Error; every other outcome is a finding: a crash or sanitizer
// report (libFuzzer sees those itself), another exception type (reported and
// aborted here, so libFuzzer records the input), a hang (-timeout) or an
// allocation past -malloc_limit_mb.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <typeinfo>

#include <sanitizer/allocator_interface.h>

#include "fovea/error.h"

namespace fovea::fuzz {

// The largest single allocation made while a reader ran, printed at exit
// (fuzz/README.md's table): ASan's allocator hooks see every malloc and new,
// LibTorch's tensor memory included.
inline int g_reader_active = 0;  // nesting of run_reader
inline size_t g_largest_allocation = 0;

inline void on_malloc(const volatile void*, size_t size) {
  if (g_reader_active > 0 && size > g_largest_allocation) g_largest_allocation = size;
}

inline void on_free(const volatile void*) {}  // the hooks come in pairs

inline void print_largest_allocation() {
  std::fprintf(stderr, "fovea-fuzz: largest allocation by a reader: %zu bytes\n", g_largest_allocation);
}

inline bool install_allocation_hooks() {
  std::atexit(print_largest_allocation);
  __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free);
  return true;
}

inline void ensure_allocation_hooks() {
  static const bool installed = install_allocation_hooks();  // once per process
  (void)installed;
}

// A file name of this process's own (libFuzzer may run several jobs), with the
// reader's usual extension: the readers take paths.
inline const std::string& input_path(const char* extension) {
  static const std::string path = [&] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/fovea_fuzz_" + std::to_string(::getpid()) + extension;
  }();
  return path;
}

inline const std::string& write_input(const uint8_t* data, size_t size, const char* extension) {
  const std::string& path = input_path(extension);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "harness: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Runs `body`; fovea::Error is the expected way to refuse bad input.
template <typename Body>
int run_reader(Body&& body) {
  ensure_allocation_hooks();
  struct Active {
    Active() { ++g_reader_active; }
    ~Active() { --g_reader_active; }
  } active;
  try {
    body();
  } catch (const fovea::Error& e) {
    // expected; FOVEA_FUZZ_PRINT=1 shows the message (to classify a replayed input)
    static const bool print = std::getenv("FOVEA_FUZZ_PRINT") != nullptr;
    if (print) std::fprintf(stderr, "fovea::Error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING: %s escaped the reader: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "FINDING: a non-std exception escaped the reader\n");
    std::abort();
  }
  return 0;
}

}  // namespace fovea::fuzz
