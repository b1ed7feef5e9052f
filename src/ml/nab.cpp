#include "ml/nab.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace edgeflow::nab {

const std::vector<Profile>& Profiles() {
  static const std::vector<Profile> p = {
      {"standard", 1.0, 0.11, 1.0},
      {"reward_low_FP_rate", 1.0, 0.22, 1.0},
      {"reward_low_FN_rate", 1.0, 0.11, 2.0},
  };
  return p;
}

double ScaledSigmoid(double x) {
  if (x > 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * x)) - 1.0;
}

size_t Series::probation() const {
  const double n = static_cast<double>(ts.size());
  return static_cast<size_t>(std::min(std::floor(0.15 * n), 0.15 * 5000));
}

RowWeights Sweep(const Series& s, const Profile& p) {
  const double max_tp = ScaledSigmoid(-1.0);
  RowWeights out;
  out.weight.assign(s.ts.size(), 0.0);
  out.window.assign(s.ts.size(), -1);
  size_t next = 0;       // the next window to enter
  int prev = -1;         // the window left last
  for (size_t i = 0; i < s.ts.size(); ++i) {
    int in = -1;
    if (next < s.windows.size() && i >= s.windows[next].first && i <= s.windows[next].second) in = static_cast<int>(next);
    if (in >= 0) {
      const auto [left, right] = s.windows[in];
      const double width = static_cast<double>(right - left + 1);
      const double x = -static_cast<double>(right - i + 1) / width;
      out.weight[i] = ScaledSigmoid(x) * p.tp_weight / max_tp;
      out.window[i] = in;
      if (i == right) {
        prev = in;
        ++next;
      }
    } else if (prev < 0) {
      out.weight[i] = -p.fp_weight;
    } else {
      const auto [left, right] = s.windows[prev];
      const double width = static_cast<double>(right - left + 1);
      // A one-row window would divide by zero: treat what follows it as far away.
      const double x = width > 1 ? static_cast<double>(i - right) / (width - 1) : 1e9;
      out.weight[i] = ScaledSigmoid(x) * p.fp_weight;
    }
  }
  return out;
}

Counts ScoreFile(const Series& s, const Profile& p, double threshold) {
  const RowWeights w = Sweep(s, p);
  Counts c;
  std::vector<double> part(s.windows.size(), -p.fn_weight);
  for (size_t i = s.probation(); i < s.ts.size(); ++i) {
    const bool active = s.scores[i] >= threshold;
    if (w.window[i] >= 0) {
      if (active) {
        ++c.tp;
        part[w.window[i]] = std::max(part[w.window[i]], w.weight[i]);
      } else {
        ++c.fn;
      }
    } else if (active) {
      ++c.fp;
      c.score += w.weight[i];
    } else {
      ++c.tn;
    }
  }
  // A window wholly inside the probation is not scored.
  for (size_t k = 0; k < s.windows.size(); ++k)
    if (s.windows[k].second >= s.probation()) c.score += part[k];
  return c;
}

double Normalize(double raw, const Profile& p, size_t windows) {
  const double null_score = -p.fn_weight * static_cast<double>(windows);
  const double perfect = p.tp_weight * static_cast<double>(windows);
  return 100.0 * (raw - null_score) / (perfect - null_score);
}

Outcome Optimize(const std::vector<Series>& corpus, const Profile& p) {
  struct Point {
    double score, weight;
    int window;  // corpus-wide; -1 outside
  };
  std::vector<Point> pts;
  std::vector<double> part;
  size_t windows = 0;
  for (const auto& s : corpus) {
    const RowWeights w = Sweep(s, p);
    const int base = static_cast<int>(part.size());
    for (size_t k = 0; k < s.windows.size(); ++k) {
      ++windows;
      if (s.windows[k].second >= s.probation()) part.push_back(-p.fn_weight);
      else part.push_back(0);  // not scored
    }
    for (size_t i = s.probation(); i < s.ts.size(); ++i)
      pts.push_back({s.scores[i], w.weight[i], w.window[i] < 0 ? -1 : base + w.window[i]});
  }
  std::stable_sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.score > b.score; });
  double total = 0;
  for (double v : part) total += v;
  Outcome best{1.1, total, 0};
  for (size_t i = 0; i < pts.size();) {
    const double t = pts[i].score;
    for (; i < pts.size() && pts[i].score == t; ++i) {
      const Point& q = pts[i];
      if (q.window < 0) {
        total += q.weight;
      } else if (q.weight > part[q.window]) {
        total += q.weight - part[q.window];
        part[q.window] = q.weight;
      }
    }
    if (total > best.raw) best = {t, total, 0};  // ties keep the higher threshold
  }
  best.normalized = Normalize(best.raw, p, windows);
  return best;
}

