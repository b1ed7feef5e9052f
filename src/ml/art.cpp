#include "ml/art.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <numeric>

namespace edgeflow::ml {

namespace {

constexpr int kShape = 8;                // downsampled points per shape
constexpr int kFeatures = 2 * kShape;    // wavelet coefficients, then levels
constexpr int kCoded = 2 * kFeatures;    // complement coded: f, then 1 - f
constexpr int64_t kShapesPerLearn = 13;  // shapes in the learning span: sets the downsampling step
constexpr int kLevels = 80;
constexpr double kSnap = 0.075;          // a level this close to the median level is the median
constexpr double kStartVigilance = 0.80; // for the batch that sets the starting vigilance
constexpr double kMaxUpper = 0.97;
constexpr double kSpikeShare = 0.1;      // a step's extreme replaces its mean when 10 % away from it
constexpr int64_t kDiscountSpans = 16;   // learning spans whose candidates discount a new one
constexpr double kMargin = 0.25;         // room added above and below the learned range, in ranges
constexpr double kMaxWiden = 2;          // one value widens the range to at most this many times its span
constexpr double kMaxMagnitude = 1e300;  // readings beyond are taken as this

using Features = std::array<double, kFeatures>;
typedef float Lanes __attribute__((vector_size(16)));

// Fuzzy ART with two vigilance levels. A shape whose match with a category
// reaches `upper` refines it (the category shrinks to what both share); the
// best match between `lower` and `upper` founds a new category of the same
// cluster; below `lower` everywhere, a new cluster: the anomaly candidate.
// The match weighs the whole shape (cubed) and its newest level (squared).
class FuzzyArt {
 public:
  struct Match {
    bool new_cluster = true;
    double best = 0;         // the best match
    double best_newest = 0;  // that category's match on the newest level alone
  };

  explicit FuzzyArt(size_t capacity) : capacity_(capacity) {}

  void SetVigilance(double lower, double upper) {
    lower_ = lower;
    upper_ = upper;
  }
  double lower() const { return lower_; }
  double upper() const { return upper_; }

  Match Present(const Features& f, bool learn) {
    alignas(16) std::array<float, kCoded> x;
    for (int k = 0; k < kFeatures; ++k) {
      x[k] = static_cast<float>(f[k]);
      x[k + kFeatures] = static_cast<float>(1 - f[k]);
    }
    Match m;
    if (w_.empty()) {
      // The first presentation only creates an uncommitted category (all
      // ones: it matches everything by half).
      Category c;
      c.w.fill(1);
      c.Refresh();
      w_.push_back(c);
      m.new_cluster = false;
      return m;
    }
    ++clock_;
    // First every category's match (a tight loop: four-lane minima and
    // sums, no branches), then the winner and the categories that resonate.
    match_.resize(w_.size());
    newest_.resize(w_.size());
    constexpr int newest = kFeatures - 1, newest_c = kCoded - 1;
    for (size_t j = 0; j < w_.size(); ++j) {
      const Category& c = w_[j];
      // Four lanes at a time (GCC vector extensions: SSE on x86-64, NEON on
      // arm64).
      Lanes sum0 = {0, 0, 0, 0}, sum1 = sum0;
      for (int k = 0; k < kCoded; k += 8) {
        Lanes a, b, wa, wb;
        std::memcpy(&a, &x[k], sizeof a);
        std::memcpy(&b, &x[k + 4], sizeof b);
        std::memcpy(&wa, &c.w[k], sizeof wa);
        std::memcpy(&wb, &c.w[k + 4], sizeof wb);
        sum0 += a < wa ? a : wa;
        sum1 += b < wb ? b : wb;
      }
      const Lanes sum = sum0 + sum1;
      const double shared = (static_cast<double>(sum[0]) + sum[1]) + (static_cast<double>(sum[2]) + sum[3]);
      const double whole = shared * c.inv_norm;
      const double last =
          c.inv_newest > 0 ? (static_cast<double>(std::min(x[newest], c.w[newest])) + std::min(x[newest_c], c.w[newest_c])) * c.inv_newest
                           : 1;
      match_[j] = whole * whole * whole * last * last;
      newest_[j] = last;
    }
    size_t best = 0;
    bool resonated = false;
    for (size_t j = 0; j < w_.size(); ++j) {
      if (match_[j] > match_[best]) best = j;
      if (learn && match_[j] >= upper_) {
        Category& c = w_[j];
        for (int k = 0; k < kCoded; ++k) c.w[k] = std::min(x[k], c.w[k]);
        c.Refresh();
        c.used = clock_;
        resonated = true;
      }
    }
    m.best = match_[best];
    m.best_newest = newest_[best];
    if (!learn) return m;
    if (resonated) {
      m.new_cluster = false;
      return m;
    }
    // Nothing resonated: a new category of the best match's cluster, or of a
    // new cluster when even the best is below the lower vigilance.
    m.new_cluster = m.best < lower_;
    if (!m.new_cluster) w_[best].used = clock_;
    Category c;
    c.w = x;
    c.Refresh();
    c.used = clock_;
    if (w_.size() < capacity_) {
      w_.push_back(c);
    } else {
      // Full: the category matched longest ago makes room.
      auto lru = std::min_element(w_.begin(), w_.end(), [](const Category& a, const Category& b) { return a.used < b.used; });
      *lru = c;
    }
    return m;
  }

