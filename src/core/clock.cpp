#include "core/clock.h"

namespace edgeflow {

void StopToken::request_stop() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

void StopToken::notify() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

TimeUs MonotonicUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TimeUs SystemClock::now() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool SystemClock::sleep_until(TimeUs t, StopToken& stop) {
  TimeUs delta = t - now();
  if (delta > 0) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(delta);
    stop.wait_until(deadline, [] { return false; });
  }
  return !stop.stop_requested();
}

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

bool ManualClock::sleep_until(TimeUs t, StopToken& stop) {
  // Poll the stop token with a short real timeout so stop() is honoured even
  // though StopToken and this clock have separate condition variables.
  std::unique_lock lock(mu_);
  while (now() < t && !stop.stop_requested()) {
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
  return !stop.stop_requested();
}

void ManualClock::set(TimeUs t) {
  {
    std::lock_guard lock(mu_);
    now_.store(t, std::memory_order_release);
  }
  cv_.notify_all();
}

}  // namespace edgeflow
