#include "core/reading.h"

#include <string_view>

namespace edgeflow {

const char* QualityName(Quality q) {
  switch (q) {
    case Quality::kGood: return "good";
    case Quality::kUncertain: return "uncertain";
    case Quality::kBad: return "bad";
  }
  return "bad";
}

bool ParseQuality(std::string_view s, Quality* q) {
  if (s == "good" || s == "0") *q = Quality::kGood;
  else if (s == "uncertain" || s == "1") *q = Quality::kUncertain;
  else if (s == "bad" || s == "2") *q = Quality::kBad;
  else return false;
  return true;
}

static constexpr const char* kAggNames[kNumAggFields] = {"count", "mean", "min",  "max", "stddev",
                                                         "p50",   "p95",  "rate", "last"};

const char* AggFieldName(AggField f) { return kAggNames[static_cast<size_t>(f)]; }

bool ParseAggField(std::string_view name, AggField* out) {
  for (size_t i = 0; i < kNumAggFields; ++i) {
    if (name == kAggNames[i]) {
      *out = static_cast<AggField>(i);
      return true;
    }
  }
  return false;
}

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
  }
  return "warning";
}

}  // namespace edgeflow
