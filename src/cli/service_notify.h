#pragma once
// systemd's notify protocol (Type=notify units): READY=1 after start-up,
// WATCHDOG=1 at half the unit's WatchdogSec, RELOADING=1 / READY=1 around a
// SIGHUP reload, STOPPING=1 on shutdown.
//
// libsystemd's sd_notify() is used, loaded with dlopen only when systemd asked
// for notifications (NOTIFY_SOCKET is set): a node started by hand, or under
// another supervisor, does not map the library at all.
#include <cstdint>
#include <string>

namespace edgeflow::cli {

class ServiceNotifier {
 public:
  ServiceNotifier();  // no-op unless NOTIFY_SOCKET is set
  bool enabled() const { return notify_ != nullptr; }
  // Interval at which Watchdog() must be called (0: no watchdog requested).
  int64_t watchdog_interval_us() const { return watchdog_us_; }
  void Ready(const std::string& status);
  void Reloading();
  void Stopping();
  void Status(const std::string& status);
  // Sends WATCHDOG=1 when due (call often; cheap otherwise).
  void Watchdog(int64_t now_us);

 private:
  void Send(const std::string& state);
  using NotifyFn = int (*)(int, const char*);
  NotifyFn notify_ = nullptr;
  int64_t watchdog_us_ = 0;
  int64_t next_ping_us_ = 0;
};

}  // namespace edgeflow::cli
