#include "ml/detectors.h"

#include <algorithm>
#include <cmath>

#include "ml/art.h"

namespace edgeflow::ml {

namespace {

class ZScore final : public Detector {
 public:
  explicit ZScore(const DetectorConfig& c) : Detector(c) {}
  double Raw(TimeUs, double x) override {
    if (n_++ == 0) {
      mean_ = x;
      return 0;
    }
    const double d = x - mean_;
    const double sd = std::sqrt(var_);
    const double z = sd > 0 ? std::fabs(d) / sd : (d != 0 ? 1e9 : 0);
    mean_ += cfg_.alpha * d;
    var_ = (1 - cfg_.alpha) * (var_ + cfg_.alpha * d * d);
    return ScoreOfDeviations(z);
  }

 private:
  double mean_ = 0, var_ = 0;
  int64_t n_ = 0;
};

// Median and interquartile range of the last `window` readings, kept sorted:
// an insertion and a removal (binary search and a move) per reading.
class Robust final : public Detector {
 public:
  explicit Robust(const DetectorConfig& c) : Detector(c) {
    ring_.reserve(static_cast<size_t>(c.window));
    sorted_.reserve(static_cast<size_t>(c.window));
  }
  double Raw(TimeUs, double x) override {
    double score = 0;
    const size_t n = sorted_.size();
    if (n >= 4) {
      const double median = Quantile(0.5), iqr = Quantile(0.75) - Quantile(0.25);
      // A flat history (stuck sensor, idle machine) still has a scale: a
      // small part of the range the series has covered so far.
      const double scale = std::max({iqr / 1.349, kRangeFloor * (hi_ - lo_), 1e-9});
      score = ScoreOfDeviations(std::fabs(x - median) / scale);
    }
    lo_ = std::min(lo_, x);
    hi_ = std::max(hi_, x);
    if (ring_.size() < static_cast<size_t>(cfg_.window)) {
      ring_.push_back(x);
      sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), x), x);
    } else {
      Replace(ring_[next_], x);
      ring_[next_] = x;
      next_ = (next_ + 1) % ring_.size();
    }
    return score;
  }

 private:
  // Replaces `old` by `x` in sorted_, moving only the values between their
  // places (consecutive readings are usually close: a short move, not two
  // moves of half the window).
  void Replace(double old, double x) {
    const auto i = std::lower_bound(sorted_.begin(), sorted_.end(), old);
    const auto j = std::upper_bound(sorted_.begin(), sorted_.end(), x);
    if (j > i) {
      std::move(i + 1, j, i);
      *(j - 1) = x;
    } else {
      std::move_backward(j, i, i + 1);
      *j = x;
    }
  }
  double Quantile(double q) const {
    const double pos = q * static_cast<double>(sorted_.size() - 1);
    const size_t i = static_cast<size_t>(pos);
    const double f = pos - static_cast<double>(i);
    return i + 1 < sorted_.size() ? sorted_[i] * (1 - f) + sorted_[i + 1] * f : sorted_[i];
  }
  static constexpr double kRangeFloor = 0.01;
  std::vector<double> ring_, sorted_;
  size_t next_ = 0;
  double lo_ = INFINITY, hi_ = -INFINITY;
};

// The robust detector on the readings and on their changes (first
// differences), whichever finds the reading more unusual: level shifts and
// spikes, and also sudden changes of slope or of noise that stay within the
// usual range.
class Change final : public Detector {
 public:
  explicit Change(const DetectorConfig& c) : Detector(c), level_(c), step_(c) {}
  double Raw(TimeUs ts, double x) override {
    const double a = level_.Raw(ts, x);
    const double b = have_ ? step_.Raw(ts, x - last_) : 0;
    last_ = x;
    have_ = true;
    return std::max(a, b);
  }

 private:
  Robust level_, step_;
  double last_ = 0;
  bool have_ = false;
};