Outcome Evaluate(const std::vector<Series>& corpus, const Profile& p, double threshold) {
  Outcome o{threshold, 0, 0};
  size_t windows = 0;
  for (const auto& s : corpus) {
    o.raw += ScoreFile(s, p, threshold).score;
    windows += s.windows.size();
  }
  o.normalized = Normalize(o.raw, p, windows);
  return o;
}

double PerFileCeiling(const std::vector<Series>& corpus, const Profile& p) {
  double raw = 0;
  size_t windows = 0;
  std::vector<Series> one(1);
  for (const auto& s : corpus) {
    one[0] = s;
    raw += Optimize(one, p).raw;
    windows += s.windows.size();
  }
  return Normalize(raw, p, windows);
}

namespace {

// "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) -> seconds since the epoch; false when malformed.
bool ParseTime(const std::string& text, int64_t* out) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
  if (in.fail()) return false;
  *out = static_cast<int64_t>(timegm(&tm));
  return true;
}

}  // namespace

std::string FormatTime(int64_t secs) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

edgeflow::Result<std::vector<Series>> LoadCorpus(const std::string& data_dir, const std::string& windows_file) {
  std::ifstream wf(windows_file);
  if (!wf) return Status::NotFound("cannot read the windows file " + windows_file);
  const nlohmann::json windows = nlohmann::json::parse(wf, nullptr, false);
  if (!windows.is_object()) return Status::Invalid(windows_file + " is not a JSON object of windows");
  std::vector<Series> corpus;
  std::map<std::string, bool> names;
  for (auto it = windows.begin(); it != windows.end(); ++it) names[it.key()] = true;
  for (const auto& [name, _] : names) {
    const std::filesystem::path path = std::filesystem::path(data_dir) / name;
    std::ifstream f(path);
    if (!f) continue;  // a corpus may hold a subset of the windows file's series
    Series s;
    s.name = name;
    std::string line;
    std::getline(f, line);  // header
    size_t row = 1;
    while (std::getline(f, line)) {
      ++row;
      if (line.empty()) continue;
      const size_t comma = line.find(',');
      int64_t t = 0;
      if (comma == std::string::npos || !ParseTime(line.substr(0, comma), &t))
        return Status::Invalid(path.string() + ":" + std::to_string(row) + ": expected timestamp,value");
      s.ts.push_back(t);
      s.values.push_back(std::strtod(line.c_str() + comma + 1, nullptr));
    }
    for (const auto& w : windows[name]) {
      int64_t a = 0, b = 0;
      if (!w.is_array() || w.size() != 2 || !ParseTime(w[0].get<std::string>(), &a) ||
          !ParseTime(w[1].get<std::string>(), &b))
        return Status::Invalid(windows_file + ": bad window for " + name);
      auto left = std::find(s.ts.begin(), s.ts.end(), a), right = std::find(s.ts.begin(), s.ts.end(), b);
      if (left == s.ts.end() || right == s.ts.end() || right < left)
        return Status::Invalid(windows_file + ": a window of " + name + " does not match its rows");
      s.windows.emplace_back(left - s.ts.begin(), right - s.ts.begin());
    }
    s.scores.assign(s.ts.size(), 0.0);
    corpus.push_back(std::move(s));
  }
  if (corpus.empty()) return Status::NotFound("no series of " + windows_file + " found under " + data_dir);
  return corpus;
}

}  // namespace edgeflow::nab
