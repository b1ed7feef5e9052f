// The NAB scoring tool (bench/nab.cpp) end to end on a small corpus in NAB's
// layout: its defaults are the documented parameters, and its options combine
// as documented (docs/anomaly-detection.md).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/testing.h"
#include "ml/nab.h"
#include "process.h"

namespace edgeflow {
namespace {

using testing::RunCommand;
using testing::TempDir;

#ifdef EDGEFLOW_NAB_BINARY
const std::string kNab = EDGEFLOW_NAB_BINARY;

// Two series of 3000 readings five minutes apart (a slow wave and a little
// deterministic noise); a.csv has a spike at row 2000 inside its one window,
// b.csv has no anomaly.
class NabTool : public ::testing::Test {
 protected:
  void SetUp() override {
    const int64_t t0 = 1420070400;  // 2015-01-01 00:00:00
    std::filesystem::create_directories(dir_ / "data/cat");
    for (const char* name : {"a", "b"}) {
      std::ofstream f(dir_ / ("data/cat/" + std::string(name) + ".csv"));
      f << "timestamp,value\n";
      for (int i = 0; i < 3000; ++i) {
        double v = 10 + std::sin(i / 20.0) + 0.1 * ((i * 7919) % 13) / 13.0;
        if (name[0] == 'a' && i == 2000) v += 20;
        f << nab::FormatTime(t0 + i * 300) << "," << v << "\n";
      }
    }
    std::ofstream w(dir_ / "windows.json");
    w << R"({"cat/a.csv": [[")" << nab::FormatTime(t0 + 1950 * 300) << R"(", ")" << nab::FormatTime(t0 + 2050 * 300)
      << R"("]], "cat/b.csv": []})";
  }
  int Run(std::vector<std::string> extra, std::string* out, std::string* err) {
    std::vector<std::string> args = {kNab, "--data", dir_ / "data", "--windows", dir_ / "windows.json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCommand(args, out, err, dir_.path());
  }
  // The standard-profile score in the row of `detector`.
  static double Standard(const std::string& out, const std::string& detector) {
    const size_t row = out.find("| " + detector + " | ");
    if (row == std::string::npos) return -1000;
    const size_t cell = out.find(" | ", out.find(" | ", row + 2) + 3);
    return std::stod(out.substr(cell + 3));
  }
  TempDir dir_;
};

TEST_F(NabTool, DefaultsAreTheDocumentedParameters) {
  std::string out, err;
  ASSERT_EQ(Run({}, &out, &err), 0) << err;
  EXPECT_NE(out.find("2 series, 6000 points, 1 anomaly windows"), std::string::npos) << out;
  for (const char* d : {"zscore", "robust", "change", "seasonal", "knn", "art"})
    EXPECT_NE(out.find("| " + std::string(d) + " | "), std::string::npos) << d << "\n" << out;
  EXPECT_NE(out.find("| seasonal | window 2000, warmup 30, quiet 96h, escalate 2× in 12h, event median 5 |"),
            std::string::npos)
      << out;
  EXPECT_GT(Standard(out, "seasonal"), 50) << "the spike is found, early in its window\n" << out;
  EXPECT_NE(out.find("| art | learn = probation, quiet (its own) |"), std::string::npos) << out;
  EXPECT_GT(Standard(out, "art"), 50) << out;
}

