#include "ml/detectors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

namespace edgeflow::ml {
namespace {

std::unique_ptr<Detector> Make(const std::string& kind, int64_t quiet = 0) {
  DetectorConfig c;
  c.kind = kind;
  c.quiet = quiet;
  auto d = MakeDetector(c);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return std::move(d).value();
}

// Noisy level around 20 with a daily-like wave; then a spike at `at`.
std::vector<double> Signal(size_t n, size_t at, double spike) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 0.3);
  std::vector<double> v;
  for (size_t i = 0; i < n; ++i) v.push_back(20 + 2 * std::sin(i / 40.0) + noise(rng) + (i == at ? spike : 0));
  return v;
}

TEST(Detectors, ASpikeScoresHighAndOrdinaryReadingsLow) {
  for (const auto& kind : DetectorKinds()) {
    SCOPED_TRACE(kind);
    auto d = Make(kind);
    const auto v = Signal(2000, 1500, 8);
    double worst_ordinary = 0, spike = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const double s = d->Score(static_cast<TimeUs>(i) * kUsPerSec, v[i]);
      ASSERT_GE(s, 0);
      ASSERT_LE(s, 1);
      // art scores the reading that completes the downsampling step holding
      // the spike (a step of 750 / 104 = 7 readings).
      if (i == 1500 || (kind == "art" && i > 1500 && i < 1507)) spike = std::max(spike, s);
      else if (i > 1000 && i < 1490) worst_ordinary = std::max(worst_ordinary, s);
    }
    EXPECT_GE(spike, 0.5);
    EXPECT_GT(spike, worst_ordinary);
  }
}

TEST(Detectors, KnnSeesAChangeOfShapeAtTheSameLevel) {
  auto knn = Make("knn");
  auto robust = Make("robust");
  double knn_before = 0, knn_change = 0, robust_change = 0;
  for (int i = 0; i < 3000; ++i) {
    // A square wave between 0 and 10; from 2500 on, one between the same levels five times as fast.
    const int period = i < 2500 ? 40 : 8;
    const double x = (i / (period / 2)) % 2 ? 10 : 0;
    const double k = knn->Score(i, x), r = robust->Score(i, x);
    if (i > 1500 && i < 2490) knn_before = std::max(knn_before, k);
    if (i >= 2500 && i < 2560) {
      knn_change = std::max(knn_change, k);
      robust_change = std::max(robust_change, r);
    }
  }
  EXPECT_GE(knn_change, 0.9);
  EXPECT_LT(knn_before, 0.5);
  EXPECT_LT(robust_change, 0.5) << "the level detector cannot see it: that is what knn is for";
}

// A daily cycle (5-minute readings) that stays flat at its mean for half a
// day: every value is within the usual range, so only the comparison with
// the same time on the previous days sees it.
TEST(Detectors, SeasonalSeesADailyCycleThatFailsToHappen) {
  constexpr int kPerDay = 288;
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.5);
  auto seasonal = Make("seasonal"), change = Make("change");
  double seasonal_flat = 0, change_flat = 0, seasonal_before = 0;
  for (int i = 0; i < 6 * kPerDay; ++i) {
    const bool flat = i >= 5 * kPerDay && i < 5 * kPerDay + kPerDay / 2;
    const double v = 50 + (flat ? 0 : 20 * std::sin(2 * M_PI * i / kPerDay)) + noise(rng);
    const TimeUs ts = static_cast<TimeUs>(i) * 300 * kUsPerSec;
    const double s = seasonal->Score(ts, v), c = change->Score(ts, v);
    if (flat) seasonal_flat = std::max(seasonal_flat, s), change_flat = std::max(change_flat, c);
    else if (i > 4 * kPerDay && i < 5 * kPerDay) seasonal_before = std::max(seasonal_before, s);
  }
  std::printf("flat half-day: seasonal %.3f, change %.3f; the day before: seasonal %.3f\n", seasonal_flat, change_flat,
              seasonal_before);
  EXPECT_GT(seasonal_flat, 0.95);
  EXPECT_LT(seasonal_before, 0.9);
  EXPECT_LT(change_flat, seasonal_flat - 0.2) << "the level and step detectors barely notice";
}

TEST(Detectors, QuietReportsAnEventOnceAtItsOnset) {
  auto d = Make("robust", 100);
  const auto v = Signal(1200, 1000, 8);
  std::vector<double> s;
  for (size_t i = 0; i < v.size(); ++i) s.push_back(d->Score(i, v[i] + (i == 1001 ? 7 : 0)));
  EXPECT_GE(s[1000], 0.5);
  EXPECT_EQ(s[1001], 0) << "the second reading of the same event does not report again";
  int reported = 0;
  for (size_t i = 1002; i < 1100; ++i) reported += s[i] > 0.5;
  EXPECT_EQ(reported, 0);
}

