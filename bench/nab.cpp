// edgeflow_nab: streams every series of a corpus in the Numenta Anomaly
// Benchmark's layout through edgeflow's anomaly detectors exactly as live data
// (one reading at a time, in order, no look-ahead), scores them with NAB's
// published rules (src/ml/nab.h) and prints a Markdown table: normalised score
// per profile with one threshold and one parameter set for the whole corpus,
// and points per second on one core.
//
//   edgeflow_nab --data ../shared/data/nab/data --windows ../shared/data/nab/combined_windows.json
//                [--detector robust --detector knn ...] [--results DIR]
//
// --results writes NAB results files (results/<detector>/<category>/<detector>_<file>.csv with
// timestamp,value,anomaly_score,label) so the figures can be checked with NAB's own scorer.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "ml/detectors.h"
#include "ml/nab.h"

using namespace edgeflow;

namespace {

Status WriteResults(const std::string& dir, const std::string& det, const nab::Series& s) {
  const std::filesystem::path rel(s.name);
  const auto path = std::filesystem::path(dir) / det / rel.parent_path() / (det + "_" + rel.filename().string());
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream f(path);
  if (!f) return Status::Io("cannot write " + path.string());
  f << "timestamp,value,anomaly_score,label\n";
  for (size_t i = 0; i < s.ts.size(); ++i) {
    bool label = false;
    for (const auto& [a, b] : s.windows) label |= i >= a && i <= b;
    char line[160];
    std::snprintf(line, sizeof line, "%s,%.17g,%.17g,%d\n", nab::FormatTime(s.ts[i]).c_str(), s.values[i], s.scores[i],
                  label ? 1 : 0);
    f << line;
  }
  return f.good() ? Status::Ok() : Status::Io("write failed: " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Scores edgeflow's streaming anomaly detectors on a corpus in NAB's layout."};
  std::string data, windows, results;
  std::vector<std::string> detectors;
  // Defaults: the parameters of docs/anomaly-detection.md's table (the best
  // found on the sample corpus), so a plain run on any corpus scores them.
  ml::DetectorConfig base;
  base.window = 2000;
  base.escalate = 2;
  base.event_median = 5;
  app.add_option("--data", data, "The corpus's data folder (<category>/<file>.csv)")->required();
  app.add_option("--windows", windows, "The windows file (combined_windows.json)")->required();
  app.add_option("--detector", detectors, "Detectors to score (default: all)");
  app.add_option("--results", results, "Write NAB results CSVs under this folder");
  app.add_option("--window", base.window, "window parameter (all but zscore)")->capture_default_str();
  app.add_option("--dim", base.dim, "knn pattern length")->capture_default_str();
  app.add_option("--alpha", base.alpha, "zscore EWMA weight")->capture_default_str();
  app.add_option("--warmup", base.warmup, "readings of each series scored 0 while the detector learns")
      ->capture_default_str();
  int64_t learn = 0;
  app.add_option("--learn", learn,
                 "art: readings learned before scoring; 0: each file's probationary period, at least 64 (the "
                 "benchmark tells every detector its length)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  bool look_ahead = false;
  app.add_flag("--look-ahead-range", look_ahead,
               "art: give each file's minimum and maximum in advance, as NAB's own runner gives them to its detectors "
               "(ARTime and HTM use them). Uses the future: a comparison with published results, not a streaming score");
  app.add_flag("--art-reference", base.art_reference,
               "art: as ARTime (its wavelet sign and running-median estimate, no discount of frequent candidates) "
               "instead of edgeflow's: comparison only");
  auto* quiet = app.add_option("--quiet", base.quiet, "only rises above the last N scores report (instead of --quiet-hours)");
  double quiet_hours = 96;
  app.add_option("--quiet-hours", quiet_hours, "only rises above the scores of the last H hours report; 0: off")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->excludes(quiet);
  double escalate_hours = 12;
  auto* escalate = app.add_option("--escalate", base.escalate,
                                  "with a quiet span: within --escalate-hours of a report only this many times its "
                                  "deviation reports again; 0: off")
                       ->capture_default_str();
  app.add_option("--escalate-hours", escalate_hours, "see --escalate")->check(CLI::NonNegativeNumber)->capture_default_str();
  auto* event_median = app.add_option("--event-median", base.event_median,
                                      "with a quiet span: a candidate reports only when its deviation is at least the "
                                      "median of the previous K candidates'; 0: off")
                           ->capture_default_str();
  bool split = false;
  app.add_flag("--split", split,
               "also a two-fold check (standard profile): the corpus's odd and even files scored apart, each half "
               "also at the threshold chosen on the other");
  bool per_file = false;
  app.add_flag("--per-file", per_file,
               "also print each file's score (standard profile, at the corpus threshold): raw score, flagged rows "
               "inside windows and outside");
  bool ceiling = false;
  app.add_flag("--ceiling", ceiling,
               "also print each detector's per-file ceiling (standard profile, every file at its own best "
               "threshold: not a NAB score)");
  CLI11_PARSE(app, argc, argv);
  if (detectors.empty()) detectors = ml::DetectorKinds();
  if (quiet->count() > 0) quiet_hours = 0;  // a count of readings instead of hours
  // Without a quiet span every reading is scored: the defaults that need one
  // go too (given explicitly, they are refused below).
  if (base.quiet <= 0 && quiet_hours <= 0) {
    if (escalate->count() == 0) base.escalate = 0;
    if (event_median->count() == 0) base.event_median = 0;
  }
  base.quiet_time = static_cast<TimeUs>(quiet_hours * 3600 * kUsPerSec);
  base.escalate_time = static_cast<TimeUs>(escalate_hours * 3600 * kUsPerSec);

  auto corpus = nab::LoadCorpus(data, windows);
  if (!corpus.ok()) {
    std::cerr << "edgeflow_nab: " << corpus.status().message() << "\n";
    return 2;
  }
  size_t points = 0, nwindows = 0;
  for (const auto& s : *corpus) {
    points += s.ts.size();
    nwindows += s.windows.size();
  }
  std::printf("%zu series, %zu points, %zu anomaly windows\n\n", corpus->size(), points, nwindows);
  std::printf("| detector | parameters | standard | reward low FP | reward low FN | points/s (one core) |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::vector<std::string> ceilings, splits;
  for (const auto& name : detectors) {
    ml::DetectorConfig cfg = base;
    cfg.kind = name;
    if (learn > 0 && name == "art") cfg.learn = learn;
    if (name == "art") {
      // Reports each new shape once by construction (its own masking after a
      // candidate): the reporting policy only hides detections (tried: quiet
      // 6-96 h, with and without event median, 69-75 against 77).
      cfg.quiet = 0;
      cfg.quiet_time = 0;
      cfg.escalate = 0;
      cfg.event_median = 0;
    }
    if (Status st = ml::ValidateDetector(cfg); !st.ok()) {
      std::cerr << "edgeflow_nab: " << st.message() << "\n";
      return 2;
    }
    double secs = 0;
    for (auto& s : *corpus) {
      ml::DetectorConfig one = cfg;
      if (name == "art" && learn == 0) one.learn = std::max<int64_t>(64, static_cast<int64_t>(s.probation()));
      if (look_ahead) {
        const auto [lo, hi] = std::minmax_element(s.values.begin(), s.values.end());
        if (*lo < *hi) {
          one.range_lo = *lo;
          one.range_hi = *hi;
        }
      }
      auto made = ml::MakeDetector(one);
      if (!made.ok()) {
        std::cerr << "edgeflow_nab: " << s.name << ": " << made.status().message() << "\n";
        return 2;
      }
      auto det = std::move(made).value();
      const auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < s.ts.size(); ++i) s.scores[i] = det->Score(s.ts[i] * kUsPerSec, s.values[i]);
      secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!results.empty()) {
        if (Status st = WriteResults(results, name, s); !st.ok()) {
          std::cerr << "edgeflow_nab: " << st.message() << "\n";
          return 1;
        }
      }
    }
    std::string params = name == "zscore" ? "alpha " + std::to_string(cfg.alpha).substr(0, 5)
                         : name == "knn"  ? "window " + std::to_string(cfg.window) + ", dim " + std::to_string(cfg.dim)
                         : name == "art"  ? std::string("learn ") + (learn > 0 ? std::to_string(learn) : "= probation")
                                          : "window " + std::to_string(cfg.window);
    if (name != "art") params += ", warmup " + std::to_string(cfg.warmup);
    if (name == "art" && look_ahead) params += ", **each file's min and max given in advance**";
    if (name == "art" && cfg.art_reference) params += ", as ARTime";
    params += ", quiet ";
    if (name == "art") {
      params += "(its own)";
    } else if (cfg.quiet_time > 0) {
      char h[32];
      std::snprintf(h, sizeof h, "%gh", quiet_hours);
      params += h;
    } else {
      params += std::to_string(cfg.quiet);
    }
    if (cfg.escalate > 1) {
      char e[64];
      std::snprintf(e, sizeof e, ", escalate %g× in %gh", cfg.escalate, escalate_hours);
      params += e;
    }
    if (cfg.event_median > 0) params += ", event median " + std::to_string(cfg.event_median);
    std::printf("| %s | %s", name.c_str(), params.c_str());
    double standard_threshold = 0;  // the first profile's, for --per-file
    for (const auto& p : nab::Profiles()) {
      const nab::Outcome o = nab::Optimize(*corpus, p);
      if (&p == &nab::Profiles()[0]) standard_threshold = o.threshold;
      std::printf(" | %.1f (threshold %.3g)", o.normalized, o.threshold);
    }
    std::printf(" | %.2fM |\n", static_cast<double>(points) / secs / 1e6);
    if (split) {
      std::vector<nab::Series> half[2];
      for (size_t i = 0; i < corpus->size(); ++i) half[i % 2].push_back((*corpus)[i]);
      const auto& p = nab::Profiles()[0];
      const nab::Outcome own[2] = {nab::Optimize(half[0], p), nab::Optimize(half[1], p)};
      char line[256];
      std::snprintf(line, sizeof line,
                    "%s: first half %.1f (own threshold), %.1f (the second half's); second half %.1f (own), %.1f "
                    "(the first half's)",
                    name.c_str(), own[0].normalized, nab::Evaluate(half[0], p, own[1].threshold).normalized,
                    own[1].normalized, nab::Evaluate(half[1], p, own[0].threshold).normalized);
      splits.push_back(line);
    }
    if (per_file) {
      const auto& p = nab::Profiles()[0];
      const double t = standard_threshold;
      std::printf("\n%s per file (standard profile, threshold %.3g): raw score, flagged rows inside windows, flagged rows outside\n",
                  name.c_str(), t);
      for (const auto& s : *corpus) {
        const nab::Counts c = nab::ScoreFile(s, p, t);
        std::printf("  %-60s %7.3f  %3lld %3lld\n", s.name.c_str(), c.score, static_cast<long long>(c.tp),
                    static_cast<long long>(c.fp));
      }
    }
    if (ceiling) ceilings.push_back(name + ": " + std::to_string(nab::PerFileCeiling(*corpus, nab::Profiles()[0])).substr(0, 5));
  }
  if (!splits.empty()) {
    std::printf("\nTwo-fold check (standard profile; halves: files in alphabetical order, odd and even):\n");
    for (const auto& c : splits) std::printf("  %s\n", c.c_str());
  }
  if (!ceilings.empty()) {
    std::printf("\nPer-file ceiling (standard profile, each file at its own best threshold; not a NAB score):\n");
    for (const auto& c : ceilings) std::printf("  %s\n", c.c_str());
  }
  return 0;
}
