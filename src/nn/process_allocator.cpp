// Which malloc serves the process (see the header), found at run time: the
// library does not link tcmalloc itself, the executables do.
#include "fovea/nn/process_allocator.h"

#include <dlfcn.h>
#include <malloc.h>

namespace fovea::nn {

namespace {
// tcmalloc's C entry points, when tcmalloc is loaded.
void* tcmalloc_symbol(const char* name) { return dlsym(RTLD_DEFAULT, name); }
}  // namespace

std::string process_allocator() {
  // tcmalloc defines malloc as an alias of tc_malloc; a loaded but unused
  // tcmalloc (malloc bound to glibc's) does not count.
  void* tc_malloc = tcmalloc_symbol("tc_malloc");
  return tc_malloc != nullptr && tc_malloc == dlsym(RTLD_DEFAULT, "malloc") ? "tcmalloc" : "glibc malloc";
}

void release_free_memory() {
  if (process_allocator() == "tcmalloc") {
    using Release = void (*)();
    if (auto release = reinterpret_cast<Release>(tcmalloc_symbol("MallocExtension_ReleaseFreeMemory"))) release();
    return;
  }
  malloc_trim(0);
}

}  // namespace fovea::nn
