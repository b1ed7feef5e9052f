// End-to-end tests of the edgeflow binary: check, replay (declarative pipeline
// cases under tests/pipelines/), run with SIGTERM and SIGHUP, docs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/testing.h"
#include "process.h"
#include "store/store.h"

namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using testing::Child;
using testing::ReadFile;
using testing::RunCommand;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;
const std::string kSrc = EDGEFLOW_SOURCE_DIR;

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

TEST(Cli, VersionAndHelp) {
  TempDir dir;
  std::string out, err;
  ASSERT_EQ(RunCommand({kBin, "version"}, &out, &err, dir.path()), 0);
  EXPECT_EQ(out.rfind("edgeflow ", 0), 0u) << out;
  for (const char* sub : {"run", "check", "replay", "bench", "version", "docs"}) {
    ASSERT_EQ(RunCommand({kBin, sub, "--help"}, &out, &err, dir.path()), 0) << sub;
    EXPECT_NE(out.find("Usage"), std::string::npos) << sub << ": " << out;
  }
  EXPECT_NE(RunCommand({kBin}, &out, &err, dir.path()), 0) << "a subcommand is required";
}

TEST(Cli, CheckAcceptsEveryExample) {
  TempDir dir;
  int n = 0;
  for (const auto& e : fs::directory_iterator(kSrc + "/examples")) {
    if (e.path().extension() != ".yaml") continue;
    std::string out, err;
    EXPECT_EQ(RunCommand({kBin, "check", e.path().string()}, &out, &err, dir.path()), 0) << e.path() << "\n" << err;
    EXPECT_NE(out.find(": ok ("), std::string::npos) << out;
    ++n;
  }
  EXPECT_GE(n, 3) << "demo, factory and smart-building";
}

TEST(Cli, CheckListsEveryErrorWithLineAndExits2) {
  TempDir dir;
  const std::string path = dir / "broken.yaml";
  std::ofstream(path) << R"(node:
  id: plant 7
sources:
  - id: sim
    type: simulator
    sensors: []
processors:
  - id: w
    type: window
    inputs: [sim, ghost]
    size_secs: 0
  - id: w
    type: rules
    inputs: [w]
    rules: [{id: r1, when: "temperature > 80"}]
sinks:
  - id: db
    type: sqlite
    inputs: [w]
    retention: 7d
)";
  std::string out, err;
  ASSERT_EQ(RunCommand({kBin, "check", path}, &out, &err, dir.path()), 2) << err;
  const auto lines = Lines(err);
  auto has = [&](const std::string& prefix, const std::string& text) {
    for (const auto& l : lines)
      if (l.rfind(path + ":" + prefix, 0) == 0 && l.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("2:7:", "'id' must be 1-64 characters")) << err;
  EXPECT_TRUE(has("6:14:", "'sensors' must list at least one sensor")) << err;
  EXPECT_TRUE(has("10:19:", "unknown component 'ghost'")) << err;
  EXPECT_TRUE(has("11:16:", "'size_secs' = 0 is out of range")) << err;
  EXPECT_TRUE(has("12:5:", "duplicate id 'w'")) << err;
  EXPECT_TRUE(has("15:28:", "unknown field 'temperature'")) << err;
  EXPECT_TRUE(has("20:5:", "unknown key 'retention' in sqlite (did you mean 'retention_secs'?)")) << err;
  EXPECT_NE(err.find("errors in " + path), std::string::npos);
}

TEST(Cli, CheckHasNoSideEffects) {
  TempDir dir;
  const std::string path = dir / "c.yaml";
  std::ofstream(path) << "node: {data_dir: " << (dir / "state") << "}\n"
                      << "sources: [{id: s, type: simulator, sensors: [{id: a}]}]\n"
                      << "sinks: [{id: db, type: sqlite, inputs: [s]}, {id: f, type: file, inputs: [s], path: "
                      << (dir / "out.jsonl") << "}]\n";
  std::string out, err;
  ASSERT_EQ(RunCommand({kBin, "check", path}, &out, &err, dir.path()), 0) << err;
  EXPECT_FALSE(fs::exists(dir / "state"));
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));
}

