#include "cli/service_notify.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

namespace edgeflow::cli {

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (!socket || !*socket) return;
  void* lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    spdlog::warn("NOTIFY_SOCKET is set but libsystemd.so.0 cannot be loaded ({}): no service notifications", dlerror());
    return;
  }
  notify_ = reinterpret_cast<NotifyFn>(dlsym(lib, "sd_notify"));
  using WatchdogFn = int (*)(int, uint64_t*);
  auto watchdog_enabled = reinterpret_cast<WatchdogFn>(dlsym(lib, "sd_watchdog_enabled"));
  uint64_t usec = 0;
  if (watchdog_enabled && watchdog_enabled(0, &usec) > 0) watchdog_us_ = static_cast<int64_t>(usec / 2);
  if (!notify_) spdlog::warn("libsystemd has no sd_notify: no service notifications");
}

void ServiceNotifier::Send(const std::string& state) {
  if (notify_ && notify_(0, state.c_str()) < 0) spdlog::debug("sd_notify({}) failed", state);
}

void ServiceNotifier::Ready(const std::string& status) {
  Send("READY=1\nSTATUS=" + status + "\nMAINPID=" + std::to_string(::getpid()));
}
void ServiceNotifier::Reloading() { Send("RELOADING=1"); }
void ServiceNotifier::Stopping() { Send("STOPPING=1"); }
void ServiceNotifier::Status(const std::string& status) { Send("STATUS=" + status); }

void ServiceNotifier::Watchdog(int64_t now_us) {
  if (watchdog_us_ <= 0 || now_us < next_ping_us_) return;
  next_ping_us_ = now_us + watchdog_us_;
  Send("WATCHDOG=1");
}

}  // namespace edgeflow::cli