  // The levels' range changed: a level u is now a * u + b. Categories are
  // boxes [low, high] per level feature, stored as low and 1 - high.
  void Remap(double a, double b) {
    for (Category& c : w_) {
      if (c.used == 0) continue;  // the uncommitted first category
      for (int k = kShape; k < kFeatures; ++k) {
        c.w[k] = static_cast<float>(a * c.w[k] + b);
        c.w[k + kFeatures] = static_cast<float>(1 - (a * (1 - c.w[k + kFeatures]) + b));
      }
      c.Refresh();
    }
  }

 private:
  struct Category {
    alignas(16) std::array<float, kCoded> w;  // float: half the memory and twice the lanes; levels are 1/80 apart
    double inv_norm = 0;          // 1 / the sum of w (a near-empty category: 1000)
    double inv_newest = 0;        // 1 / w's newest level and its complement; 0: they are 0 (matches anything)
    uint64_t used = 0;            // the presentation that last matched it; 0: never (the first category)
    void Refresh() {
      const double norm = std::accumulate(w.begin(), w.end(), 0.0);
      inv_norm = 1 / (norm > 0 ? norm : 1e-3);
      const double newest = static_cast<double>(w[kFeatures - 1]) + w[kCoded - 1];
      inv_newest = newest > 0 ? 1 / newest : 0;
    }
  };
  std::vector<double> match_, newest_;  // scratch, per category
  std::vector<Category> w_;
  size_t capacity_;
  uint64_t clock_ = 0;
  double lower_ = 0, upper_ = 0;
};

// Cosine similarity; against a zero vector, one less the other's length.
double Similarity(const Features& a, const Features& b) {
  double ab = 0, aa = 0, bb = 0;
  for (int k = 0; k < kFeatures; ++k) {
    ab += a[k] * b[k];
    aa += a[k] * a[k];
    bb += b[k] * b[k];
  }
  if (aa == 0) return 1 - std::sqrt(bb);
  if (bb == 0) return 1 - std::sqrt(aa);
  return ab / std::sqrt(aa * bb);
}

// Haar wavelet transform of 8 values, all levels: [approximation, coarsest
// detail, 2 middle details, 4 finest details]; a detail is the earlier value
// less the later (sign 1) or the other way round (-1).
std::array<double, kShape> Haar(std::array<double, kShape> a, double sign) {
  static_assert(kShape == 8);
  std::array<double, kShape> out{};
  const double r = 1 / std::sqrt(2.0);
  for (int n = kShape; n > 1; n /= 2) {
    std::array<double, kShape> next{};
    for (int k = 0; k < n / 2; ++k) {
      next[k] = (a[2 * k] + a[2 * k + 1]) * r;
      out[n / 2 + k] = (a[2 * k] - a[2 * k + 1]) * r * sign;
    }
    a = next;
  }
  out[0] = a[0];
  return out;
}

template <size_t N>
void Rescale(std::array<double, N>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const double l = *lo, span = *hi - *lo;
  for (double& x : v) x = span != 0 ? (x - l) / span : x - l;
}

// A fixed-size ring of the most recent values.
class Ring {
 public:
  Ring(size_t n, double fill) : v_(std::max<size_t>(n, 1), fill) {}
  void Push(double x) {
    v_[next_] = x;
    next_ = (next_ + 1) % v_.size();
  }
  const std::vector<double>& values() const { return v_; }

