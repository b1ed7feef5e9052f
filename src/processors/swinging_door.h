#pragma once
// `swinging_door`: error-bounded compression of each series (a swinging-door
// variant that makes the bound strict).
//
// Guarantee: linear interpolation between consecutive emitted readings of a
// series is within `epsilon` of every reading that came in (at its
// timestamp). Emitted readings lie on those segments: the first reading of a
// series, and readings after a bad quality, a non-finite value or a time step
// backwards, are emitted unchanged; segment end points carry the timestamp
// and seq of the original reading, with a value within epsilon of it.
//
// Per series the processor keeps an anchor (the last emitted point) and the
// interval of slopes that keeps every reading since the anchor within
// epsilon; a reading that empties the interval closes the segment at the
// previous reading. The open segment's last reading is held back until then,
// until `max_interval_secs` passes (event time), or until Flush().
#include <unordered_map>

#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"

namespace edgeflow {

struct SwingingDoorConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  double epsilon = 0;
  double max_interval_secs = 0;
};
const config::Schema<SwingingDoorConfig>& SwingingDoorSchema();

class SwingingDoorProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const SwingingDoorConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;
  void Flush(Batch& out) override;

 private:
  struct State {
    bool anchored = false;
    TimeUs ta = 0;
    double va = 0;
    bool held = false;
    Reading last{};  // the open segment's last reading
    double low = 0, up = 0;  // feasible slopes (units per second) from the anchor
  };
  void Add(State& s, const Reading& r, Batch& out);
  void Close(State& s, Batch& out);  // emits the open segment's end point
  SwingingDoorConfig cfg_;
  Selector sel_;
  TimeUs max_interval_ = 0;
  std::unordered_map<uint64_t, State> state_;
};

}  // namespace edgeflow
