#pragma once
// Scoring of streaming anomaly detectors on the Numenta Anomaly Benchmark
// (NAB), as the benchmark publishes it:
//   - each labelled anomaly is a window of rows [left, right] (inclusive);
//   - the first 15 % of a file's rows (at most 750) are probationary: not
//     scored at all;
//   - a detection (anomaly score >= threshold) inside a window earns the
//     scaled sigmoid of its position: tp_weight for the window's first row,
//     less the later it comes; only the earliest detection of a window counts;
//     a window without a detection costs fn_weight;
//   - a detection outside every window costs fp_weight, scaled down by the
//     sigmoid when it follows a window closely (relative to the preceding
//     window), the full fp_weight before the first window;
//   - one threshold for the whole corpus, the one with the highest total;
//   - normalised: 100 × (total − null) / (perfect − null), where the null
//     detector detects nothing (−fn_weight per window) and the perfect one
//     detects every window at its first row (tp_weight per window).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace edgeflow::nab {

struct Profile {
  std::string name;
  double tp_weight, fp_weight, fn_weight;
};
// standard, reward_low_FP_rate, reward_low_FN_rate.
const std::vector<Profile>& Profiles();

// 2 / (1 + e^(5x)) − 1, and −1 beyond x = 3.
double ScaledSigmoid(double x);

// One data file: its timestamps (seconds), values, labelled windows (row
// indices, inclusive) and the detector's score for every row.
struct Series {
  std::string name;  // "<category>/<file>.csv"
  std::vector<int64_t> ts;
  std::vector<double> values;
  std::vector<std::pair<size_t, size_t>> windows;
  std::vector<double> scores;
  size_t probation() const;  // rows not scored
};

// What each row would contribute if it were a detection, for a profile, and
// the window it lies in (-1: outside all).
struct RowWeights {
  std::vector<double> weight;
  std::vector<int> window;
};
RowWeights Sweep(const Series& s, const Profile& p);

struct Counts {
  double score = 0;
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;  // rows, probation excluded
};
// The score of one file with detections at scores >= threshold.
Counts ScoreFile(const Series& s, const Profile& p, double threshold);

struct Outcome {
  double threshold = 1.1;
  double raw = 0;         // summed over the files at that threshold
  double normalized = 0;  // 0: detects nothing, 100: perfect
};
// The threshold with the highest total over all files (candidates: every
// distinct score outside probation, and 1.1 = detect nothing).
Outcome Optimize(const std::vector<Series>& corpus, const Profile& p);
double Normalize(double raw, const Profile& p, size_t windows);
// The corpus scored at a given threshold.
Outcome Evaluate(const std::vector<Series>& corpus, const Profile& p, double threshold);

// Not a NAB score: the normalised total when every file gets its own best
// threshold. The gap to Optimize() is what a better calibration of the
// scores across series could still gain; what stays below 100 needs better
// scores within the files.
double PerFileCeiling(const std::vector<Series>& corpus, const Profile& p);

// A time as NAB's files write it: "YYYY-MM-DD HH:MM:SS" (UTC).
std::string FormatTime(int64_t secs);

// Loads NAB's layout: data_dir/<category>/<file>.csv (timestamp,value) and
// the windows file (JSON: {"<category>/<file>.csv": [[start, end], ...]}).
// Files not named in the windows file are skipped.
edgeflow::Result<std::vector<Series>> LoadCorpus(const std::string& data_dir, const std::string& windows_file);

}  // namespace edgeflow::nab
