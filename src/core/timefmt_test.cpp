#include "core/timefmt.h"

#include <gtest/gtest.h>

#include <limits>

#include "core/selector.h"
#include "core/status.h"

namespace edgeflow {
namespace {

TEST(Timestamps, ParsesIsoForms) {
  TimeUs t;
  ASSERT_TRUE(ParseTimestamp("2013-12-02 21:15:00", &t));
  EXPECT_EQ(t, 1386018900LL * kUsPerSec);
  ASSERT_TRUE(ParseTimestamp("2013-12-02T21:15:00Z", &t));
  EXPECT_EQ(t, 1386018900LL * kUsPerSec);
  ASSERT_TRUE(ParseTimestamp("2013-12-02T21:15:00.25+01:00", &t));
  EXPECT_EQ(t, (1386018900LL - 3600) * kUsPerSec + 250000);
  ASSERT_TRUE(ParseTimestamp("1970-01-01", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseTimestamp("2000-02-29T00:00", &t));
  EXPECT_EQ(t, 951782400LL * kUsPerSec);
}

TEST(Timestamps, ParsesEpochUnitsByMagnitude) {
  TimeUs t;
  ASSERT_TRUE(ParseTimestamp("1386018900", &t));
  EXPECT_EQ(t, 1386018900LL * kUsPerSec);
  ASSERT_TRUE(ParseTimestamp("1386018900.5", &t));
  EXPECT_EQ(t, 1386018900LL * kUsPerSec + 500000);
  ASSERT_TRUE(ParseTimestamp("1386018900123", &t));
  EXPECT_EQ(t, 1386018900123000LL);
  ASSERT_TRUE(ParseTimestamp("1386018900123456", &t));
  EXPECT_EQ(t, 1386018900123456LL);
}

TEST(Timestamps, RejectsEpochsBeyondWhatMicrosecondsHold) {
  TimeUs t;
  EXPECT_TRUE(ParseTimestamp("9e21", &t)) << "nanoseconds: 9e18 µs still fits";
  EXPECT_EQ(t, 9'000'000'000'000'000'000LL);
  for (const char* bad : {"1e25", "-1e25", "9.3e21", "1e308"}) EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
  EXPECT_FALSE(EpochToUs(std::numeric_limits<double>::infinity(), &t));
}

TEST(Timestamps, RejectsGarbage) {
  TimeUs t;
  for (const char* bad : {"", "yesterday", "2013-13-01", "2013-12-02X", "2013-12-02 25:00:00", "12abc", "2013-12-02T21:15:00Q"})
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
}

TEST(Timestamps, RejectsDaysTheMonthDoesNotHaveAndImpossibleOffsets) {
  TimeUs t;
  // These rolled over into the next month (2023-02-29 read as 2023-03-01), or shifted by 100 hours.
  for (const char* bad : {"2023-02-29", "2023-02-30T00:00:00Z", "2024-04-31", "1900-02-29", "2013-12-02T21:15:00+25:00",
                          "2013-12-02T21:15:00+01:60", "2013-12-02T21:15:00-99:99"})
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
  for (const char* good : {"2024-02-29", "2000-02-29T12:00:00Z", "2023-01-31", "2023-12-31T23:59:59+23:59", "2013-12-02T21:15:00-12:00"})
    EXPECT_TRUE(ParseTimestamp(good, &t)) << good;
  ASSERT_TRUE(ParseTimestamp("2024-02-29T00:00:00Z", &t));
  EXPECT_EQ(FormatTimestamp(t), "2024-02-29T00:00:00Z");
}

TEST(Timestamps, FormatRoundTrips) {
  for (TimeUs t : std::initializer_list<TimeUs>{0, 1386018900LL * kUsPerSec, 1386018900LL * kUsPerSec + 123456, -kUsPerSec}) {
    TimeUs back;
    ASSERT_TRUE(ParseTimestamp(FormatTimestamp(t), &back)) << FormatTimestamp(t);
    EXPECT_EQ(back, t);
  }
  EXPECT_EQ(FormatTimestamp(1386018900LL * kUsPerSec), "2013-12-02T21:15:00Z");
}

TEST(Glob, Matches) {
  EXPECT_TRUE(GlobMatch("oven-*", "oven-1"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("oven-*", "motor-1"));
  EXPECT_TRUE(GlobMatch("*-1", "motor-1"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
}

TEST(StatusTest, RetryableCodes) {
  EXPECT_TRUE(Status::Unavailable("x").retryable());
  EXPECT_TRUE(Status::Io("x").retryable());
  EXPECT_FALSE(Status::Invalid("x").retryable());
  EXPECT_TRUE(Status::Ok().ok());
  Result<int> r = Status::NotFound("nope");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  Result<int> v = 3;
  EXPECT_EQ(*v, 3);
}

}  // namespace
}  // namespace edgeflow