 private:
  std::vector<double> v_;
  size_t next_ = 0;
};

class Art final : public Detector {
 public:
  explicit Art(const DetectorConfig& c)
      : Detector(c),
        step_(std::max<int64_t>(1, c.learn / (kShape * kShapesPerLearn))),
        learn_points_(c.learn / step_),
        mask_(kShape * 3 / 2),
        art_(static_cast<size_t>(c.window)),
        recent_(static_cast<size_t>(learn_points_ / 2 + 1), 1.0),
        shortfall_(static_cast<size_t>(learn_points_ + 1), 0.0) {
    step_values_.reserve(static_cast<size_t>(step_));
  }

  double Raw(TimeUs, double x) override {
    if (!std::isfinite(x)) return 0;  // not a reading: nothing to learn
    // Sums of a step and spans of the range stay finite.
    step_values_.push_back(std::clamp(x, -kMaxMagnitude, kMaxMagnitude));
    x = step_values_.back();
    if (points_ < learn_points_) {
      lo_ = std::min(lo_, x);
      hi_ = std::max(hi_, x);
    }
    if (static_cast<int64_t>(step_values_.size()) < step_) return 0;
    const double v = Downsample();
    step_values_.clear();
    if (points_ < learn_points_) {
      learning_.push_back(v);
      if (++points_ == learn_points_) LearnBatch();
      return 0;
    }
    ++points_;
    return Detect(Shape(v), points_);
  }

 private:
  // One value per step: its mean, or its extreme (the one further from the
  // recent average) when that stands out: a spike survives downsampling.
  double Downsample() {
    double sum = 0, mn = step_values_[0], mx = step_values_[0];
    for (double x : step_values_) {
      sum += x;
      mn = std::min(mn, x);
      mx = std::max(mx, x);
    }
    const double mean = sum / static_cast<double>(step_values_.size());
    average_ = have_average_ ? (average_ + mean) / 2 : mean;
    have_average_ = true;
    double v = std::fabs(mx - average_) < std::fabs(mn - average_) ? mn : mx;
    if (std::fabs(v - mean) < kSpikeShare * std::fabs(mean)) v = mean;
    return v;
  }

  // Places a downsampled value on the levels of the learned range (snapped
  // to the median level when close to it) and returns the shape it closes.
  Features Shape(double v) {
    if (expand_ && (v > hi_ || v < lo_)) Expand(v);
    const double span = hi_ - lo_;
    double u = span > 0 ? (v - lo_) / span : v - lo_;
    u = std::clamp(u, 0.0, 1.0);
    const int level = static_cast<int>(std::lround(u * kLevels));
    ++histogram_[static_cast<size_t>(level)];
    ++leveled_;
    const int median = cfg_.art_reference ? WalkMedian(level) : Median();
    double q = static_cast<double>(level) / kLevels;
    const double m = static_cast<double>(median) / kLevels;
    // As ARTime: the difference of the two levels as fractions, in floating
    // point, against 0.075: levels 5 apart always snap, 6 apart for some
    // pairs, as the rounding of l/80 - m/80 falls (docs/anomaly-detection.md).
    if (std::fabs(q - m) < kSnap) q = m;
    std::rotate(shape_.begin(), shape_.begin() + 1, shape_.end());
    shape_.back() = q;
    Features f{};
    if (leveled_ < kShape) return f;
    std::array<double, kShape> d = shape_;
    Rescale(d);
    auto w = Haar(d, cfg_.art_reference ? -1 : 1);
    Rescale(w);
    std::copy(w.begin(), w.end(), f.begin());
    std::copy(shape_.begin(), shape_.end(), f.begin() + kShape);
    return f;
  }

  // A value beyond the range widens it, by at most kMaxWiden times its span
  // at once (the value then lies at the new edge): one wild reading (a
  // Modbus error code, a glitch) cannot squeeze every ordinary reading into
  // one level for good; a real change of scale widens it further at each
  // step. A range learned flat gets its margins on first widening.
  void Expand(double v) {
    const double old_lo = lo_, old_span = hi_ - lo_;
    if (old_span > 0) v = std::clamp(v, hi_ - kMaxWiden * old_span, lo_ + kMaxWiden * old_span);
    hi_ = std::max(hi_, v);
    lo_ = std::min(lo_, v);
    if (old_span <= 0 && !cfg_.art_reference) {
      const double span = hi_ - lo_;
      lo_ -= kMargin * span;
      hi_ += kMargin * span;
    }
    const double span = hi_ - lo_;
    if (!(span > 0)) return;
    // A flat learning span put every level at 0, where old_lo now lies.
    const double a = old_span > 0 ? old_span / span : 0, b = (old_lo - lo_) / span;
    art_.Remap(a, b);
    for (double& q : shape_) q = a * q + b;
    std::array<int64_t, kLevels + 1> h{};
    for (int l = 0; l <= kLevels; ++l) {
      const int to = std::clamp(static_cast<int>(std::lround((a * l / kLevels + b) * kLevels)), 0, kLevels);
      h[static_cast<size_t>(to)] += histogram_[static_cast<size_t>(l)];
    }
    histogram_ = h;
    walk_ = std::clamp(static_cast<int>(std::lround((a * walk_ / kLevels + b) * kLevels)), 0, kLevels);
    walk_below_ = walk_above_ = 0;
    for (int l = 0; l <= kLevels; ++l) {
      if (l < walk_) walk_below_ += h[static_cast<size_t>(l)];
      if (l > walk_) walk_above_ += h[static_cast<size_t>(l)];
    }
  }

