#include "config/selector_options.h"
#include "processors/window.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<WindowConfig>& WindowSchema() {
  static const auto* s = [] {
    auto* s = new Schema<WindowConfig>("window", "");
    WithSelectorOptions(*s)
        .Number<double>("size_secs", &WindowConfig::size_secs, 60, "s", "Window length.", 0.001, 86400.0 * 366)
        .Number<double>("slide_secs", &WindowConfig::slide_secs, 0, "s",
                        "Distance between window starts; 0 or equal to size gives tumbling windows.", 0, 86400.0 * 366)
        .Number<double>("allowed_lateness_secs", &WindowConfig::allowed_lateness_secs, 0, "s",
                        "How long after a window's end out-of-order readings are still accepted.", 0, 86400.0 * 30)
        .Number<int64_t>("size_count", &WindowConfig::size_count, 0, "readings",
                         "When set, the window is the last N readings of each series instead of a time span, and an "
                         "aggregate is emitted for every reading.", 0, 10000)
        .Bool("forward_readings", &WindowConfig::forward_readings, true,
              "Pass the raw readings downstream besides the aggregates.")
        .Check([](const WindowConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.slide_secs > c.size_secs) d.Error(n["slide_secs"], "window: 'slide_secs' must not exceed 'size_secs' (gaps would drop readings)");
          if (c.slide_secs > 0 && c.size_secs / c.slide_secs > 10000)
            d.Error(n["slide_secs"], "window: more than 10000 overlapping windows per reading; increase 'slide_secs'");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Processor>> WindowProcessor::Create(const WindowConfig& cfg, const BuildContext& ctx) {
  auto p = std::make_unique<WindowProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->size_ = std::max<TimeUs>(1, SecondsToUs(cfg.size_secs));
  p->slide_ = cfg.slide_secs > 0 ? std::max<TimeUs>(1, SecondsToUs(cfg.slide_secs)) : p->size_;
  p->lateness_ = SecondsToUs(cfg.allowed_lateness_secs);
  p->count_ = static_cast<size_t>(cfg.size_count);
  p->origin_ = ctx.component;
  return std::unique_ptr<Processor>(std::move(p));
}

static TimeUs FloorTo(TimeUs t, TimeUs step) { return t - (((t % step) + step) % step); }

TimeUs WindowProcessor::FirstWindowContaining(TimeUs ts) const {
  // Smallest aligned start s with s > ts - size, i.e. s + size > ts.
  return FloorTo(ts - size_, slide_) + slide_;
}

void WindowProcessor::Process(const Batch& in, Batch& out) {
  out.forward_events(in);
  for (const Reading& r : in.readings) {
    if (!sel_.Matches(r.sensor, r.metric)) {
      out.readings.push_back(r);
      continue;
    }
    auto [it, fresh] = series_.try_emplace(SeriesKey(r.sensor, r.metric));
    Series& s = it->second;
    if (fresh) {
      s.sensor = r.sensor;
      s.metric = r.metric;
      // The first window still open: a reading up to `lateness` older than
      // this one may still arrive.
      s.next_start = FirstWindowContaining(r.ts - lateness_);
    }
    // A NaN or infinite value (a failed Modbus poll, a CSV "nan") would make
    // every statistic of its windows NaN: it is passed on, not aggregated;
    // its time still closes the windows it has passed.
    const bool finite = std::isfinite(r.value);
    if (count_ > 0) {
      if (cfg_.forward_readings) out.readings.push_back(r);
      if (finite) AddCounted(s, r, out);
      continue;
    }
    if (r.ts < s.next_start) {
      out.dead_letters.push_back({r, origin_, "late", {}});
      continue;
    }
    if (cfg_.forward_readings) out.readings.push_back(r);
    if (finite) {
      Add(s, r, out);
    } else {
      Advance(s, r.ts, out);
    }
  }
}

void WindowProcessor::Advance(Series& s, TimeUs ts, Batch& out) {
  if (ts > s.max_ts) {
    s.max_ts = ts;
    CloseUpTo(s, s.max_ts - lateness_, out);
  }
}

void WindowProcessor::Add(Series& s, const Reading& r, Batch& out) {
  // Insert in timestamp order; in-order data appends.
  if (s.buf.size() == s.head || s.buf.back().ts <= r.ts) {
    s.buf.push_back({r.ts, r.value});
  } else {
    auto pos = std::upper_bound(s.buf.begin() + static_cast<std::ptrdiff_t>(s.head), s.buf.end(), r.ts,
                                [](TimeUs t, const Point& p) { return t < p.ts; });
    s.buf.insert(pos, {r.ts, r.value});
  }
  Advance(s, r.ts, out);
}

void WindowProcessor::CloseUpTo(Series& s, TimeUs watermark, Batch& out) {
  while (s.next_start + size_ <= watermark) {
    if (s.head == s.buf.size()) {
      // Nothing buffered: skip straight to the first window that can hold new data.
      s.next_start = std::max(s.next_start, FloorTo(watermark - size_, slide_) + slide_);
      break;
    }
    // Skip empty windows across gaps in the data — only closed ones: an empty
    // window the watermark has not passed can still receive a late reading.
    const TimeUs first_ts = s.buf[s.head].ts;
    if (s.next_start + size_ <= first_ts)
      s.next_start = std::max(s.next_start, std::min(FirstWindowContaining(first_ts), FirstWindowContaining(watermark)));
    if (s.next_start + size_ > watermark) break;
    EmitWindow(s, s.next_start, out);
    s.next_start += slide_;
    while (s.head < s.buf.size() && s.buf[s.head].ts < s.next_start) ++s.head;
  }
  if (s.head > 4096 && s.head * 2 > s.buf.size()) {
    s.buf.erase(s.buf.begin(), s.buf.begin() + static_cast<std::ptrdiff_t>(s.head));
    s.head = 0;
  }
}

// Linear-interpolation percentile (as numpy's default). Elements before `from`
// must already be <= the rest: pass the rank returned by the previous call
// (smaller q) so it only partitions what is left.
static double Percentile(std::vector<double>& v, size_t from, double q, size_t* rank) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = std::max(from, static_cast<size_t>(pos));
  auto first = v.begin() + static_cast<std::ptrdiff_t>(from);
  std::nth_element(first, v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  *rank = lo;
  const double a = v[lo];
  if (lo + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  return a + (b - a) * (pos - static_cast<double>(lo));
}

void WindowProcessor::Summarize(const Point& first, const Point& last, Aggregate& a) {
  double mean = 0, m2 = 0, mn = INFINITY, mx = -INFINITY, n = 0;
  for (double v : scratch_) {  // Welford: exact for constant windows (stddev == 0)
    n += 1;
    const double delta = v - mean;
    mean += delta / n;
    m2 += delta * (v - mean);
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  auto set = [&](AggField f, double v) { a.f[static_cast<size_t>(f)] = v; };
  set(AggField::kCount, n);
  set(AggField::kMean, mean);
  set(AggField::kMin, mn);
  set(AggField::kMax, mx);
  set(AggField::kStddev, std::sqrt(std::max(0.0, m2 / n)));
  set(AggField::kRate, last.ts > first.ts ? (last.value - first.value) / (static_cast<double>(last.ts - first.ts) / 1e6) : 0.0);
  set(AggField::kLast, last.value);
  // The percentiles partition the values: only when something reads them.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  size_t rank = 0;
  set(AggField::kP50, needed_ & (AggBit(AggField::kP50) | AggBit(AggField::kP95)) ? Percentile(scratch_, 0, 0.50, &rank) : nan);
  set(AggField::kP95, needed_ & AggBit(AggField::kP95) ? Percentile(scratch_, rank, 0.95, &rank) : nan);
}

void WindowProcessor::EmitWindow(Series& s, TimeUs start, Batch& out) {
  const TimeUs end = start + size_;
  scratch_.clear();
  Point first{}, last{};
  for (size_t i = s.head; i < s.buf.size() && s.buf[i].ts < end; ++i) {
    const Point& p = s.buf[i];
    if (p.ts < start) continue;
    if (scratch_.empty()) first = p;
    scratch_.push_back(p.value);
    last = p;
  }
  if (scratch_.empty()) return;
  Aggregate a;
  a.start = start;
  a.end = end;
  a.sensor = s.sensor;
  a.metric = s.metric;
  a.window = origin_;
  Summarize(first, last, a);
  out.aggregates.push_back(a);
}

void WindowProcessor::AddCounted(Series& s, const Reading& r, Batch& out) {
  if (s.buf.size() < count_) {
    s.buf.push_back({r.ts, r.value});
  } else {
    s.buf[s.ring_next] = {r.ts, r.value};
    s.ring_next = (s.ring_next + 1) % count_;
  }
  // Oldest first: from ring_next once the ring is full, from 0 before.
  const size_t n = s.buf.size();
  const size_t oldest = n < count_ ? 0 : s.ring_next;
  scratch_.clear();
  for (size_t i = 0; i < n; ++i) scratch_.push_back(s.buf[(oldest + i) % n].value);
  const Point& first = s.buf[oldest];
  const Point& last = s.buf[(oldest + n - 1) % n];
  Aggregate a;
  a.start = first.ts;
  a.end = r.ts;
  a.sensor = s.sensor;
  a.metric = s.metric;
  a.window = origin_;
  Summarize(first, last, a);
  out.aggregates.push_back(a);
}

void WindowProcessor::Flush(Batch& out) {
  if (count_ > 0) return;  // count windows emit with every reading: nothing is held back
  for (auto& [k, s] : series_) {
    if (s.max_ts == INT64_MIN) continue;
    // Close every window that holds buffered data, including the open ones.
    CloseUpTo(s, FloorTo(s.max_ts, slide_) + size_, out);
  }
}

}  // namespace edgeflow
