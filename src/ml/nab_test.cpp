#include "ml/nab.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/testing.h"

namespace edgeflow::nab {
namespace {

const Profile& Standard() { return Profiles()[0]; }

Series Make(size_t n, std::vector<std::pair<size_t, size_t>> windows) {
  Series s;
  s.name = "test/a.csv";
  for (size_t i = 0; i < n; ++i) {
    s.ts.push_back(1400000000 + static_cast<int64_t>(i) * 300);
    s.values.push_back(0);
  }
  s.windows = std::move(windows);
  s.scores.assign(n, 0.0);
  return s;
}

TEST(Nab, ScaledSigmoidMatchesTheBenchmark) {
  EXPECT_NEAR(ScaledSigmoid(-1), 0.9866142981514305, 1e-15);
  EXPECT_EQ(ScaledSigmoid(0), 0);
  EXPECT_NEAR(ScaledSigmoid(1), -0.9866142981514305, 1e-15);
  EXPECT_EQ(ScaledSigmoid(3.01), -1.0);
}

TEST(Nab, ProbationIsFifteenPercentAtMostSevenHundredFifty) {
  EXPECT_EQ(Make(100, {}).probation(), 15u);
  EXPECT_EQ(Make(4032, {}).probation(), 604u);
  EXPECT_EQ(Make(22695, {}).probation(), 750u);
}

TEST(Nab, EarlyDetectionEarnsTheFullRewardFalsePositivesCost) {
  Series s = Make(100, {{40, 49}});
  s.scores[5] = 1;   // probationary: not scored
  s.scores[20] = 1;  // before any window: -fp
  s.scores[40] = 1;  // the window's first row: +tp
  s.scores[45] = 1;  // later in the same window: adds nothing
  s.scores[60] = 1;  // after the window, (60-49)/(10-1) windows later
  const Counts c = ScoreFile(s, Standard(), 0.5);
  const double after = ScaledSigmoid(11.0 / 9.0) * 0.11;
  EXPECT_NEAR(c.score, 1.0 - 0.11 + after, 1e-12);
  EXPECT_EQ(c.tp, 2);
  EXPECT_EQ(c.fp, 2);
  EXPECT_EQ(c.fn, 8);
  EXPECT_EQ(c.tn, 85 - 10 - 2);
  // A late detection earns less; none costs fn_weight.
  s.scores.assign(100, 0);
  s.scores[49] = 1;
  EXPECT_NEAR(ScoreFile(s, Standard(), 0.5).score, ScaledSigmoid(-0.1) / ScaledSigmoid(-1), 1e-12);
  s.scores[49] = 0;
  EXPECT_EQ(ScoreFile(s, Profiles()[2], 0.5).score, -2.0);
}

TEST(Nab, OptimizeFindsTheBestThresholdOverTheWholeCorpus) {
  Series a = Make(100, {{40, 49}}), b = Make(100, {{70, 79}});
  a.scores[42] = 0.9;  // a hit in a
  b.scores[30] = 0.8;  // a false positive in b (before its window)
  b.scores[75] = 0.7;  // a hit in b, lower than the false positive
  const Outcome o = Optimize({a, b}, Standard());
  const double hit_a = ScaledSigmoid(-8.0 / 10) / ScaledSigmoid(-1), hit_b = ScaledSigmoid(-5.0 / 10) / ScaledSigmoid(-1);
  // Threshold 0.7 takes both hits and the false positive; 0.9 only the first hit.
  EXPECT_DOUBLE_EQ(o.threshold, 0.7);
  EXPECT_NEAR(o.raw, hit_a + hit_b - 0.11, 1e-12);
  EXPECT_NEAR(o.normalized, 100 * (o.raw + 2) / 4, 1e-9);
  EXPECT_NEAR(Normalize(-2, Standard(), 2), 0, 1e-12);
  EXPECT_NEAR(Normalize(2, Standard(), 2), 100, 1e-12);
  // Detecting nothing is a candidate: a corpus of false positives only scores 0.
  Series c = Make(100, {{40, 49}});
  c.scores[20] = 1;
  EXPECT_DOUBLE_EQ(Optimize({c}, Standard()).threshold, 1.1);
  EXPECT_NEAR(Optimize({c}, Standard()).normalized, 0, 1e-12);
}

TEST(Nab, PerFileCeilingGivesEveryFileItsOwnThreshold) {
  Series a = Make(100, {{40, 49}}), b = Make(100, {{70, 79}});
  a.scores[42] = 0.3;  // a weak hit in a
  b.scores[30] = 0.5;  // a false positive in b, above a's hit
  b.scores[75] = 0.9;  // a strong hit in b
  const double hit_a = ScaledSigmoid(-8.0 / 10) / ScaledSigmoid(-1), hit_b = ScaledSigmoid(-5.0 / 10) / ScaledSigmoid(-1);
  // One threshold for both: 0.3 takes both hits and b's false positive.
  EXPECT_NEAR(Optimize({a, b}, Standard()).raw, hit_a + hit_b - 0.11, 1e-12);
  // Each its own: a at 0.3, b at 0.9, no false positive.
  EXPECT_NEAR(PerFileCeiling({a, b}, Standard()), Normalize(hit_a + hit_b, Standard(), 2), 1e-9);
  // Evaluate at the optimum's threshold gives the optimum; at 0.9 only b's hit counts.
  const Outcome best = Optimize({a, b}, Standard());
  EXPECT_NEAR(Evaluate({a, b}, Standard(), best.threshold).normalized, best.normalized, 1e-9);
  EXPECT_NEAR(Evaluate({a, b}, Standard(), 0.9).raw, hit_b - 1, 1e-12);
}

TEST(Nab, FormatTimeWritesTheBenchmarksLayout) {
  EXPECT_EQ(FormatTime(1386018900), "2013-12-02 21:15:00");
}

TEST(Nab, LoadsACorpusInTheBenchmarksLayout) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "data/cat");
  std::ofstream csv(dir / "data/cat/x.csv");
  csv << "timestamp,value\n";
  for (int i = 0; i < 48; ++i) csv << "2014-04-01 " << (i / 2 < 10 ? "0" : "") << i / 2 << ":" << (i % 2 ? "30" : "00") << ":00," << i << "\n";
  csv.close();
  std::ofstream(dir / "windows.json")
      << R"({"cat/x.csv": [["2014-04-01 10:00:00.000000", "2014-04-01 11:30:00.000000"]], "cat/missing.csv": []})";
  auto corpus = LoadCorpus(dir / "data", dir / "windows.json");
  ASSERT_TRUE(corpus.ok()) << corpus.status().ToString();
  ASSERT_EQ(corpus->size(), 1u);
  const Series& s = (*corpus)[0];
  EXPECT_EQ(s.name, "cat/x.csv");
  EXPECT_EQ(s.ts.size(), 48u);
  EXPECT_EQ(s.values[47], 47);
  ASSERT_EQ(s.windows.size(), 1u);
  EXPECT_EQ(s.windows[0], (std::pair<size_t, size_t>{20, 23}));
  std::ofstream(dir / "bad.json") << R"({"cat/x.csv": [["2014-04-01 10:10:00.000000", "2014-04-01 11:30:00.000000"]]})";
  auto bad = LoadCorpus(dir / "data", dir / "bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not match its rows"), std::string::npos);
}

}  // namespace
}  // namespace edgeflow::nab