TEST_F(NabTool, ArtOptionsAndEachFilesScore) {
  std::string out, err;
  ASSERT_EQ(Run({"--detector", "art", "--per-file", "--look-ahead-range", "--art-reference"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("| art | learn = probation, **each file's min and max given in advance**, as ARTime, quiet (its own) |"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("art per file (standard profile, threshold "), std::string::npos) << out;
  for (const char* f : {"  cat/a.csv ", "  cat/b.csv "}) EXPECT_NE(out.find(f), std::string::npos) << f << "\n" << out;
  // The flags reach the detector: each changes what it reports (the results
  // files). A third, restless series (its amplitude and period change every
  // 300 readings) makes new shapes again and again.
  {
    const int64_t t0 = 1420070400;
    std::ofstream f(dir_ / "data/cat/c.csv");
    f << "timestamp,value\n";
    double a = 5, p = 50;
    for (int i = 0; i < 3000; ++i) {
      if (i % 300 == 0) a = 1 + (i * 7 % 10), p = 10 + (i * 13 % 190);
      f << nab::FormatTime(t0 + i * 300) << "," << 50 + a * std::sin(i * 6.283 / p) << "\n";
    }
    std::string windows;
    std::ifstream w(dir_ / "windows.json");
    std::getline(w, windows);
    windows.back() = ',';
    std::ofstream(dir_ / "windows.json") << windows << R"( "cat/c.csv": []})";
  }
  const auto results = [&](std::vector<std::string> flags) {
    const std::string res = dir_ / ("res" + std::to_string(flags.size()) + (flags.empty() ? "" : flags[0]));
    flags.insert(flags.end(), {"--detector", "art", "--results", res});
    std::string o, e;
    EXPECT_EQ(Run(flags, &o, &e), 0) << e;
    std::string all;
    for (const char* name : {"/art/cat/art_a.csv", "/art/cat/art_b.csv", "/art/cat/art_c.csv"}) {
      std::ifstream f(res + name);
      all += std::string(std::istreambuf_iterator<char>(f), {});
    }
    return all;
  };
  const std::string plain = results({}), ahead = results({"--look-ahead-range"}), reference = results({"--art-reference"}),
                    learn = results({"--learn", "1500"});
  ASSERT_GT(plain.size(), 3000u);
  EXPECT_TRUE(plain != ahead) << "--look-ahead-range changed nothing";
  EXPECT_TRUE(plain != reference) << "--art-reference changed nothing";
  EXPECT_TRUE(plain != learn) << "--learn changed nothing";
  ASSERT_EQ(Run({"--detector", "art", "--learn", "700"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("| art | learn 700, quiet (its own) |"), std::string::npos) << out;
  EXPECT_EQ(Run({"--detector", "art", "--learn", "10"}, &out, &err), 2);
  EXPECT_NE(err.find("learn must be in [64, 10000000]"), std::string::npos) << err;
  EXPECT_NE(Run({"--detector", "art", "--learn", "-5"}, &out, &err), 0);
  EXPECT_EQ(Run({"--detector", "robust", "--learn", "10"}, &out, &err), 0) << "only art learns: " << err;
}

TEST_F(NabTool, AQuietCountReplacesTheHoursAndNoQuietSpanDropsThePolicy) {
  std::string out, err;
  ASSERT_EQ(Run({"--detector", "robust", "--quiet", "100"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("| robust | window 2000, warmup 30, quiet 100, escalate 2× in 12h, event median 5 |"),
            std::string::npos)
      << out;
  ASSERT_EQ(Run({"--detector", "robust", "--quiet-hours", "0"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("| robust | window 2000, warmup 30, quiet 0 |"), std::string::npos) << out;
  // Every reading scored against a few reported: count the readings of
  // a.csv with a score above 0 in the results files.
  const auto reported = [&](const std::vector<std::string>& extra) {
    const std::string res = dir_ / ("results" + std::to_string(extra.size()));
    std::vector<std::string> args = {"--detector", "robust", "--results", res};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string o, e;
    EXPECT_EQ(Run(args, &o, &e), 0) << e;
    std::ifstream f(res + "/robust/cat/robust_a.csv");
    std::string line;
    std::getline(f, line);  // header
    int n = 0;
    while (std::getline(f, line)) n += std::stod(line.substr(line.find(',', line.find(',') + 1) + 1)) > 0;
    return n;
  };
  const int every = reported({"--quiet-hours", "0"}), events = reported({});
  EXPECT_GT(every, 2500) << "after the warm-up nearly every reading scores above 0";
  EXPECT_GT(events, 0);
  EXPECT_LT(events, 50) << "quiet span, escalation and event median leave a few events";
}

TEST_F(NabTool, ContradictoryOptionsAreRefused) {
  std::string out, err;
  EXPECT_NE(Run({"--quiet", "10", "--quiet-hours", "5"}, &out, &err), 0);
  EXPECT_NE(err.find("excludes"), std::string::npos) << err;
  EXPECT_EQ(Run({"--quiet-hours", "0", "--escalate", "2"}, &out, &err), 2);
  EXPECT_NE(err.find("escalate needs quiet or quiet_time"), std::string::npos) << err;
}

TEST_F(NabTool, SplitAndCeilingArePrinted) {
  std::string out, err;
  ASSERT_EQ(Run({"--detector", "robust", "--split", "--ceiling"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("Two-fold check"), std::string::npos) << out;
  EXPECT_NE(out.find("  robust: first half "), std::string::npos) << out;
  EXPECT_NE(out.find("Per-file ceiling"), std::string::npos) << out;
}
#else
TEST(NabTool, NeedsTheBenchmarks) { GTEST_SKIP() << "edgeflow_nab is built with EDGEFLOW_BUILD_BENCH"; }
#endif

}  // namespace
}  // namespace edgeflow
