#include "processors/window.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;

std::unique_ptr<Processor> Make(double size, double slide = 0, double lateness = 0) {
  WindowConfig c;
  WindowSchema().SetDefaults(c);
  c.size_secs = size;
  c.slide_secs = slide;
  c.allowed_lateness_secs = lateness;
  BuildContext ctx;
  ctx.component = Intern("w");
  return std::move(WindowProcessor::Create(c, ctx)).value();
}

Batch Feed(Processor& p, std::vector<Reading> rs) {
  Batch in, out;
  in.readings = std::move(rs);
  p.Process(in, out);
  return out;
}

double F(const Aggregate& a, AggField f) { return a.field(f); }

TEST(Window, TumblingBoundariesAreHalfOpen) {
  auto p = Make(10);
  // kT0 is a multiple of 10 s, so windows are [At(0), At(10)), [At(10), At(20)).
  Batch out = Feed(*p, {R("s", "m", At(0), 1), R("s", "m", At(9.999), 3), R("s", "m", At(10), 100)});
  ASSERT_EQ(out.aggregates.size(), 1u) << "the reading at exactly 10 s closes [0,10) and opens [10,20)";
  const Aggregate& a = out.aggregates[0];
  EXPECT_EQ(a.start, At(0));
  EXPECT_EQ(a.end, At(10));
  EXPECT_EQ(F(a, AggField::kCount), 2);
  EXPECT_EQ(F(a, AggField::kMean), 2);
  EXPECT_EQ(F(a, AggField::kMin), 1);
  EXPECT_EQ(F(a, AggField::kMax), 3);
  EXPECT_EQ(F(a, AggField::kLast), 3);
  EXPECT_NEAR(F(a, AggField::kRate), 2 / 9.999, 1e-9);
  EXPECT_EQ(out.readings.size(), 3u) << "readings are forwarded by default";
}

TEST(Window, StatisticsMatchDefinitions) {
  auto p = Make(100);
  std::vector<Reading> rs;
  for (int i = 1; i <= 20; ++i) rs.push_back(R("s", "m", At(i), i));  // 1..20
  rs.push_back(R("s", "m", At(100), 0));  // closes the window
  Batch out = Feed(*p, rs);
  ASSERT_EQ(out.aggregates.size(), 1u);
  const Aggregate& a = out.aggregates[0];
  EXPECT_EQ(F(a, AggField::kCount), 20);
  EXPECT_DOUBLE_EQ(F(a, AggField::kMean), 10.5);
  EXPECT_NEAR(F(a, AggField::kStddev), std::sqrt((20.0 * 20 - 1) / 12), 1e-12);  // population sd of 1..n
  EXPECT_DOUBLE_EQ(F(a, AggField::kP50), 10.5);
  EXPECT_DOUBLE_EQ(F(a, AggField::kP95), 19.05);  // linear interpolation: 1 + 0.95*19
  EXPECT_DOUBLE_EQ(F(a, AggField::kRate), 1.0);
}

TEST(Window, OutOfOrderWithinLatenessIsIncludedLateIsDeadLettered) {
  auto p = Make(10, 0, 5);
  Batch out = Feed(*p, {R("s", "m", At(1), 1), R("s", "m", At(12), 5), R("s", "m", At(8), 3)});
  EXPECT_TRUE(out.aggregates.empty()) << "watermark 12-5=7 has not passed the end 10";
  out = Feed(*p, {R("s", "m", At(15), 7)});
  ASSERT_EQ(out.aggregates.size(), 1u);
  EXPECT_EQ(F(out.aggregates[0], AggField::kCount), 2) << "the out-of-order reading at 8 s counts";
  EXPECT_EQ(F(out.aggregates[0], AggField::kLast), 3) << "last is by event time, not arrival";
  out = Feed(*p, {R("s", "m", At(9), 99)});
  ASSERT_EQ(out.dead_letters.size(), 1u);
  EXPECT_STREQ(out.dead_letters[0].reason, "late");
  EXPECT_TRUE(out.readings.empty());
}