  // The median level of every point so far.
  int Median() const {
    int64_t below = 0;
    for (int l = 0; l <= kLevels; ++l) {
      below += histogram_[static_cast<size_t>(l)];
      if (2 * below >= leveled_) return l;
    }
    return kLevels;
  }

  // ARTime's estimate of it: a pointer that moves one occupied level per
  // point towards the side holding more than half of the points.
  int WalkMedian(int level) {
    const auto at = [&](int l) { return histogram_[static_cast<size_t>(l)]; };
    if (leveled_ == 1) walk_ = level;
    if (level < walk_) ++walk_below_;
    if (level > walk_) ++walk_above_;
    const int64_t half = leveled_ / 2;
    if (walk_above_ > half) {
      walk_below_ += at(walk_);
      do ++walk_;
      while (walk_ < kLevels && at(walk_) == 0);
      walk_above_ -= at(walk_);
    } else if (walk_below_ > half) {
      walk_above_ += at(walk_);
      do --walk_;
      while (walk_ > 0 && at(walk_) == 0);
      walk_below_ -= at(walk_);
    }
    return walk_;
  }

  // The learning span as a batch: the starting vigilance from how alike its
  // shapes are, then every shape learned in order (scores discarded).
  void LearnBatch() {
    // Room above and below what the learning span saw: ordinary readings
    // keep to the middle levels, and a new extreme still finds its place.
    const double span = hi_ - lo_;
    lo_ -= kMargin * span;
    hi_ += kMargin * span;
    if (cfg_.range_lo < cfg_.range_hi) {  // known in advance
      lo_ = cfg_.range_lo;
      hi_ = cfg_.range_hi;
    }
    std::vector<Features> shapes;
    shapes.reserve(learning_.size());
    for (double v : learning_) shapes.push_back(Shape(v));
    learning_.clear();
    learning_.shrink_to_fit();
    const double start = StartVigilance(std::vector<Features>(shapes.begin() + std::min<size_t>(kShape - 1, shapes.size()), shapes.end()));
    art_.SetVigilance(start, start);
    for (size_t i = 0; i < shapes.size(); ++i) Detect(shapes[i], static_cast<int64_t>(i) + 1);
    expand_ = true;
  }