// Declarative pipeline tests: each folder under tests/pipelines holds a
// config.yaml, an input recording and expected.jsonl (the events `replay`
// must print, in order), expected_summary.json with the counts, and
// optionally `args` with extra replay flags.
TEST(Cli, DeclarativePipelineCases) {
  int cases = 0;
  for (const auto& e : fs::directory_iterator(kSrc + "/tests/pipelines")) {
    if (!e.is_directory()) continue;
    SCOPED_TRACE(e.path().filename().string());
    std::string input;
    for (const char* name : {"input.csv", "input.jsonl"})
      if (fs::exists(e.path() / name)) input = (e.path() / name).string();
    ASSERT_FALSE(input.empty());
    TempDir dir;
    std::vector<std::string> args = {kBin, "replay", "-c", (e.path() / "config.yaml").string(), "--input", input};
    if (fs::exists(e.path() / "args"))  // optional extra flags, one per line
      for (const auto& a : Lines(ReadFile((e.path() / "args").string()))) args.push_back(a);
    std::string out, err;
    ASSERT_EQ(RunCommand(args, &out, &err, dir.path()), 0) << err;
    auto got = Lines(out);
    ASSERT_FALSE(got.empty());
    auto summary = nlohmann::json::parse(got.back());
    got.pop_back();
    auto want = Lines(ReadFile((e.path() / "expected.jsonl").string()));
    ASSERT_EQ(got.size(), want.size()) << out;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(nlohmann::json::parse(got[i]), nlohmann::json::parse(want[i])) << "event " << i;
    auto want_summary = nlohmann::json::parse(ReadFile((e.path() / "expected_summary.json").string()));
    EXPECT_EQ(summary["summary"]["readings"], want_summary["readings"]);
    EXPECT_EQ(summary["summary"]["alerts"], want_summary["alerts"]);
    EXPECT_GT(summary["summary"]["readings_per_s"].get<double>(), 0);
    ++cases;
  }
  EXPECT_GE(cases, 3);
}

TEST(Cli, ReplayReportsMissingInput) {
  TempDir dir;
  std::string out, err;
  EXPECT_EQ(RunCommand({kBin, "replay", "-c", kSrc + "/examples/factory.yaml", "--input", dir / "none.csv"}, &out, &err,
                       dir.path()),
            1);
  EXPECT_NE(err.find("recording not found"), std::string::npos) << err;
}

int64_t CountRows(const std::string& db, const std::string& sql) {
  auto s = Store::Open(db);
  if (!s.ok()) return -1;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2((*s)->db(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return -1;
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

std::string SimConfig(const std::string& dir, const std::string& sensor, const std::string& extra = "") {
  return "node: {id: it, data_dir: " + dir + "}\n"
         "sources:\n"
         "  - {id: sim, type: simulator, speed: 200, start: '2026-01-01T00:00:00Z', sensors: [{id: " + sensor +
         ", kind: temperature, faults: [{type: spike, at_secs: 20, duration_secs: 30, magnitude: 50}]}]}\n"
         "processors:\n"
         "  - {id: w, type: window, inputs: [sim], size_secs: 60}\n"
         "  - {id: r, type: rules, inputs: [w], rules: [{id: hot, when: value > 50, clear_when: value < 40}]}\n" +
         extra +
         "sinks:\n"
         "  - {id: db, type: sqlite, inputs: [r], retention_secs: 0}\n";
}

TEST(Cli, RunStoresDataRaisesAlertsAndStopsCleanlyOnSigterm) {
  TempDir dir;
  const std::string cfg = dir / "c.yaml";
  std::ofstream(cfg) << SimConfig(dir.path(), "oven");
  Child c({kBin, "run", "-c", cfg}, dir / "out", dir / "err");
  ASSERT_TRUE(c.started());
  const std::string db = dir / "edgeflow.db";
  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(db) && CountRows(db, "SELECT count(*) FROM alerts WHERE state='clear'") >= 1; },
                               std::chrono::seconds(30)))
      << c.err();
  c.Signal(SIGTERM);
  ASSERT_EQ(c.Wait(std::chrono::seconds(30)), 0) << c.err();
  EXPECT_NE(c.err().find("received SIGTERM, stopping"), std::string::npos);
  // Everything the simulator produced is stored: sequence numbers 1..N, no gaps.
  const int64_t n = CountRows(db, "SELECT coalesce(sum(count), 0) FROM reading_blocks");
  EXPECT_GT(n, 50);
  EXPECT_EQ(CountRows(db, "SELECT max(last_seq) FROM reading_blocks"), n);
  // The open window was flushed at shutdown: every reading is in exactly one aggregate.
  EXPECT_EQ(CountRows(db, "SELECT sum(count) FROM aggregates"), n);
  EXPECT_EQ(CountRows(db, "SELECT count(*) FROM alerts WHERE state='open' AND rule='hot'"), 1);
}

