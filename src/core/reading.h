#pragma once
// The data model that flows through pipelines.
//
// Stages exchange Batches, never single readings. A Batch owns vectors that
// are cleared, not freed, between uses, so steady-state processing does not
// allocate per reading. Everything in Reading/Aggregate/AlertEvent is POD.
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/symbols.h"

namespace edgeflow {

enum class Quality : uint8_t { kGood = 0, kUncertain = 1, kBad = 2 };
const char* QualityName(Quality q);
// "good"/"uncertain"/"bad" or "0"/"1"/"2".
bool ParseQuality(std::string_view s, Quality* q);

struct Reading {
  TimeUs ts = 0;          // event time
  double value = 0;
  uint64_t seq = 0;       // per-source sequence number, assigned by the source
  Symbol sensor = kNoSymbol;
  Symbol metric = kNoSymbol;
  Quality quality = Quality::kGood;
};

// Fields of a window aggregate, addressable by index so rule expressions
// compile to array lookups.
enum class AggField : uint8_t { kCount, kMean, kMin, kMax, kStddev, kP50, kP95, kRate, kLast, kNumFields };
inline constexpr size_t kNumAggFields = static_cast<size_t>(AggField::kNumFields);
// A set of aggregate fields: bit i is AggField i.
using AggFieldSet = uint32_t;
inline constexpr AggFieldSet kAllAggFields = (1u << kNumAggFields) - 1;
inline constexpr AggFieldSet AggBit(AggField f) { return 1u << static_cast<unsigned>(f); }
const char* AggFieldName(AggField f);
bool ParseAggField(std::string_view name, AggField* out);

struct Aggregate {
  TimeUs start = 0;  // window [start, end) in event time
  TimeUs end = 0;
  Symbol sensor = kNoSymbol;
  Symbol metric = kNoSymbol;
  Symbol window = kNoSymbol;  // id of the window processor
  std::array<double, kNumAggFields> f{};
  double field(AggField a) const { return f[static_cast<size_t>(a)]; }
};

enum class Severity : uint8_t { kInfo, kWarning, kCritical };
const char* SeverityName(Severity s);

enum class AlertState : uint8_t { kOpen, kClear };

struct AlertEvent {
  TimeUs ts = 0;           // event time of the reading/aggregate that changed the state
  TimeUs opened_at = 0;    // for clear events: when the alert opened
  double value = 0;        // the value that triggered (or cleared) the alert
  Symbol rule = kNoSymbol;
  Symbol sensor = kNoSymbol;
  Symbol metric = kNoSymbol;
  Symbol origin = kNoSymbol;  // id of the emitting processor
  AlertState state = AlertState::kOpen;
  Severity severity = Severity::kWarning;
  // False for an alert that is a one-off event (a rule with `emit: every`):
  // it never clears, so it is never "open" for anyone to attend to.
  bool lasting = true;
};

// Why a reading was rejected. Static strings: rejecting does not allocate.
struct DeadLetter {
  Reading reading;
  Symbol origin = kNoSymbol;  // component that rejected it
  const char* reason = "";    // short machine-readable reason, e.g. "out_of_range"
  std::string detail;         // human-readable detail (raw input for parse errors)
};

// Delivery acknowledgement for batches somebody waits on (HTTP ingest answers
// only once its readings are written). The submitter keeps the Delivery; the
// batch carries a DeliveryToken, and every batch derived from it (processor
// outputs, sink copies, coalesced queue slots) shares the token. Sinks release
// it after a successful write, or mark it failed when they give the events up
// (queue policy, final write error). When the last holder releases it, the
// waiter learns whether everything was written. Batches without tokens (the
// usual case) pay nothing.
class Delivery {
 public:
  void Fail(const std::string& why) {
    std::lock_guard l(mu_);
    if (failure_.empty()) failure_ = why;
  }
  // Waits until every holder released its token; false on timeout. `failure`
  // receives the first failure ("" when all was written).
  bool Wait(std::chrono::milliseconds limit, std::string* failure) {
    std::unique_lock l(mu_);
    if (!cv_.wait_for(l, limit, [&] { return done_; })) return false;
    *failure = failure_;
    return true;
  }

 private:
  friend class DeliveryToken;
  void Complete() {
    {
      std::lock_guard l(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string failure_;
};

class DeliveryToken {
 public:
  explicit DeliveryToken(std::shared_ptr<Delivery> d) : d_(std::move(d)) {}
  ~DeliveryToken() { d_->Complete(); }
  DeliveryToken(const DeliveryToken&) = delete;
  DeliveryToken& operator=(const DeliveryToken&) = delete;
  void Fail(const std::string& why) { d_->Fail(why); }

 private:
  std::shared_ptr<Delivery> d_;
};

struct Batch {
  std::vector<Reading> readings;
  std::vector<Aggregate> aggregates;
  std::vector<AlertEvent> alerts;
  std::vector<DeadLetter> dead_letters;
  std::vector<std::shared_ptr<DeliveryToken>> deliveries;  // usually empty

  void clear() {
    readings.clear();
    aggregates.clear();
    alerts.clear();
    dead_letters.clear();
    deliveries.clear();
  }
  // Marks every delivery of this batch failed (its events were given up).
  void fail_deliveries(const std::string& why) {
    for (auto& d : deliveries) d->Fail(why);
  }
  bool empty() const {
    return readings.empty() && aggregates.empty() && alerts.empty() && dead_letters.empty();
  }
  size_t events() const {
    return readings.size() + aggregates.size() + alerts.size() + dead_letters.size();
  }
  // Copies the non-reading events of `in` (processors forward what they do not consume).
  void forward_events(const Batch& in) {
    aggregates.insert(aggregates.end(), in.aggregates.begin(), in.aggregates.end());
    alerts.insert(alerts.end(), in.alerts.begin(), in.alerts.end());
    dead_letters.insert(dead_letters.end(), in.dead_letters.begin(), in.dead_letters.end());
  }
  void append(const Batch& in) {
    readings.insert(readings.end(), in.readings.begin(), in.readings.end());
    forward_events(in);
    deliveries.insert(deliveries.end(), in.deliveries.begin(), in.deliveries.end());
  }
};

// Which kinds of events a consumer wants.
struct EventMask {
  bool readings = true, aggregates = true, alerts = true, dead_letters = true;
  bool all() const { return readings && aggregates && alerts && dead_letters; }
};

// Appends the events of `in` selected by `mask` to `out`.
inline void AppendSelected(Batch& out, const Batch& in, const EventMask& mask) {
  if (mask.readings) out.readings.insert(out.readings.end(), in.readings.begin(), in.readings.end());
  if (mask.aggregates) out.aggregates.insert(out.aggregates.end(), in.aggregates.begin(), in.aggregates.end());
  if (mask.alerts) out.alerts.insert(out.alerts.end(), in.alerts.begin(), in.alerts.end());
  if (mask.dead_letters) out.dead_letters.insert(out.dead_letters.end(), in.dead_letters.begin(), in.dead_letters.end());
  out.deliveries.insert(out.deliveries.end(), in.deliveries.begin(), in.deliveries.end());
}

// A key identifying one series (sensor, metric) for per-series state.
inline uint64_t SeriesKey(Symbol sensor, Symbol metric) {
  return (static_cast<uint64_t>(sensor) << 32) | metric;
}
inline Symbol SeriesSensor(uint64_t key) { return static_cast<Symbol>(key >> 32); }
inline Symbol SeriesMetric(uint64_t key) { return static_cast<Symbol>(key & 0xffffffffu); }

}  // namespace edgeflow
