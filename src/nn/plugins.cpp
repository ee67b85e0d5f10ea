// Loading plugins (shared libraries with user-defined cores and readouts) with dlopen.
#include "fovea/nn/plugins.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "fovea/error.h"
#include "fovea/nn/registry.h"

namespace fovea::nn {

namespace {
std::mutex& plugin_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::string>& plugin_list() {
  static std::vector<std::string> v;
  return v;
}
}  // namespace

void load_plugin(const std::string& path) {
  if (path.empty()) fail("plugin ''", "empty path");
  std::lock_guard<std::mutex> lock(plugin_mutex());
  // Built-in types first, so that the plugin's registrations come after them.
  register_builtin_modules();
  // dlopen looks a name without '/' up in the library search path, not in the
  // working directory: a file that exists there is what the user means.
  std::string target = path;
  std::error_code ec;
  if (target.find('/') == std::string::npos && std::filesystem::is_regular_file(target, ec)) target = "./" + target;
  dlerror();  // clear any earlier message
  void* handle = dlopen(target.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    std::string why = reason ? reason : "cannot be loaded";
    std::replace(why.begin(), why.end(), '\n', ' ');
    fail("plugin " + path, why);
  }
  // Never closed: the registry holds builders whose code lives in the plugin.
  auto& list = plugin_list();
  if (std::find(list.begin(), list.end(), path) == list.end()) list.push_back(path);
}

std::vector<std::string> load_plugins_from_environment() {
  std::vector<std::string> loaded;
  const char* value = std::getenv("FOVEA_PLUGINS");
  if (value == nullptr) return loaded;
  const std::string list = value;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    const std::string path = list.substr(start, end - start);
    if (!path.empty()) {
      try {
        load_plugin(path);
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (from FOVEA_PLUGINS)");
      }
      loaded.push_back(path);
    }
    start = end + 1;
  }
  return loaded;
}

std::vector<std::string> loaded_plugins() {
  std::lock_guard<std::mutex> lock(plugin_mutex());
  return plugin_list();
}

}  // namespace fovea::nn
