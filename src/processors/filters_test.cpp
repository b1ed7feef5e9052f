#include "processors/filters.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/testing.h"
#include "processors/validate.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;

std::vector<double> Values(const Batch& b) {
  std::vector<double> v;
  for (auto& r : b.readings) v.push_back(r.value);
  return v;
}

Batch Feed(Processor& p, std::vector<Reading> rs) {
  Batch in, out;
  in.readings = std::move(rs);
  p.Process(in, out);
  return out;
}

TEST(Deadband, AbsoluteAndHeartbeat) {
  DeadbandConfig c;
  DeadbandSchema().SetDefaults(c);
  c.absolute = 1.0;
  c.max_silence_secs = 10;
  auto p = std::move(DeadbandProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "m", At(0), 20), R("s", "m", At(1), 20.5), R("s", "m", At(2), 21.0),
                        R("s", "m", At(3), 20.5), R("s", "m", At(12), 20.6), R("s", "m", At(13), 20.6)});
  // 20 first; 20.5 within band; 21.0 moves 1.0; 20.5 within; 20.6 after 10 s silence (heartbeat).
  EXPECT_EQ(Values(out), (std::vector<double>{20, 21.0, 20.6}));
}

// A reading that is not a number passes once and is a change back to a
// number: a series whose first reading was NaN passed nothing ever after.
TEST(Deadband, NonFiniteValuesPassOnceAndDoNotSilenceTheSeries) {
  DeadbandConfig c;
  DeadbandSchema().SetDefaults(c);
  c.absolute = 1.0;
  auto p = std::move(DeadbandProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "m", At(0), NAN), R("s", "m", At(1), NAN), R("s", "m", At(2), 10), R("s", "m", At(3), 10.5),
                        R("s", "m", At(4), 50), R("s", "m", At(5), NAN), R("s", "m", At(6), 50)});
  const std::vector<double> v = Values(out);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 10);
  EXPECT_EQ(v[2], 50);
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_EQ(v[4], 50);
}

TEST(Deadband, PercentAndQualityChange) {
  DeadbandConfig c;
  DeadbandSchema().SetDefaults(c);
  c.percent = 10;
  auto p = std::move(DeadbandProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "m", At(0), 100), R("s", "m", At(1), 109), R("s", "m", At(2), 111),
                        R("s", "m", At(3), 111, Quality::kUncertain)});
  EXPECT_EQ(Values(out), (std::vector<double>{100, 111, 111}));
}

TEST(Deadband, PercentOfZeroPassesAnyChangeAndNoRepeat) {
  // A signal resting at 0 (a closed valve, an idle motor): repeats of 0 are
  // not changes; any move away from 0 is.
  DeadbandConfig c;
  DeadbandSchema().SetDefaults(c);
  c.percent = 5;
  auto p = std::move(DeadbandProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "m", At(0), 0), R("s", "m", At(1), 0), R("s", "m", At(2), 0), R("s", "m", At(3), 0.5),
                        R("s", "m", At(4), 0.51), R("s", "m", At(5), 0)});
  EXPECT_EQ(Values(out), (std::vector<double>{0, 0.5, 0}));
}

TEST(Downsample, FirstIsARateLimit) {
  DownsampleConfig c;
  DownsampleSchema().SetDefaults(c);
  c.interval_secs = 10;
  auto p = std::move(DownsampleProcessor::Create(c, BuildContext{})).value();
  std::vector<Reading> rs;
  for (int i = 0; i < 35; ++i) rs.push_back(R("s", "m", At(i), i));
  EXPECT_EQ(Values(Feed(*p, rs)), (std::vector<double>{0, 10, 20, 30}));
}