// What a series did at a past time: the mean of its readings in each
// five-minute bucket of the last three weeks (and half an hour), in a ring
// — a fixed 97 KB per series whatever the reading rate.
class BucketHistory {
 public:
  static constexpr TimeUs kBucket = 5 * 60 * kUsPerSec;
  static constexpr TimeUs kTolerance = 15 * 60 * kUsPerSec;

  // The mean of the bucket nearest to `t` that holds readings, at most
  // kTolerance away; false when there is none.
  bool At(TimeUs t, double* mean) const {
    if (slots_.empty()) return false;
    const int64_t b = Bucket(t);
    constexpr int64_t kReach = kTolerance / kBucket;
    for (int64_t d = 0; d <= kReach; ++d) {
      for (const int64_t k : {b - d, b + d}) {
        const Slot& s = slots_[static_cast<size_t>(Mod(k))];
        if (s.n > 0 && s.bucket == static_cast<int32_t>(k)) {
          *mean = s.sum / s.n;
          return true;
        }
        if (d == 0) break;
      }
    }
    return false;
  }
  void Add(TimeUs t, double x) {
    if (slots_.empty()) slots_.resize(kSlots);
    const int64_t b = Bucket(t);
    Slot& s = slots_[static_cast<size_t>(Mod(b))];
    if (s.bucket != static_cast<int32_t>(b)) s = Slot{static_cast<int32_t>(b), 0, 0};
    s.sum += x;
    ++s.n;
  }

 private:
  struct Slot {
    int32_t bucket = 0;  // low 32 bits of the bucket number (they repeat every 40,000 years)
    int32_t n = 0;
    double sum = 0;
  };
  static constexpr int64_t kSlots = (21 * 86400 * kUsPerSec + 2 * kTolerance) / kBucket + 1;
  static int64_t Bucket(TimeUs t) { return t >= 0 ? t / kBucket : (t - kBucket + 1) / kBucket; }
  static int64_t Mod(int64_t b) { return ((b % kSlots) + kSlots) % kSlots; }
  std::vector<Slot> slots_;
};

// `change`, and the reading against what the series did at the same time on
// the previous days and weeks: the median of the readings at t - 1 d, 2 d,
// 3 d is one baseline, the median at t - 7 d, 14 d, 21 d (human activity:
// weekends, holidays) another; each residual is scored in robust
// deviations of recent such residuals. A daily cycle that fails to happen,
// or happens at the wrong time, is unusual there even when every value is
// within the usual range.
class Seasonal final : public Detector {
 public:
  explicit Seasonal(const DetectorConfig& c) : Detector(c), change_(c), daily_(c), weekly_(c) {}
  double Raw(TimeUs ts, double x) override {
    const double a = change_.Raw(ts, x);
    double b = 0, w = 0, base = 0;
    if (Baseline(ts, kDay, &base)) b = daily_.Raw(ts, x - base);
    if (Baseline(ts, 7 * kDay, &base)) w = weekly_.Raw(ts, x - base);
    hist_.Add(ts, x);
    return std::max({a, b, w});
  }

 private:
  static constexpr TimeUs kDay = 86400 * kUsPerSec;
  // The median of the readings at ts - period, - 2 period, - 3 period.
  bool Baseline(TimeUs ts, TimeUs period, double* out) const {
    double v[3];
    for (int k = 0; k < 3; ++k)
      if (!hist_.At(ts - (k + 1) * period, &v[k])) return false;
    std::sort(v, v + 3);
    *out = v[1];
    return true;
  }
  Change change_;
  Robust daily_, weekly_;
  BucketHistory hist_;
};

