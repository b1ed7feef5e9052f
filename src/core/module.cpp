#include "core/module.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "edgeflow/version.h"

namespace edgeflow {

std::vector<std::string> ModuleSearchPath() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("EDGEFLOW_MODULE_DIR"); env && *env) dirs.emplace_back(env);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path().string());
    dirs.push_back((exe.parent_path().parent_path() / "lib" / "edgeflow").string());
  }
  return dirs;
}

// Modules stay loaded for the life of the process: objects they created may
// outlive any one user, and unloading C++ code is never worth it.
Result<void*> LoadModule(const std::string& file, const std::string& purpose) {
  static std::mutex mu;
  static std::map<std::string, void*> loaded;
  std::lock_guard lock(mu);
  if (auto it = loaded.find(file); it != loaded.end()) return it->second;
  std::string tried;
  for (const auto& dir : ModuleSearchPath()) {
    const std::string path = (std::filesystem::path(dir) / file).string();
    if (!std::filesystem::exists(path)) {
      tried += (tried.empty() ? "" : ", ") + dir;
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return Status::Unavailable(fmt::format("module {} cannot be loaded: {}", path, dlerror()));
    using VersionFn = const char* (*)();
    auto version = reinterpret_cast<VersionFn>(dlsym(handle, "edgeflow_module_version"));
    if (!version) return Status::Unavailable(fmt::format("{} is not an edgeflow module", path));
    if (std::strcmp(version(), kVersion) != 0)
      return Status::Unavailable(fmt::format("module {} is version {}, this edgeflow is {}: reinstall the same "
                                             "version of both",
                                             path, version(), kVersion));
    loaded[file] = handle;
    return handle;
  }
  // Installed from the Debian packages, the ML and vision modules come in packages of their own.
  std::string package;
  if (file == "libedgeflow-ml.so" || file == "libedgeflow-tflite.so") package = "; install the edgeflow-ml package";
  if (file == "libedgeflow-vision.so") package = "; install the edgeflow-vision package";
  return Status::NotFound(
      fmt::format("{} needs {}, not found in: {} (set EDGEFLOW_MODULE_DIR{})", purpose, file, tried, package));
}

void* ModuleSymbol(void* handle, const char* name) { return dlsym(handle, name); }

}  // namespace edgeflow