TEST(Detectors, QuietTimeSpansTheSameTimeWhateverTheSamplingInterval) {
  // A large spike, a smaller one 30 min later (same event: silent) and
  // another 90 min after the first (a new event: reported), at one reading a
  // minute and at one every five minutes.
  for (const int64_t step_s : {60, 300}) {
    SCOPED_TRACE(step_s);
    DetectorConfig c;
    c.kind = "robust";
    c.quiet_time = 3600 * kUsPerSec;
    auto d = std::move(MakeDetector(c)).value();
    const auto v = Signal(1400, 1000, 8);
    const size_t b = 1000 + static_cast<size_t>(1800 / step_s), late = 1000 + static_cast<size_t>(5400 / step_s);
    std::vector<double> s;
    for (size_t i = 0; i < v.size(); ++i)
      s.push_back(d->Score(static_cast<TimeUs>(i) * step_s * kUsPerSec, v[i] + (i == b || i == late ? 5 : 0)));
    EXPECT_GE(s[1000], 0.5);
    EXPECT_EQ(s[b], 0) << "within an hour of a larger score";
    EXPECT_GE(s[late], 0.5) << "the larger score is more than an hour old";
  }
}

TEST(Detectors, EscalateReportsARampOnceAndAMarkedlyWorseReadingAgain) {
  // After 1000 ordinary readings (one a minute) the series drifts away one
  // step a minute for 30 minutes, then jumps far beyond the drift.
  const auto run = [](double escalate) {
    DetectorConfig c;
    c.kind = "robust";
    c.quiet_time = 96 * 3600 * kUsPerSec;
    c.escalate = escalate;
    c.escalate_time = 12 * 3600 * kUsPerSec;
    auto d = std::move(MakeDetector(c)).value();
    auto v = Signal(1100, 0, 0);
    for (size_t i = 1000; i < 1030; ++i) v[i] += 0.5 * static_cast<double>(i - 999);
    v[1030] += 60;
    std::vector<double> s;
    for (size_t i = 0; i < v.size(); ++i) s.push_back(d->Score(static_cast<TimeUs>(i) * 60 * kUsPerSec, v[i]));
    return s;
  };
  const auto count = [](const std::vector<double>& s, size_t from, size_t to) {
    int n = 0;
    for (size_t i = from; i < to; ++i) n += s[i] > 0;
    return n;
  };
  const auto plain = run(0), escalated = run(2);
  EXPECT_GT(count(plain, 1000, 1030), 10) << "without escalate every step of the ramp is a new maximum";
  EXPECT_LE(count(escalated, 1000, 1030), 4) << "each report needs twice the deviation of the last";
  EXPECT_GT(escalated[1030], 0.9) << "the jump is far beyond the ramp";
  EXPECT_NEAR(DeviationsOfScore(ScoreOfDeviations(4.5)), 4.5, 1e-12);
}

TEST(Detectors, EventMedianSilencesCandidatesSmallerThanTheSeriesUsualOnes) {
  // A flat series with an excursion of +10 every 100 readings, then one of
  // +6: smaller than this series' usual excursion. On a series whose
  // excursions are all +6, the same +6 reports.
  const auto run = [](int64_t event_median, double usual) {
    DetectorConfig c;
    c.kind = "robust";
    c.quiet = 50;
    c.event_median = event_median;
    auto d = std::move(MakeDetector(c)).value();
    std::vector<double> s;
    for (int i = 0; i < 900; ++i) {
      double v = 20;
      if (i > 0 && i <= 700 && i % 100 == 0) v += usual;
      if (i == 800) v += 6;
      s.push_back(d->Score(static_cast<TimeUs>(i) * 60 * kUsPerSec, v));
    }
    return s;
  };
  const auto spiky = run(5, 10), spiky_off = run(0, 10), calm = run(5, 6);
  for (int i = 100; i <= 700; i += 100) EXPECT_GT(spiky[i], 0.9) << i;
  EXPECT_EQ(spiky[800], 0) << "smaller than the median of the last five excursions";
  EXPECT_GT(spiky_off[800], 0.9);
  EXPECT_GT(calm[800], 0.9) << "as large as this series' usual excursion";
}

TEST(Detectors, ScoresDependOnlyOnThePast) {
  const auto v = Signal(3000, 2900, 5);
  for (const auto& kind : DetectorKinds()) {
    auto full = Make(kind), prefix = Make(kind);
    std::vector<double> a, b;
    for (size_t i = 0; i < v.size(); ++i) a.push_back(full->Score(i, v[i]));
    for (size_t i = 0; i < 2000; ++i) b.push_back(prefix->Score(i, v[i]));  // beyond art's learning span (750)
    EXPECT_TRUE(std::equal(b.begin(), b.end(), a.begin())) << kind;
  }
}

