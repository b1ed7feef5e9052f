#pragma once
// Which series a processor applies to: glob lists over sensor and metric names
// (`*` and `?`). Empty lists match everything. Decisions are cached per series,
// so the hot path costs one hash lookup (none when everything matches).
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/reading.h"

namespace edgeflow {

bool GlobMatch(std::string_view pattern, std::string_view text);

class Selector {
 public:
  Selector() = default;
  Selector(std::vector<std::string> sensors, std::vector<std::string> metrics)
      : sensors_(std::move(sensors)), metrics_(std::move(metrics)), all_(sensors_.empty() && metrics_.empty()) {}
  bool all() const { return all_; }
  bool Matches(Symbol sensor, Symbol metric) {
    if (all_) return true;
    uint64_t key = SeriesKey(sensor, metric);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    bool m = MatchList(sensors_, SymName(sensor)) && MatchList(metrics_, SymName(metric));
    cache_.emplace(key, m);
    return m;
  }

 private:
  static bool MatchList(const std::vector<std::string>& globs, std::string_view name) {
    if (globs.empty()) return true;
    for (const auto& g : globs)
      if (GlobMatch(g, name)) return true;
    return false;
  }
  std::vector<std::string> sensors_;
  std::vector<std::string> metrics_;
  bool all_ = true;
  std::unordered_map<uint64_t, bool> cache_;
};

}  // namespace edgeflow