TEST(Cli, SighupReloadsValidConfigKeepsRunningOnInvalidAndLosesNothing) {
  TempDir dir;
  const std::string cfg = dir / "c.yaml";
  std::ofstream(cfg) << SimConfig(dir.path(), "first");
  Child c({kBin, "run", "-c", cfg}, dir / "out", dir / "err");
  const std::string db = dir / "edgeflow.db";
  auto rows_for = [&](const std::string& sensor) {
    return CountRows(db, "SELECT coalesce(sum(b.count), 0) FROM reading_blocks b JOIN series s ON s.id=b.series WHERE s.sensor='" +
                             sensor + "'");
  };
  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(db) && rows_for("first") > 20; }, std::chrono::seconds(30))) << c.err();

  std::ofstream(cfg) << "sources: [{id: sim, type: simulator, sensors: []}]\n";  // invalid
  c.Signal(SIGHUP);
  ASSERT_TRUE(testing::WaitFor([&] { return c.err().find("new configuration rejected") != std::string::npos; },
                               std::chrono::seconds(20)))
      << c.err();
  const int64_t before = rows_for("first");
  ASSERT_TRUE(testing::WaitFor([&] { return rows_for("first") > before; }, std::chrono::seconds(20)))
      << "the old pipeline keeps running";

  std::ofstream(cfg) << SimConfig(dir.path(), "second");
  c.Signal(SIGHUP);
  ASSERT_TRUE(testing::WaitFor([&] { return rows_for("second") > 0; }, std::chrono::seconds(30))) << c.err();
  EXPECT_NE(c.err().find("configuration reloaded"), std::string::npos);
  c.Signal(SIGINT);
  ASSERT_EQ(c.Wait(std::chrono::seconds(30)), 0) << c.err();
  // The first pipeline was drained at the reload: its readings are complete (1..N).
  const std::string q = "FROM reading_blocks b JOIN series s ON s.id=b.series WHERE s.sensor='first'";
  EXPECT_EQ(CountRows(db, "SELECT max(b.last_seq) " + q), CountRows(db, "SELECT sum(b.count) " + q));
  EXPECT_EQ(CountRows(db, "SELECT sum(a.count) FROM aggregates a JOIN series s ON s.id=a.series WHERE s.sensor='first'"),
            CountRows(db, "SELECT sum(b.count) " + q))
      << "its open windows were flushed";
}

// The shipped examples run for real: data reaches their store, and they stop cleanly.
TEST(Cli, ExamplesRunAndStoreData) {
  for (const char* name : {"demo.yaml", "factory.yaml", "smart-building.yaml"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    Child c({kBin, "run", "-c", kSrc + "/examples/" + name}, dir / "out", dir / "err", dir.path());
    const std::string db = dir / "data/edgeflow.db";
    ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(db) && CountRows(db, "SELECT coalesce(sum(count), 0) FROM reading_blocks") > 10; },
                                 std::chrono::seconds(30)))
        << c.err();
    c.Signal(SIGINT);
    ASSERT_EQ(c.Wait(std::chrono::seconds(30)), 0) << c.err();
    EXPECT_EQ(c.err().find(" error "), std::string::npos) << c.err();
    EXPECT_EQ(c.err().find(" critical "), std::string::npos) << c.err();
    EXPECT_EQ(CountRows(db, "SELECT count(*) FROM dead_letters"), 0) << "the simulated plant produces valid data";
  }
}

TEST(Cli, RunRejectsInvalidConfigWithExit2) {
  TempDir dir;
  const std::string cfg = dir / "c.yaml";
  std::ofstream(cfg) << "sources: 3\n";
  std::string out, err;
  EXPECT_EQ(RunCommand({kBin, "run", "-c", cfg}, &out, &err, dir.path()), 2);
  EXPECT_NE(err.find(cfg + ":1:10: 'sources' must be a list"), std::string::npos) << err;
}

TEST(Cli, ConfigurationReferenceIsUpToDate) {
  TempDir dir;
  std::string out, err;
  ASSERT_EQ(RunCommand({kBin, "docs"}, &out, &err, dir.path()), 0);
  EXPECT_EQ(out, ReadFile(kSrc + "/docs/configuration.md")) << "run `make docs` and commit docs/configuration.md";
}

}  // namespace
}  // namespace edgeflow