TEST(Detectors, ArtFlagsAShapeItHasNotSeenAtTheSameLevels) {
  auto art = Make("art");
  double before = 0, change = 0;
  int64_t change_at = -1;
  for (int i = 0; i < 4000; ++i) {
    // A square wave between 0 and 10 with a period of 80 readings; from
    // 3000 on, one between the same levels four times as fast.
    const int period = i < 3000 ? 80 : 20;
    const double x = (i / (period / 2)) % 2 ? 10 : 0;
    const double s = art->Score(i, x);
    if (i < 750) {
      ASSERT_EQ(s, 0) << "learning: " << i;
    }
    if (i >= 1500 && i < 3000) before = std::max(before, s);
    if (i >= 3000 && i < 3100 && s > change) {
      change = s;
      if (change_at < 0) change_at = i;
    }
  }
  std::printf("art: slow wave %.3f, faster wave %.3f at reading %lld\n", before, change, static_cast<long long>(change_at));
  EXPECT_EQ(before, 0) << "the slow wave's shapes were all learned";
  EXPECT_GT(change, 0.25) << "the benchmark's threshold";
  EXPECT_LT(change_at, 3060);
}

TEST(Detectors, ArtLearnsANewLevelBeyondItsLearnedRange) {
  auto art = Make("art");
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.5);
  double first = 0, later = 0;
  for (int i = 0; i < 8000; ++i) {
    // Around 20 while learning; from 2000 on around 60, far beyond it.
    const double x = (i < 2000 ? 20 : 60) + noise(rng);
    const double s = art->Score(i, x);
    if (i >= 2000 && i < 2100) first = std::max(first, s);
    if (i >= 5000) later = std::max(later, s);
  }
  std::printf("art: jump %.3f, the new level later %.3f\n", first, later);
  EXPECT_GT(first, 0.25) << "the jump is a new shape";
  EXPECT_LT(later, 0.25) << "the new level became ordinary";
}

TEST(Detectors, ArtWithAKnownRangeTakesSmallWigglesForNoise) {
  // Noise of a few tenths around 20 % utilisation, then a jump to 60 %.
  const auto run = [](double lo, double hi) {
    DetectorConfig c;
    c.kind = "art";
    c.range_lo = lo;
    c.range_hi = hi;
    auto d = std::move(MakeDetector(c)).value();
    std::mt19937 rng(11);
    std::normal_distribution<double> noise(0, 0.4);
    double before = 0, jump = 0;
    for (int i = 0; i < 4000; ++i) {
      const double s = d->Score(i, (i < 3000 ? 20 : 60) + noise(rng));
      (i < 3000 ? before : jump) = std::max(i < 3000 ? before : jump, s);
    }
    return std::pair{before, jump};
  };
  const auto [known_before, known_jump] = run(0, 100);
  const auto [learned_before, learned_jump] = run(0, 0);
  std::printf("art: range 0-100: noise %.3f, jump %.3f; learned range: noise %.3f, jump %.3f\n", known_before, known_jump,
              learned_before, learned_jump);
  EXPECT_EQ(known_before, 0) << "a few tenths of a percent are one level";
  EXPECT_GT(learned_before, 0) << "the learned range is the noise's own: its wiggles are shapes";
  EXPECT_GT(known_jump, 0.25);
  DetectorConfig bad;
  bad.kind = "art";
  bad.range_lo = 5;
  bad.range_hi = 5;
  EXPECT_NE(ValidateDetector(bad).message().find("low end must be below"), std::string::npos);
  bad.range_hi = INFINITY;
  EXPECT_FALSE(ValidateDetector(bad).ok());
}

TEST(Detectors, ArtDiscountsNewShapesInASeriesThatKeepsMakingThem) {
  // A wave whose amplitude and period change every few hundred readings:
  // new shapes again and again. The k-th candidate within 16 learning spans
  // scores at most 1/sqrt(k) (a score is at most 1 before the discount).
  auto art = Make("art");
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> amp(1, 10), period(10, 200);
  double a = 5, p = 50;
  std::vector<double> scores;
  for (int i = 0; i < 11000; ++i) {
    if (i % 400 == 0) {
      a = amp(rng);
      p = period(rng);
    }
    const double s = art->Score(i, 50 + a * std::sin(i * 6.283 / p));
    if (s > 0) scores.push_back(s);
  }
  std::printf("art: %zu candidates, scores", scores.size());
  for (double s : scores) std::printf(" %.2f", s);
  std::printf("\n");
  ASSERT_GE(scores.size(), 5u);
  for (size_t k = 0; k < scores.size(); ++k) EXPECT_LE(scores[k], 1 / std::sqrt(k + 1.0) + 1e-9) << k;
}

