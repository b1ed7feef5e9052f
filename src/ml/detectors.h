#pragma once
// Streaming anomaly detectors, one instance per series. Each reading is
// scored against what came before it (no look-ahead), then learned. Scores
// lie in [0, 1]: 0 ordinary, towards 1 ever more unusual.
//
//   zscore  — distance from an exponentially weighted mean, in standard
//             deviations. Cheapest; follows slow drifts.
//   robust  — distance from the median of the last `window` readings in
//             robust deviations (MAD), blind to the outliers it has seen.
//   change  — robust on the readings and on their first differences,
//             whichever is more unusual: also sudden changes of slope or of
//             noise that stay within the usual range.
//   seasonal — change, and the reading against the same time of day on the
//             previous three days (median of the nearest readings): a daily
//             cycle that fails to happen or comes at the wrong time.
//   knn     — contextual: how far the last `dim` readings (scaled to the
//             series' range) lie from their nearest neighbour among the
//             last `window` such patterns, in robust deviations of the
//             recent such distances. Catches changes of shape, not only of
//             level; the most expensive.
//
// With `quiet` > 0, every detector reports an event once: a reading scores only
// when its score rises above every score of the previous `quiet` readings,
// 0 otherwise (one alert per event; the benchmark also rewards only the
// first detection of an anomaly and charges every later false one).
// `quiet_time` > 0 does the same over the readings of the previous
// `quiet_time` instead of a count: the same span of time whatever the
// series' sampling interval.
// With `escalate` > 1 as well, a reading that rises above the quiet span
// within `escalate_time` of the last report reports only when its deviation
// is at least `escalate` times that report's: a reading that drifts ever
// further (a slow ramp) is one event, not one per reading; an event that
// gets markedly worse reports again.
// With `event_median` K > 0 as well, such a candidate reports only when its
// deviation is at least the median of the previous K candidates' of the
// series: a series whose usual excursions are large (spiky counts) needs a
// larger one to report, a quiet series reports a small one.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace edgeflow::ml {

inline constexpr int64_t kMaxEventMedian = 64;

struct DetectorConfig {
  std::string kind = "robust";  // zscore | robust | change | seasonal | knn | art
  double alpha = 0.02;           // zscore: EWMA weight of a new reading
  int64_t window = 1000;         // robust: readings; knn: patterns remembered
  int64_t dim = 8;               // knn: readings per pattern
  int64_t warmup = 30;           // readings before any score above 0
  int64_t learn = 750;           // art: readings learned as a batch before scoring
  double range_lo = 0;           // art: the series' known range (range_lo < range_hi); both 0: learned
  double range_hi = 0;
  bool art_reference = false;    // art: as ARTime (its wavelet sign and running-median estimate, no discount): comparison only
  int64_t quiet = 0;             // only rises above the last `quiet` scores report; 0: off
  TimeUs quiet_time = 0;         // only rises above the scores of the last `quiet_time` report; 0: off
  double escalate = 0;           // > 1: within escalate_time of a report, only this many times its deviation reports
  TimeUs escalate_time = 0;
  int64_t event_median = 0;      // > 0: only candidates at least the median of the previous this many report
};

// Scores map distances measured in deviations to [0, 1): 3 deviations score
// 0.5. Deviations(Score) inverts it.
double ScoreOfDeviations(double z);
double DeviationsOfScore(double s);
Status ValidateDetector(const DetectorConfig& c);

class Detector {
 public:
  virtual ~Detector() = default;
  // The score of `value` (at `ts`) against the past; then learns it. With a
  // reporting policy (quiet, escalate, event_median) 0 unless it reports.
  double Score(TimeUs ts, double value);
  // The last reading's score before the reporting policy.
  double last_score() const { return last_; }

 protected:
  explicit Detector(const DetectorConfig& c) : cfg_(c) {}
  virtual double Raw(TimeUs ts, double value) = 0;
  DetectorConfig cfg_;

 private:
  // The reporting policy (quiet, escalate, event_median) for score `s`.
  bool Reports(TimeUs ts, double s);
  int64_t seen_ = 0;
  double last_ = 0;
  // (reading number or time, score): decreasing maxima of the last `quiet`
  // readings or `quiet_time`.
  std::deque<std::pair<int64_t, double>> peaks_;
  TimeUs reported_at_ = 0;
  double reported_z_ = 0;       // deviations of the last report; 0: none yet
  std::vector<double> events_;  // deviations of the last `event_median` candidates (a ring)
  size_t next_event_ = 0;
};

Result<std::unique_ptr<Detector>> MakeDetector(const DetectorConfig& c);
const std::vector<std::string>& DetectorKinds();

}  // namespace edgeflow::ml