// A late reading (of an interval already emitted) is dead-lettered as late,
// and a NaN goes on as it is without spoiling its interval's mean; the first
// was dropped without a trace, the second made the mean NaN.
TEST(Downsample, LateReadingsAreCountedAndNaNsLeftOutOfTheMean) {
  DownsampleConfig c;
  DownsampleSchema().SetDefaults(c);
  c.interval_secs = 10;
  c.mode = DownsampleMode::kMean;
  auto p = std::move(DownsampleProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "m", At(11), 10), R("s", "m", At(12), NAN), R("s", "m", At(13), 20), R("s", "m", At(25), 1),
                        R("s", "m", At(5), 99)});
  ASSERT_EQ(out.dead_letters.size(), 1u);
  EXPECT_STREQ(out.dead_letters[0].reason, "late");
  EXPECT_EQ(out.dead_letters[0].reading.value, 99);
  const std::vector<double> v = Values(out);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(std::isnan(v[0])) << "the NaN went on as it is";
  EXPECT_EQ(v[1], 15) << "the mean of 10 and 20";
}

TEST(Downsample, MeanPerIntervalStampedAtStart) {
  DownsampleConfig c;
  DownsampleSchema().SetDefaults(c);
  c.interval_secs = 10;
  c.mode = DownsampleMode::kMean;
  auto p = std::move(DownsampleProcessor::Create(c, BuildContext{})).value();
  std::vector<Reading> rs;
  for (int i = 0; i < 25; ++i) rs.push_back(R("s", "m", At(i), i));
  Batch out = Feed(*p, rs);
  EXPECT_EQ(Values(out), (std::vector<double>{4.5, 14.5}));
  EXPECT_EQ(out.readings[1].ts, At(10));
  Batch rest;
  p->Flush(rest);
  EXPECT_EQ(Values(rest), (std::vector<double>{22}));
}

TEST(Scale, UnitConversion) {
  double a, b;
  ASSERT_TRUE(UnitConversion("degF", "degC", &a, &b));
  EXPECT_NEAR(212 * a + b, 100, 1e-9);
  EXPECT_NEAR(32 * a + b, 0, 1e-9);
  ASSERT_TRUE(UnitConversion("psi", "kPa", &a, &b));
  EXPECT_NEAR(a, 6.894757293168361, 1e-12);
  EXPECT_FALSE(UnitConversion("psi", "degC", &a, &b));
  EXPECT_FALSE(UnitConversion("furlong", "m", &a, &b));
}

TEST(Scale, AppliesToSelectedSeriesAndRenames) {
  ScaleConfig c;
  ScaleSchema().SetDefaults(c);
  c.metrics = {"temp_f"};
  c.from = "degF";
  c.to = "degC";
  c.rename_metric = "temp_c";
  auto p = std::move(ScaleProcessor::Create(c, BuildContext{})).value();
  Batch out = Feed(*p, {R("s", "temp_f", At(0), 212), R("s", "power", At(0), 5)});
  EXPECT_NEAR(out.readings[0].value, 100, 1e-9);
  EXPECT_EQ(out.readings[0].metric, Intern("temp_c"));
  EXPECT_EQ(out.readings[1].value, 5);
}

TEST(Validate, RejectsWithReasons) {
  ValidateConfig c;
  ValidateSchema().SetDefaults(c);
  RangeConfig range;
  range.metrics = {"temp"};
  range.min = -40;
  range.max = 150;
  c.ranges = {range};
  ManualClock clock(At(1000));
  BuildContext ctx;
  ctx.clock = &clock;
  ctx.component = Intern("v");
  auto p = std::move(ValidateProcessor::Create(c, ctx)).value();
  Batch out = Feed(*p, {R("s", "temp", At(999), 20), R("s", "temp", At(999), std::nan("")),
                        R("s", "temp", At(999), INFINITY), R("s", "temp", At(999), 151),
                        R("s", "temp", At(999), 20, Quality::kBad), R("s", "temp", At(2000), 20),
                        R("s", "temp", 5 * kUsPerSec, 20), R("s", "other", At(999), 1e9)});
  EXPECT_EQ(Values(out), (std::vector<double>{20, 1e9})) << "ranges apply to matching metrics only";
  std::vector<std::string> reasons;
  for (auto& d : out.dead_letters) {
    reasons.push_back(d.reason);
    EXPECT_EQ(d.origin, Intern("v"));
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{"nan", "infinite", "out_of_range", "bad_quality", "timestamp_in_future",
                                               "timestamp_too_old"}));
}

}  // namespace
}  // namespace edgeflow
