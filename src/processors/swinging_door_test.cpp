#include "processors/swinging_door.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;

// Piecewise-linear reconstruction of one series from the kept readings.
double Interpolate(const std::vector<Reading>& kept, TimeUs t) {
  auto it = std::lower_bound(kept.begin(), kept.end(), t, [](const Reading& r, TimeUs ts) { return r.ts < ts; });
  if (it != kept.end() && it->ts == t) return it->value;
  if (it == kept.begin() || it == kept.end()) return NAN;
  const Reading& b = *it;
  const Reading& a = *(it - 1);
  return a.value + (b.value - a.value) * static_cast<double>(t - a.ts) / static_cast<double>(b.ts - a.ts);
}

std::vector<Reading> Compress(const std::vector<Reading>& in, double eps, double max_interval = 0) {
  SwingingDoorConfig cfg;
  cfg.epsilon = eps;
  cfg.max_interval_secs = max_interval;
  auto p = std::move(SwingingDoorProcessor::Create(cfg, BuildContext{})).value();
  Batch out, b;
  // Several batches, as in a running pipeline.
  for (size_t i = 0; i < in.size(); i += 97) {
    b.clear();
    b.readings.assign(in.begin() + i, in.begin() + std::min(in.size(), i + 97));
    Batch o;
    p->Process(b, o);
    out.append(o);
  }
  Batch tail;
  p->Flush(tail);
  out.append(tail);
  std::sort(out.readings.begin(), out.readings.end(), [](const Reading& a, const Reading& b) { return a.ts < b.ts; });
  return out.readings;
}

double MaxError(const std::vector<Reading>& in, const std::vector<Reading>& kept) {
  double worst = 0;
  for (const auto& r : in) worst = std::max(worst, std::fabs(Interpolate(kept, r.ts) - r.value));
  return worst;
}

TEST(SwingingDoor, ReconstructionStaysWithinEpsilonOnNoisyDriftingSignals) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 0.3);
  for (double eps : {0.05, 0.5, 2.0}) {
    std::vector<Reading> in;
    double v = 50;
    for (int i = 0; i < 20000; ++i) {
      v += 0.01 * std::sin(i / 300.0) + noise(rng) * 0.1;
      if (i % 5000 == 2500) v += 15;  // steps
      in.push_back(R("m1", "temperature", At(i * 0.5 + (i % 3) * 0.01), v + noise(rng)));
    }
    auto kept = Compress(in, eps);
    const double err = MaxError(in, kept);
    EXPECT_LE(err, eps * (1 + 1e-9)) << "eps " << eps;
    EXPECT_GT(err, eps * 0.5) << "the bound is used, not trivially met";
    EXPECT_LT(kept.size(), in.size()) << "eps " << eps;
    EXPECT_EQ(kept.front().value, in.front().value) << "the first reading is kept as it is";
    EXPECT_EQ(kept.back().ts, in.back().ts) << "flush closes the open segment";
  }
}

TEST(SwingingDoor, StraightLinesCollapseAndMaxIntervalBoundsTheHold) {
  std::vector<Reading> in;
  for (int i = 0; i <= 1000; ++i) in.push_back(R("m1", "t", At(i), 10 + 0.5 * i));
  EXPECT_EQ(Compress(in, 0.01).size(), 2u);
  auto kept = Compress(in, 0.01, 60);
  EXPECT_GE(kept.size(), 1000u / 61);
  for (size_t i = 1; i < kept.size(); ++i) EXPECT_LE(kept[i].ts - kept[i - 1].ts, SecondsToUs(61));
  EXPECT_LE(MaxError(in, kept), 0.01);
}

TEST(SwingingDoor, BadQualityAndNonFiniteReadingsPassUnchangedAndRestartTheSegment) {
  std::vector<Reading> in;
  for (int i = 0; i < 100; ++i) in.push_back(R("m1", "t", At(i), 1.0));
  in[50].quality = Quality::kBad;
  in[50].value = 999;
  in[70].value = NAN;
  auto kept = Compress(in, 0.1);
  auto has = [&](TimeUs t, double v) {
    for (const auto& r : kept)
      if (r.ts == t && (r.value == v || (std::isnan(v) && std::isnan(r.value)))) return true;
    return false;
  };
  EXPECT_TRUE(has(At(50), 999));
  EXPECT_TRUE(has(At(70), NAN));
  EXPECT_TRUE(has(At(51), 1.0)) << "a new segment starts exactly";
}

}  // namespace
}  // namespace edgeflow
