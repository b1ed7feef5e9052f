#pragma once
// `window`: event-time tumbling and sliding windows per series.
//
// Windows are aligned to multiples of `slide_secs` since the epoch and cover
// [start, start + size). A series' watermark is its largest timestamp minus
// `allowed_lateness_secs`; a window closes (and its aggregate is emitted) once
// the watermark passes its end. Out-of-order readings within the lateness are
// placed in order; later ones go to dead letters with reason "late".
// Each aggregate carries count, mean, min, max, stddev (population), p50 and
// p95 (linear interpolation), rate (change per second, first to last) and last.
//
// With `size_count: N` the window is instead the last N readings of the series
// (arrival order), and an aggregate is emitted for every reading, stamped with
// that reading's time: "the mean of the last 10 readings".
#include <unordered_map>
#include <vector>

#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"

namespace edgeflow {

struct WindowConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  double size_secs = 60;
  double slide_secs = 0;
  double allowed_lateness_secs = 0;
  int64_t size_count = 0;
  bool forward_readings = true;
};
const config::Schema<WindowConfig>& WindowSchema();

class WindowProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const WindowConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;
  void Flush(Batch& out) override;
  AggFieldSet AggregateFieldsUsed() const override { return 0; }  // forwards others' aggregates unread
  void SetAggregateFieldsNeeded(AggFieldSet fields) override { needed_ = fields; }

 private:
  struct Point {
    TimeUs ts;
    double value;
  };
  struct Series {
    std::vector<Point> buf;  // sorted by ts from `head`
    size_t head = 0;
    TimeUs next_start = 0;   // start of the oldest window not yet emitted
    TimeUs max_ts = INT64_MIN;
    size_t ring_next = 0;    // size_count mode: slot of the oldest reading once full
    Symbol sensor, metric;
  };
  void Add(Series& s, const Reading& r, Batch& out);
  // Moves the series' event time to `ts` (if later) and closes the windows it has passed.
  void Advance(Series& s, TimeUs ts, Batch& out);
  void CloseUpTo(Series& s, TimeUs watermark, Batch& out);
  void EmitWindow(Series& s, TimeUs start, Batch& out);
  void AddCounted(Series& s, const Reading& r, Batch& out);
  // Fills `a` from the values in scratch_ (any order) and the first/last points by time.
  void Summarize(const Point& first, const Point& last, Aggregate& a);
  TimeUs FirstWindowContaining(TimeUs ts) const;

  WindowConfig cfg_;
  Selector sel_;
  TimeUs size_ = 0, slide_ = 0, lateness_ = 0;
  size_t count_ = 0;
  Symbol origin_ = kNoSymbol;
  std::unordered_map<uint64_t, Series> series_;
  std::vector<double> scratch_;
  AggFieldSet needed_ = kAllAggFields;  // fields nothing downstream reads are NaN
};

}  // namespace edgeflow
