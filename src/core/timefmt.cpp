#include "core/timefmt.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace edgeflow {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

static bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

static int DaysInMonth(int y, int mo) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return mo == 2 && leap ? 29 : kDays[mo - 1];
}

bool ParseTimestamp(std::string_view s, TimeUs* out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\r')) s.remove_suffix(1);
  if (s.empty()) return false;
  // ISO form: the fifth character is '-'.
  if (s.size() >= 10 && s[4] == '-') {
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' || !Digits(s, 8, 2, &d)) return false;
    if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) return false;  // 2023-02-29 is no date
    size_t p = 10;
    int64_t frac_us = 0;
    if (p < s.size() && (s[p] == 'T' || s[p] == ' ' || s[p] == 't')) {
      ++p;
      if (!Digits(s, p, 2, &h) || p + 2 >= s.size() || s[p + 2] != ':' || !Digits(s, p + 3, 2, &mi)) return false;
      p += 5;
      if (p < s.size() && s[p] == ':') {
        if (!Digits(s, p + 1, 2, &sec)) return false;
        p += 3;
        if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
          ++p;
          int64_t scale = 100000;
          size_t start = p;
          while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
            if (scale > 0) frac_us += (s[p] - '0') * scale;
            scale /= 10;
            ++p;
          }
          if (p == start) return false;
        }
      }
      if (h > 23 || mi > 59 || sec > 60) return false;
    }
    int64_t offset_s = 0;
    if (p < s.size()) {
      if (s[p] == 'Z' || s[p] == 'z') {
        ++p;
      } else if (s[p] == '+' || s[p] == '-') {
        int oh, om = 0;
        int sign = s[p] == '-' ? -1 : 1;
        if (!Digits(s, p + 1, 2, &oh)) return false;
        p += 3;
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size()) {
          if (!Digits(s, p, 2, &om)) return false;
          p += 2;
        }
        if (oh > 23 || om > 59) return false;  // offsets run from -23:59 to +23:59
        offset_s = sign * (oh * 3600 + om * 60);
      }
      if (p != s.size()) return false;
    }
    int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *out = secs * kUsPerSec + frac_us;
    return true;
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  return EpochToUs(v, out);
}

bool EpochToUs(double v, TimeUs* out) {
  const double a = std::fabs(v);
  const double us = a < 1e11 ? v * 1e6 : a < 1e14 ? v * 1e3 : a < 1e17 ? v : v / 1e3;
  if (!std::isfinite(us) || std::fabs(us) >= 9.2e18) return false;  // llround would overflow
  *out = static_cast<TimeUs>(std::llround(us));
  return true;
}

std::string FormatTimestamp(TimeUs t) {
  int64_t secs = t / kUsPerSec;
  int64_t us = t % kUsPerSec;
  if (us < 0) {
    us += kUsPerSec;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[48];
  if (us == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                  static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                  static_cast<long long>(rem % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", static_cast<long long>(y), m, d,
                  static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                  static_cast<long long>(rem % 60), static_cast<long long>(us));
  }
  return buf;
}

}  // namespace edgeflow
