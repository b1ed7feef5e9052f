#pragma once
// Timestamp parsing and formatting for recordings and output.
#include <string>
#include <string_view>

#include "core/clock.h"

namespace edgeflow {

// Accepts ISO 8601 / RFC 3339 style "YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|+HH:MM|-HH:MM]"
// (no zone means UTC) and numeric Unix epochs: seconds (< 1e11, fraction
// allowed), milliseconds (< 1e14), microseconds (< 1e17) or nanoseconds.
bool ParseTimestamp(std::string_view s, TimeUs* out);
// A numeric Unix epoch in seconds, milliseconds, microseconds or nanoseconds,
// told apart by magnitude as in ParseTimestamp; false when not finite or
// beyond what microseconds since the epoch can hold (about ±292,000 years).
bool EpochToUs(double v, TimeUs* out);
// "2026-11-26T08:41:37Z" or with ".123456" when there are sub-second digits.
std::string FormatTimestamp(TimeUs t);
// Days since 1970-01-01 for a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

}  // namespace edgeflow
