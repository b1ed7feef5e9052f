#pragma once
// Time is injected. Components never call std::chrono clocks directly: they
// get a Clock&, so tests drive hours of data with ManualClock in microseconds
// of wall time and never sleep.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace edgeflow {

// Microseconds since the Unix epoch. All timestamps in edgeflow use this unit.
using TimeUs = int64_t;
inline constexpr TimeUs kUsPerSec = 1'000'000;
inline constexpr TimeUs SecondsToUs(double s) { return static_cast<TimeUs>(s * 1e6); }

// A cancellation flag that a sleeping thread can be woken from.
class StopToken {
 public:
  bool stop_requested() const { return stop_.load(std::memory_order_acquire); }
  void request_stop();
  // Called by clocks: blocks until `pred` holds, stop is requested, or `deadline` (steady) passes.
  template <class Pred>
  void wait_until(std::chrono::steady_clock::time_point deadline, Pred pred) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return stop_requested() || pred(); });
  }
  void notify();

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// Microseconds on the monotonic clock (any origin): for timeouts, pacing and
// rate limits, which must not move when the wall clock is set.
TimeUs MonotonicUs();

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (event time of live sources, retention, timestamp checks).
  virtual TimeUs now() const = 0;
  // Sleeps until now() >= t or `stop` is requested. Returns false when stopped.
  virtual bool sleep_until(TimeUs t, StopToken& stop) = 0;
};

class SystemClock final : public Clock {
 public:
  TimeUs now() const override;
  bool sleep_until(TimeUs t, StopToken& stop) override;
  static SystemClock& Instance();
};

// Test clock: time moves only when advance()/set() is called. Threads blocked
// in sleep_until wake when time reaches their deadline.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeUs start = 1'700'000'000LL * kUsPerSec) : now_(start) {}
  TimeUs now() const override { return now_.load(std::memory_order_acquire); }
  bool sleep_until(TimeUs t, StopToken& stop) override;
  void set(TimeUs t);
  void advance(TimeUs delta) { set(now() + delta); }

 private:
  std::atomic<TimeUs> now_;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace edgeflow