  // Presents the shapes, least typical first, to a scratch network at the
  // starting vigilance; the mean match of the later half is where this
  // series' shapes resonate.
  double StartVigilance(const std::vector<Features>& shapes) const {
    const size_t n = shapes.size();
    if (n < 4) return kStartVigilance;
    std::vector<double> alike(n, 0);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) alike[i] += i == j ? 1 : Similarity(shapes[i], shapes[j]);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return alike[a] < alike[b]; });
    FuzzyArt scratch(n + 1);
    scratch.SetVigilance(kStartVigilance, kStartVigilance);
    std::vector<double> match;
    for (size_t i : order) match.push_back(scratch.Present(shapes[i], true).best);
    const size_t from = std::min(n - 1, static_cast<size_t>(std::max<int64_t>(0, learn_points_ / 2 - 1)));
    return std::accumulate(match.begin() + static_cast<std::ptrdiff_t>(from), match.end(), 0.0) /
           static_cast<double>(n - from);
  }

  double Detect(const Features& f, int64_t i) {
    const int64_t since = i - last_candidate_;
    const bool after_candidate = since == mask_;
    const bool for_trend = i - last_update_ >= learn_points_ / 2;
    const bool masked_by_candidate = since <= mask_;
    if (i > learn_points_ + mask_ && masked_by_cluster_ && resonant_run_ >= mask_) masked_by_cluster_ = false;
    FuzzyArt::Match m;
    if (i < kShape) {
      m = art_.Present(f, false);  // an incomplete shape: not learned
      m.new_cluster = true;
    } else {
      m = art_.Present(f, true);
    }
    resonant_run_ = m.new_cluster ? 0 : resonant_run_ + 1;
    match_sum_ += m.best;
    ++match_count_;
    recent_.Push(m.best);
    shortfall_.Push(art_.upper() - m.best);
    // A candidate's match is the worst of its masking span.
    if (since < mask_ && candidates_ > 0 && m.best < worst_candidate_match_) {
      candidate_sum_ += m.best - worst_candidate_match_;
      worst_candidate_match_ = m.best;
    }
    const bool masked = masked_by_cluster_ || masked_by_candidate;
    const bool much_worse = m.best < last_candidate_match_ * (masked_by_candidate ? 0.90 : 0.70);
    double score = 0;
    if (i > learn_points_ && m.new_cluster && (!masked || much_worse)) {
      score = Confidence(m);
      // A series that often makes new shapes is less surprised by one more:
      // the score is discounted by the candidates of the last 16 learning
      // spans (thresholds carry over between series: docs/anomaly-detection.md).
      while (!recent_candidates_.empty() && recent_candidates_.front() < i - kDiscountSpans * learn_points_)
        recent_candidates_.pop_front();
      if (!cfg_.art_reference) score /= std::sqrt(1.0 + static_cast<double>(recent_candidates_.size()));
      recent_candidates_.push_back(i);
      ++candidates_;
      candidate_sum_ += m.best;
      last_candidate_match_ = worst_candidate_match_ = m.best;
      last_candidate_ = i;
    }
    masked_by_cluster_ = masked_by_cluster_ || m.new_cluster;
    if (i > learn_points_ && (after_candidate || for_trend)) Adapt(i);
    return score;
  }

  // Vigilance follows the series: the upper level is the mean match so far;
  // the lower rises towards the worst recent match while shapes resonate,
  // and falls by the recent shortfall below the upper level otherwise (never
  // below the candidates' mean match).
  void Adapt(int64_t i) {
    const auto& r = recent_.values();
    const double worst = *std::min_element(r.begin(), r.end());
    const double upper = std::min(kMaxUpper, match_sum_ / static_cast<double>(match_count_));
    double lower = art_.lower();
    if (lower <= worst) {
      lower += (worst - lower) * 0.19;
    } else {
      double decrease = 0;
      if (i > 2 * learn_points_) {
        double sum = 0;
        int n = 0;
        for (double d : shortfall_.values())
          if (d > 0.05) {
            sum += std::min(0.37, d);
            ++n;
          }
        if (n > 0) decrease = sum / n;
      }
      lower -= std::max(0.01, decrease) / 2;
      if (candidates_ > 0) lower = std::max(lower, candidate_sum_ / static_cast<double>(candidates_));
    }
    art_.SetVigilance(std::min(upper, lower), upper);
    last_update_ = i;
    masked_by_cluster_ = true;
  }

  // How far the best match fell below both vigilance levels, and how badly
  // the newest level missed.
  double Confidence(const FuzzyArt::Match& m) const {
    const double miss = 1 - std::min(0.999, m.best);
    const double below_upper = (miss - (1 - art_.upper())) / miss;
    const double below_lower = (miss - (1 - art_.lower())) / miss;
    return std::clamp(below_upper * 0.35 + below_lower * 0.65 + (1 - m.best_newest) * 1.5, 0.0, 1.0);
  }

  const int64_t step_, learn_points_, mask_;
  std::vector<double> step_values_;
  double average_ = 0;
  bool have_average_ = false;
  double lo_ = INFINITY, hi_ = -INFINITY;
  int64_t points_ = 0;
  std::vector<double> learning_;
  std::array<int64_t, kLevels + 1> histogram_{};
  int64_t leveled_ = 0;
  int walk_ = 0;
  int64_t walk_below_ = 0, walk_above_ = 0;
  bool expand_ = false;
  std::array<double, kShape> shape_{};

  FuzzyArt art_;
  int64_t last_candidate_ = 0, last_update_ = 0, resonant_run_ = 0, candidates_ = 0;
  double last_candidate_match_ = 0, worst_candidate_match_ = 0, candidate_sum_ = 0;
  double match_sum_ = 0;
  int64_t match_count_ = 0;
  bool masked_by_cluster_ = false;
  std::deque<int64_t> recent_candidates_;  // downsampled points of the candidates of the last kDiscountSpans
  Ring recent_, shortfall_;
};

}  // namespace

std::unique_ptr<Detector> MakeArtDetector(const DetectorConfig& c) { return std::make_unique<Art>(c); }

}  // namespace edgeflow::ml
