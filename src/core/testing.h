#pragma once
// Helpers shared by tests (header-only; not used by product code).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "core/reading.h"

namespace edgeflow::testing {

inline constexpr TimeUs kT0 = 1'700'000'000LL * kUsPerSec;  // 2023-11-14T22:13:20Z

inline Reading R(const char* sensor, const char* metric, TimeUs ts, double value, Quality q = Quality::kGood) {
  Reading r;
  r.sensor = Intern(sensor);
  r.metric = Intern(metric);
  r.ts = ts;
  r.value = value;
  r.quality = q;
  return r;
}

// Seconds after kT0.
inline TimeUs At(double secs) { return kT0 + SecondsToUs(secs); }

// Waits (bounded) for `pred`, polling; returns whether it became true.
inline bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "edgeflow-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace edgeflow::testing