TEST(Window, AReadingWithinLatenessIsKeptAtTheStartAndAfterAGap) {
  auto p = Make(10, 0, 5);  // windows [0,10), [10,20), … (kT0 is a multiple of 10 s)
  // The series starts at 11 s; 9 s is 2 s older, within the 5 s allowed.
  Batch out = Feed(*p, {R("s", "m", At(11), 1), R("s", "m", At(9), 2)});
  EXPECT_TRUE(out.dead_letters.empty()) << out.dead_letters.size();
  ASSERT_EQ(out.readings.size(), 2u);
  out = Feed(*p, {R("s", "m", At(16), 3)});  // watermark 11 closes [0,10)
  ASSERT_EQ(out.aggregates.size(), 1u);
  EXPECT_EQ(out.aggregates[0].start, At(0));
  EXPECT_EQ(F(out.aggregates[0], AggField::kCount), 1) << "the reading at 9 s";
  // A gap: 50 s then 46 s (4 s older; its window [40,50) ends after the watermark 45).
  out = Feed(*p, {R("s", "m", At(50), 4), R("s", "m", At(46), 5)});
  EXPECT_TRUE(out.dead_letters.empty());
  ASSERT_EQ(out.aggregates.size(), 1u) << "[10,20) with 11 and 16";
  EXPECT_EQ(F(out.aggregates[0], AggField::kCount), 2);
  out = Feed(*p, {R("s", "m", At(60), 6)});  // watermark 55 closes [40,50)
  ASSERT_EQ(out.aggregates.size(), 1u);
  EXPECT_EQ(out.aggregates[0].start, At(40));
  EXPECT_EQ(F(out.aggregates[0], AggField::kLast), 5);
  // Later than the lateness is still late: 30 s when the watermark is 55.
  out = Feed(*p, {R("s", "m", At(30), 7)});
  ASSERT_EQ(out.dead_letters.size(), 1u);
  EXPECT_STREQ(out.dead_letters[0].reason, "late");
}

TEST(Window, SlidingWindowsOverlap) {
  auto p = Make(10, 5);
  std::vector<Reading> rs;
  for (int i = 0; i < 30; ++i) rs.push_back(R("s", "m", At(i), i));
  Batch out = Feed(*p, rs);
  // Windows ending at or before 29: [-5,5) [0,10) [5,15) [10,20) [15,25).
  ASSERT_EQ(out.aggregates.size(), 5u);
  EXPECT_EQ(out.aggregates[0].start, At(-5));
  EXPECT_EQ(F(out.aggregates[0], AggField::kCount), 5);
  EXPECT_EQ(out.aggregates[2].start, At(5));
  EXPECT_EQ(F(out.aggregates[2], AggField::kCount), 10);
  EXPECT_EQ(F(out.aggregates[2], AggField::kMean), 9.5);
}

TEST(Window, SeriesAreIndependentAndGapsSkipEmptyWindows) {
  auto p = Make(10);
  Batch out = Feed(*p, {R("a", "m", At(1), 1), R("b", "m", At(2), 2), R("a", "m", At(86400), 3)});
  ASSERT_EQ(out.aggregates.size(), 1u) << "one window for a; none emitted for the empty day in between";
  EXPECT_EQ(out.aggregates[0].sensor, Intern("a"));
}

TEST(Window, FlushEmitsOpenWindows) {
  auto p = Make(10, 5);
  Batch early = Feed(*p, {R("s", "m", At(1), 1), R("s", "m", At(7), 3)});
  ASSERT_EQ(early.aggregates.size(), 1u) << "[-5,5) closed when the watermark reached 7";
  Batch out;
  p->Flush(out);
  // Still open: [0,10) holds 1 and 3; [5,15) holds 3.
  ASSERT_EQ(out.aggregates.size(), 2u);
  double total = 0;
  for (auto& a : out.aggregates) total += F(a, AggField::kCount);
  EXPECT_EQ(total, 3);
}

TEST(Window, SelectorPassesOtherSeriesThrough) {
  WindowConfig c;
  WindowSchema().SetDefaults(c);
  c.size_secs = 10;
  c.forward_readings = false;
  c.metrics = {"temp*"};
  auto p = std::move(WindowProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "temperature", At(1), 1), R("s", "power", At(1), 2)});
  ASSERT_EQ(out.readings.size(), 1u);
  EXPECT_EQ(out.readings[0].metric, Intern("power"));
}

}  // namespace
}  // namespace edgeflow

namespace edgeflow {
namespace {

TEST(Window, PercentilesInterpolateForSmallWindows) {
  auto p = Make(10);
  Batch out = Feed(*p, {testing::R("s", "m", testing::At(1), 10), testing::R("s", "m", testing::At(2), 20),
                        testing::R("s", "m", testing::At(10), 0)});
  ASSERT_EQ(out.aggregates.size(), 1u);
  EXPECT_DOUBLE_EQ(out.aggregates[0].field(AggField::kP50), 15);
  EXPECT_DOUBLE_EQ(out.aggregates[0].field(AggField::kP95), 19.5);
}

}  // namespace
}  // namespace edgeflow