// Nearest-neighbour distance of the latest pattern (the last `dim` readings)
// to the patterns seen before, in units of the series' range, compared with
// the recent nearest-neighbour distances.
class Knn final : public Detector {
 public:
  explicit Knn(const DetectorConfig& c)
      : Detector(c), dim_(static_cast<size_t>(c.dim)), cap_(static_cast<size_t>(c.window)) {
    last_.reserve(dim_);
  }
  double Raw(TimeUs, double x) override {
    lo_ = std::min(lo_, x);
    hi_ = std::max(hi_, x);
    last_.push_back(x);
    if (last_.size() > dim_) last_.erase(last_.begin());
    if (last_.size() < dim_) return 0;
    const double range = hi_ - lo_;
    // Nearest neighbour among stored patterns that do not overlap the current one.
    double best = INFINITY;
    const size_t usable = count_ > dim_ ? count_ - dim_ : 0;
    for (size_t k = 0; k < usable; ++k) {
      const double* p = &patterns_[((head_ + cap_ - 1 - dim_ - k) % cap_) * dim_];
      double d = 0;
      for (size_t j = 0; j < dim_ && d < best; ++j) d += (p[j] - last_[j]) * (p[j] - last_[j]);
      best = std::min(best, d);
    }
    double score = 0;
    if (usable > 0) {
      const double dist = range > 0 ? std::sqrt(best) / range : 0;
      // How unusual this distance is among the recent nearest-neighbour
      // distances, in robust deviations (median and interquartile range).
      if (recent_.size() >= 8) {
        sorted_ = recent_;
        std::sort(sorted_.begin(), sorted_.end());
        const auto q = [&](double f) { return sorted_[static_cast<size_t>(f * static_cast<double>(sorted_.size() - 1))]; };
        const double median = q(0.5), scale = std::max((q(0.75) - q(0.25)) / 1.349, 1e-3);
        score = dist > median ? ScoreOfDeviations((dist - median) / scale) : 0;
      }
      if (recent_.size() < kRecent) recent_.push_back(dist);
      else recent_[recent_next_++ % kRecent] = dist;
    }
    // Remember the current pattern.
    if (patterns_.empty()) patterns_.assign(cap_ * dim_, 0.0);
    std::copy(last_.begin(), last_.end(), patterns_.begin() + static_cast<std::ptrdiff_t>(head_ * dim_));
    head_ = (head_ + 1) % cap_;
    count_ = std::min(count_ + 1, cap_);
    return score;
  }

 private:
  static constexpr size_t kRecent = 200;
  size_t dim_, cap_;
  std::vector<double> last_, patterns_, recent_, sorted_;
  size_t head_ = 0, count_ = 0, recent_next_ = 0;
  double lo_ = INFINITY, hi_ = -INFINITY;
};

}  // namespace

double ScoreOfDeviations(double z) { return z * z / (z * z + 9.0); }
double DeviationsOfScore(double s) { return s < 1 ? 3 * std::sqrt(s / (1 - s)) : INFINITY; }

double Detector::Score(TimeUs ts, double value) {
  double s = Raw(ts, value);
  if (!std::isfinite(s)) s = 1;
  s = std::clamp(s, 0.0, 1.0);
  if (++seen_ <= cfg_.warmup) return last_ = 0;
  last_ = s;
  if (cfg_.quiet <= 0 && cfg_.quiet_time <= 0) return s;
  return Reports(ts, s) ? s : 0;
}

bool Detector::Reports(TimeUs ts, double s) {
  // Only a rise above every score of the last `quiet` readings (or of the
  // last `quiet_time`) can report: a long event is one detection at its
  // onset, whatever the threshold. The span's maximum is kept in a
  // monotonic queue (amortised O(1)).
  const bool by_time = cfg_.quiet_time > 0;
  const int64_t at = by_time ? ts : seen_;
  const int64_t oldest = by_time ? ts - cfg_.quiet_time : seen_ - cfg_.quiet;  // entries before it have expired
  while (!peaks_.empty() && peaks_.front().first < oldest) peaks_.pop_front();
  const double recent = peaks_.empty() ? 0 : peaks_.front().second;
  while (!peaks_.empty() && peaks_.back().second <= s) peaks_.pop_back();
  peaks_.emplace_back(at, s);
  if (s <= recent) return false;
  const double z = DeviationsOfScore(s);
  // Within escalate_time of the last report only a markedly worse reading
  // reports again.
  if (cfg_.escalate > 1 && reported_z_ > 0 && ts - reported_at_ < cfg_.escalate_time && z < cfg_.escalate * reported_z_)
    return false;
  if (cfg_.event_median > 0) {
    // A candidate smaller than the series' usual one stays silent.
    const size_t k = static_cast<size_t>(cfg_.event_median);
    bool usual = false;
    if (events_.size() == k) {
      double sorted[kMaxEventMedian];
      std::copy(events_.begin(), events_.end(), sorted);
      std::nth_element(sorted, sorted + k / 2, sorted + k);
      usual = z < sorted[k / 2];
      events_[next_event_] = z;
      next_event_ = (next_event_ + 1) % k;
    } else {
      events_.push_back(z);
    }
    if (usual) return false;
  }
  reported_at_ = ts;
  reported_z_ = z;
  return true;
}

