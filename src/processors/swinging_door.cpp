#include "processors/swinging_door.h"

#include <cmath>
#include <limits>

#include "config/selector_options.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<SwingingDoorConfig>& SwingingDoorSchema() {
  static const auto* s = [] {
    auto* s = new Schema<SwingingDoorConfig>("swinging_door", "");
    WithSelectorOptions(*s)
        .Number<double>("epsilon", &SwingingDoorConfig::epsilon, 0, "sensor unit",
                        "Maximum error of the piecewise-linear reconstruction (required, > 0).", 0, 1e300)
        .Number<double>("max_interval_secs", &SwingingDoorConfig::max_interval_secs, 0, "s",
                        "Close a segment after this much event time even if it still fits (bounds how long a reading "
                        "is held back); 0: no limit.", 0, 1e9)
        .Check([](const SwingingDoorConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (!(c.epsilon > 0)) d.Error(n, "swinging_door: 'epsilon' must be greater than 0");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Processor>> SwingingDoorProcessor::Create(const SwingingDoorConfig& cfg, const BuildContext&) {
  auto p = std::make_unique<SwingingDoorProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->max_interval_ = SecondsToUs(cfg.max_interval_secs);
  return std::unique_ptr<Processor>(std::move(p));
}

void SwingingDoorProcessor::Close(State& s, Batch& out) {
  if (!s.held) return;
  Reading end = s.last;
  // Any slope in [low, up] keeps every reading of the segment within epsilon;
  // the middle one leaves the most room on both sides.
  const double slope = (s.low + s.up) / 2;
  end.value = s.va + slope * static_cast<double>(end.ts - s.ta) / 1e6;
  out.readings.push_back(end);
  s.ta = end.ts;
  s.va = end.value;
  s.held = false;
}

void SwingingDoorProcessor::Add(State& s, const Reading& r, Batch& out) {
  const bool plain = r.quality == Quality::kGood && std::isfinite(r.value);
  if (!plain || !s.anchored || r.ts <= (s.held ? s.last.ts : s.ta)) {
    Close(s, out);
    out.readings.push_back(r);  // unchanged: a new start
    s.anchored = plain;
    s.ta = r.ts;
    s.va = r.value;
    return;
  }
  if (s.held && max_interval_ > 0 && r.ts - s.ta > max_interval_) Close(s, out);
  const double dt = static_cast<double>(r.ts - s.ta) / 1e6;
  const double up = (r.value + cfg_.epsilon - s.va) / dt;
  const double low = (r.value - cfg_.epsilon - s.va) / dt;
  if (!s.held) {  // the first reading after the anchor opens a segment
    s.low = low;
    s.up = up;
    s.held = true;
    s.last = r;
    return;
  }
  const double nlow = std::max(s.low, low), nup = std::min(s.up, up);
  if (nlow <= nup) {  // still fits: extend the segment
    s.low = nlow;
    s.up = nup;
    s.last = r;
    return;
  }
  Close(s, out);  // the door closed: end the segment at the previous reading
  const double dt2 = static_cast<double>(r.ts - s.ta) / 1e6;
  s.low = (r.value - cfg_.epsilon - s.va) / dt2;
  s.up = (r.value + cfg_.epsilon - s.va) / dt2;
  s.held = true;
  s.last = r;
}

void SwingingDoorProcessor::Process(const Batch& in, Batch& out) {
  out.forward_events(in);
  for (const Reading& r : in.readings) {
    if (!sel_.Matches(r.sensor, r.metric)) {
      out.readings.push_back(r);
      continue;
    }
    Add(state_[SeriesKey(r.sensor, r.metric)], r, out);
  }
}

void SwingingDoorProcessor::Flush(Batch& out) {
  for (auto& [key, s] : state_) Close(s, out);
}

}  // namespace edgeflow
