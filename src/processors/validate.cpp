#include "config/selector_options.h"
#include "processors/validate.h"

#include <cmath>

#include "core/timefmt.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

static const Schema<RangeConfig>& RangeSchema() {
  static const auto* s = [] {
    auto* s = new Schema<RangeConfig>("range", "Valid range for the matching series; the first matching range applies.");
    WithSelectorOptions(*s)
        .Number<double>("min", &RangeConfig::min, -std::numeric_limits<double>::infinity(), "sensor unit", "Smallest valid value.")
        .Number<double>("max", &RangeConfig::max, std::numeric_limits<double>::infinity(), "sensor unit", "Largest valid value.")
        .Check([](const RangeConfig& r, const YAML::Node& n, Diagnostics& d) {
          if (r.min > r.max) d.Error(n, "range: 'min' (" + config::FormatNumber(r.min) + ") is above 'max' (" + config::FormatNumber(r.max) + ")");
        });
    return s;
  }();
  return *s;
}

const Schema<ValidateConfig>& ValidateSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ValidateConfig>("validate", "");
    WithSelectorOptions(*s)
        .ObjectList("ranges", &ValidateConfig::ranges, RangeSchema(), "Valid value ranges.")
        .Number<double>("max_future_secs", &ValidateConfig::max_future_secs, 300, "s",
                        "Reject readings stamped further than this ahead of the clock; 0 disables.", 0, 1e10)
        .Number<double>("max_age_secs", &ValidateConfig::max_age_secs, 0, "s",
                        "Reject readings older than this behind the clock; 0 disables.", 0, 1e10)
        .String("not_before", &ValidateConfig::not_before, "2000-01-01T00:00:00Z",
                "Reject timestamps before this instant (devices without a real-time clock report 1970).")
        .Bool("reject_bad_quality", &ValidateConfig::reject_bad_quality, true, "Reject readings whose quality is 'bad'.")
        .Check([](const ValidateConfig& c, const YAML::Node& n, Diagnostics& d) {
          TimeUs t;
          if (!c.not_before.empty() && !ParseTimestamp(c.not_before, &t))
            d.Error(n["not_before"], "'not_before' is not a valid timestamp: '" + c.not_before + "'");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Processor>> ValidateProcessor::Create(const ValidateConfig& cfg, const BuildContext& ctx) {
  auto p = std::make_unique<ValidateProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  for (const auto& r : cfg.ranges) p->ranges_.push_back({Selector(r.sensors, r.metrics), r.min, r.max});
  p->clock_ = ctx.clock;
  p->origin_ = ctx.component;
  if (!cfg.not_before.empty() && !ParseTimestamp(cfg.not_before, &p->not_before_))
    return Status::Invalid("bad not_before");
  return std::unique_ptr<Processor>(std::move(p));
}

const ValidateProcessor::Range* ValidateProcessor::RangeFor(const Reading& r) {
  if (ranges_.empty()) return nullptr;
  uint64_t key = SeriesKey(r.sensor, r.metric);
  auto it = range_index_.find(key);
  if (it == range_index_.end()) {
    int idx = -1;
    for (size_t i = 0; i < ranges_.size(); ++i) {
      if (ranges_[i].sel.Matches(r.sensor, r.metric)) {
        idx = static_cast<int>(i);
        break;
      }
    }
    it = range_index_.emplace(key, idx).first;
  }
  return it->second < 0 ? nullptr : &ranges_[static_cast<size_t>(it->second)];
}

void ValidateProcessor::Process(const Batch& in, Batch& out) {
  out.forward_events(in);
  out.readings.reserve(out.readings.size() + in.readings.size());
  const TimeUs now = clock_->now();
  const TimeUs future_limit = cfg_.max_future_secs > 0 ? now + SecondsToUs(cfg_.max_future_secs) : INT64_MAX;
  const TimeUs age_limit = cfg_.max_age_secs > 0 ? now - SecondsToUs(cfg_.max_age_secs) : INT64_MIN;
  for (const Reading& r : in.readings) {
    if (!sel_.Matches(r.sensor, r.metric)) {
      out.readings.push_back(r);
      continue;
    }
    const char* reason = nullptr;
    if (std::isnan(r.value)) reason = "nan";
    else if (std::isinf(r.value)) reason = "infinite";
    else if (cfg_.reject_bad_quality && r.quality == Quality::kBad) reason = "bad_quality";
    else if (r.ts > future_limit) reason = "timestamp_in_future";
    else if (r.ts < age_limit || r.ts < not_before_) reason = "timestamp_too_old";
    else if (const Range* range = RangeFor(r); range && (r.value < range->min || r.value > range->max)) reason = "out_of_range";
    if (reason) {
      ++counters_.rejected;
      out.dead_letters.push_back({r, origin_, reason, {}});
    } else {
      ++counters_.passed;
      out.readings.push_back(r);
    }
  }
}

}  // namespace edgeflow
