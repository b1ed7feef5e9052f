#pragma once
// `validate`: rejects readings that cannot be trusted — NaN/Inf, out of the
// declared range, bad quality, timestamps in the future or implausibly old —
// into dead letters with a reason. Everything else passes unchanged.
#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"

namespace edgeflow {

struct RangeConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

struct ValidateConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  std::vector<RangeConfig> ranges;
  double max_future_secs = 300;
  double max_age_secs = 0;
  std::string not_before;
  bool reject_bad_quality = true;
};

const config::Schema<ValidateConfig>& ValidateSchema();

class ValidateProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const ValidateConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;

  struct Counters {
    uint64_t passed = 0, rejected = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Range {
    Selector sel;
    double min, max;
  };
  // Per-series resolved range (index into ranges_, or -1) to keep the hot path a lookup.
  const Range* RangeFor(const Reading& r);

  ValidateConfig cfg_;
  Selector sel_;
  std::vector<Range> ranges_;
  std::unordered_map<uint64_t, int> range_index_;
  Clock* clock_ = nullptr;
  Symbol origin_ = kNoSymbol;
  TimeUs not_before_ = 0;
  Counters counters_;
};

}  // namespace edgeflow