TEST(Detectors, ArtForgetsOldCandidatesAfterSixteenLearningSpans) {
  // The same surprise (a square wave replaces a sine for 300 readings),
  // after a restless start (the amplitude and period change every 400
  // readings) that is either recent or more than 16 learning spans (16 x
  // 107 points x 7 readings = 11,984 readings) back.
  const auto surprise = [](int calm) {
    auto art = Make("art");
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> amp(1, 10), period(10, 200);
    double a = 5, p = 50, s_max = 0;
    int i = 0, candidates = 0;
    for (; i < 6000; ++i) {
      if (i % 400 == 0) a = amp(rng), p = period(rng);
      candidates += art->Score(i, 50 + a * std::sin(i * 6.283 / p)) > 0;
    }
    for (int end = i + calm; i < end; ++i) art->Score(i, 50 + 5 * std::sin(i * 6.283 / 50));
    for (int end = i + 300; i < end; ++i) s_max = std::max(s_max, art->Score(i, (i / 25) % 2 ? 58 : 42));
    EXPECT_GE(candidates, 5);
    return s_max;
  };
  const double soon = surprise(2000), later = surprise(14000);
  std::printf("art: the same surprise 2,000 readings after a restless start %.3f, 14,000 after %.3f\n", soon, later);
  EXPECT_GT(later, 1.5 * soon) << "candidates older than 16 learning spans still discount";
}

TEST(Detectors, ArtIgnoresValuesThatAreNotNumbers) {
  auto clean = Make("art"), dirty = Make("art");
  const auto v = Signal(3000, 2000, 8);
  for (size_t i = 0, t = 0; i < v.size(); ++i, ++t) {
    if (i % 97 == 0) {
      EXPECT_EQ(dirty->Score(t, NAN), 0);
      EXPECT_EQ(dirty->Score(t, INFINITY), 0);
    }
    ASSERT_EQ(clean->Score(t, v[i]), dirty->Score(t, v[i])) << i;
  }
}

TEST(Detectors, ArtIsNotBlindedByOneWildValue) {
  // Noise around 20; one reading of 65535 (a Modbus error code) at 2000; a
  // spike of +8 at 2600, on the scale of the series.
  for (const double wild : {65535.0, 1e308, -1e308}) {
    SCOPED_TRACE(wild);
    auto art = Make("art");
    auto v = Signal(3500, 2600, 8);
    v[2000] = wild;
    double glitch = 0, spike = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const double s = art->Score(static_cast<TimeUs>(i), v[i]);
      ASSERT_TRUE(s >= 0 && s <= 1) << i;
      if (i >= 2000 && i < 2100) glitch = std::max(glitch, s);
      if (i >= 2600 && i < 2700) spike = std::max(spike, s);
    }
    std::printf("art: wild value %g scores %.3f; the spike after it %.3f\n", wild, glitch, spike);
    EXPECT_GT(glitch, 0.25);
    EXPECT_GT(spike, 0.25) << "one value widened the range so far that the spike fell within one level";
  }
}

TEST(Detectors, BadParametersAreRefused) {
  DetectorConfig c;
  c.kind = "magic";
  EXPECT_NE(ValidateDetector(c).message().find("unknown detector 'magic'"), std::string::npos);
  c.kind = "knn";
  c.window = 8;
  c.dim = 8;
  EXPECT_FALSE(ValidateDetector(c).ok());
  c.window = 400;
  c.alpha = 0;
  EXPECT_FALSE(ValidateDetector(c).ok());
  c.alpha = 0.02;
  c.quiet = 100;
  c.quiet_time = 3600 * kUsPerSec;
  EXPECT_NE(ValidateDetector(c).message().find("not both"), std::string::npos);
  c.quiet = 0;
  c.escalate = 0.5;
  EXPECT_FALSE(ValidateDetector(c).ok());
  c.escalate = 2;
  EXPECT_TRUE(ValidateDetector(c).ok());
  c.quiet_time = 0;
  EXPECT_NE(ValidateDetector(c).message().find("needs quiet"), std::string::npos);
  c.escalate = 0;
  c.event_median = 5;
  EXPECT_NE(ValidateDetector(c).message().find("needs quiet"), std::string::npos);
  c.quiet = 100;
  EXPECT_TRUE(ValidateDetector(c).ok());
  c.event_median = 65;
  EXPECT_FALSE(ValidateDetector(c).ok());
  c.event_median = 5;
  c.kind = "art";
  c.learn = 63;
  EXPECT_NE(ValidateDetector(c).message().find("learn must be"), std::string::npos);
  c.learn = 64;
  EXPECT_TRUE(ValidateDetector(c).ok());
}

}  // namespace
}  // namespace edgeflow::ml