const std::vector<std::string>& DetectorKinds() {
  static const std::vector<std::string> k = {"zscore", "robust", "change", "seasonal", "knn", "art"};
  return k;
}

Status ValidateDetector(const DetectorConfig& c) {
  if (std::find(DetectorKinds().begin(), DetectorKinds().end(), c.kind) == DetectorKinds().end())
    return Status::Invalid("unknown detector '" + c.kind + "' (zscore, robust, change, seasonal, knn or art)");
  if (!(c.alpha > 0 && c.alpha <= 1)) return Status::Invalid("alpha must be in (0, 1]");
  if (c.window < 8 || c.window > 1'000'000) return Status::Invalid("window must be in [8, 1000000]");
  if (c.dim < 1 || c.dim > 256) return Status::Invalid("dim must be in [1, 256]");
  if (c.learn < 64 || c.learn > 10'000'000) return Status::Invalid("learn must be in [64, 10000000]");
  if ((c.range_lo != 0 || c.range_hi != 0) &&
      !(std::isfinite(c.range_lo) && std::isfinite(c.range_hi) && c.range_lo < c.range_hi))
    return Status::Invalid("the range's low end must be below its high end");
  if (c.kind == "knn" && c.window <= c.dim) return Status::Invalid("window must be larger than dim");
  if (c.warmup < 0 || c.quiet < 0 || c.quiet_time < 0)
    return Status::Invalid("warmup, quiet and quiet_time must not be negative");
  if (c.quiet > 0 && c.quiet_time > 0) return Status::Invalid("give quiet or quiet_time, not both");
  if (c.escalate != 0 && !(c.escalate > 1 && c.escalate <= 100)) return Status::Invalid("escalate must be 0 (off) or in (1, 100]");
  if (c.escalate_time < 0) return Status::Invalid("escalate_time must not be negative");
  static_assert(kMaxEventMedian == 64, "the message below names the limit");
  if (c.event_median < 0 || c.event_median > kMaxEventMedian)
    return Status::Invalid("event_median must be in [0, 64]");
  if (c.event_median > 0 && c.quiet <= 0 && c.quiet_time <= 0) return Status::Invalid("event_median needs quiet or quiet_time");
  if (c.escalate > 1 && c.quiet <= 0 && c.quiet_time <= 0) return Status::Invalid("escalate needs quiet or quiet_time");
  return Status::Ok();
}

Result<std::unique_ptr<Detector>> MakeDetector(const DetectorConfig& c) {
  EF_RETURN_IF_ERROR(ValidateDetector(c));
  if (c.kind == "zscore") return std::unique_ptr<Detector>(new ZScore(c));
  if (c.kind == "knn") return std::unique_ptr<Detector>(new Knn(c));
  if (c.kind == "art") return MakeArtDetector(c);
  if (c.kind == "change") return std::unique_ptr<Detector>(new Change(c));
  if (c.kind == "seasonal") return std::unique_ptr<Detector>(new Seasonal(c));
  return std::unique_ptr<Detector>(new Robust(c));
}

}  // namespace edgeflow::ml