namespace edgeflow {
namespace {

TEST(Window, CountWindowEmitsPerReadingOverTheLastN) {
  WindowConfig c;
  WindowSchema().SetDefaults(c);
  c.size_count = 3;
  auto p = std::move(WindowProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {testing::R("s", "m", testing::At(0), 1), testing::R("s", "m", testing::At(1), 2),
                        testing::R("t", "m", testing::At(1), 100), testing::R("s", "m", testing::At(2), 3),
                        testing::R("s", "m", testing::At(3), 10)});
  ASSERT_EQ(out.aggregates.size(), 5u);
  std::vector<double> means, counts;
  for (auto& a : out.aggregates)
    if (a.sensor == Intern("s")) {
      means.push_back(a.field(AggField::kMean));
      counts.push_back(a.field(AggField::kCount));
    }
  EXPECT_EQ(means, (std::vector<double>{1, 1.5, 2, 5}));
  EXPECT_EQ(counts, (std::vector<double>{1, 2, 3, 3}));
  const Aggregate& last = out.aggregates.back();
  EXPECT_EQ(last.end, testing::At(3)) << "stamped with the reading's time";
  EXPECT_EQ(last.start, testing::At(1));
  EXPECT_EQ(last.field(AggField::kLast), 10);
  EXPECT_EQ(last.field(AggField::kMax), 10);
  Batch flushed;
  p->Flush(flushed);
  EXPECT_TRUE(flushed.aggregates.empty());
}

// A NaN or infinite value (a failed Modbus poll gives NaN) is passed on but
// left out of the statistics, in time and in count windows.
TEST(Window, NonFiniteValuesArePassedOnButNotAggregated) {
  auto p = Make(10);
  const double nan = std::nan("");
  Batch out = Feed(*p, {R("s", "m", At(1), 2), R("s", "m", At(2), nan), R("s", "m", At(3), INFINITY),
                        R("s", "m", At(4), 4), R("s", "m", At(12), 1)});
  EXPECT_EQ(out.readings.size(), 5u) << "every reading is forwarded";
  ASSERT_EQ(out.aggregates.size(), 1u);
  EXPECT_EQ(F(out.aggregates[0], AggField::kCount), 2);
  EXPECT_EQ(F(out.aggregates[0], AggField::kMean), 3);
  EXPECT_EQ(F(out.aggregates[0], AggField::kMax), 4);
  // Only NaN from then on: its time still closes the window [10, 20).
  out = Feed(*p, {R("s", "m", At(25), nan)});
  ASSERT_EQ(out.aggregates.size(), 1u) << "the window closes when NaN readings pass its end";
  EXPECT_EQ(F(out.aggregates[0], AggField::kCount), 1);
  // A late NaN is late like any reading.
  out = Feed(*p, {R("s", "m", At(5), nan)});
  ASSERT_EQ(out.dead_letters.size(), 1u);
  EXPECT_STREQ(out.dead_letters[0].reason, "late");

  WindowConfig c;
  WindowSchema().SetDefaults(c);
  c.size_count = 2;
  auto counted = std::move(WindowProcessor::Create(c, BuildContext{})).value();
  out = Feed(*counted, {R("s", "m", At(0), 1), R("s", "m", At(1), nan), R("s", "m", At(2), 3)});
  ASSERT_EQ(out.aggregates.size(), 2u) << "one per finite reading";
  EXPECT_EQ(F(out.aggregates[1], AggField::kMean), 2);
  EXPECT_EQ(F(out.aggregates[1], AggField::kCount), 2);
}

}  // namespace
}  // namespace edgeflow

namespace edgeflow {
namespace {

// Told that nothing downstream reads the percentiles, a window leaves them NaN
// and computes the rest as before.
TEST(Window, FieldsNothingDownstreamReadsAreLeftOut) {
  for (const bool all : {true, false}) {
    auto p = Make(10);
    if (!all) p->SetAggregateFieldsNeeded(AggBit(AggField::kMean) | AggBit(AggField::kLast));
    Batch out = Feed(*p, {R("s", "m", At(0), 1), R("s", "m", At(1), 5), R("s", "m", At(2), 3), R("s", "m", At(10), 0)});
    ASSERT_EQ(out.aggregates.size(), 1u);
    const Aggregate& a = out.aggregates[0];
    EXPECT_DOUBLE_EQ(F(a, AggField::kMean), 3.0);
    EXPECT_DOUBLE_EQ(F(a, AggField::kLast), 3.0);
    EXPECT_DOUBLE_EQ(F(a, AggField::kMax), 5.0);
    EXPECT_EQ(std::isnan(F(a, AggField::kP50)), !all);
    EXPECT_EQ(std::isnan(F(a, AggField::kP95)), !all);
    if (all) {
      EXPECT_DOUBLE_EQ(F(a, AggField::kP50), 3.0);
    }
  }
}

}  // namespace
}  // namespace edgeflow
