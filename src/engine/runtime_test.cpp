#include "engine/runtime.h"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "core/testing.h"
#include "store/store.h"

namespace edgeflow {
namespace {

using testing::TempDir;

PipelineConfig Parse(const std::string& yaml) {
  PipelineConfig cfg;
  config::Diagnostics d("test");
  EXPECT_TRUE(ParsePipelineConfig(yaml, &cfg, d)) << d.Format();
  return cfg;
}

// A recording of `n` readings at one timestamp: 0, 1, 2, … (modulo `modulo` when given).
void WriteRecording(const std::string& path, int n, int modulo = 0) {
  std::ofstream f(path);
  for (int i = 0; i < n; ++i) f << "2026-01-01T00:00:00Z," << (modulo > 0 ? i % modulo : i) << "\n";
}

TEST(Runtime, FiniteSourceDrainsIntoStoreThenFinishes) {
  TempDir dir;
  WriteRecording(dir / "rec.csv", 5000, 100);
  auto cfg = Parse(R"(
node: {data_dir: )" + dir.path() + R"(}
sources:
  - {id: rec, type: file, path: )" + (dir / "rec.csv") + R"(, batch_size: 64, queue: {capacity: 2}}
processors:
  - id: hot
    type: rules
    inputs: [rec]
    rules: [{id: high, when: value > 98}]
sinks:
  - {id: db, type: sqlite, inputs: [hot], retention_secs: 0, queue: {capacity: 2}}
)");
  Runtime rt(cfg, SystemClock::Instance());
  ASSERT_TRUE(rt.Start().ok());
  ASSERT_TRUE(rt.WaitFinished(std::chrono::seconds(30)));
  auto stats = rt.Stats();
  rt.Stop();
  auto store = Store::Open(dir / "edgeflow.db");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->Count("readings"), 5000) << "block policy: nothing dropped under back-pressure";
  // value > 98 holds for 99 only and clears on the next reading (0): 50 opens,
  // 49 clears (the recording ends on 99).
  EXPECT_EQ(*(*store)->Count("alerts"), 99);
  EXPECT_FALSE(stats["components"]["rec"].contains("queue")) << "a single source runs the pipeline on its own thread";
  EXPECT_EQ(stats["components"]["db"]["written_events"], 5099);
  EXPECT_EQ(stats["components"]["db"]["queue"]["when_full"], "block");
  EXPECT_EQ(stats["components"]["hot"]["created"]["alerts"], 99);
  EXPECT_EQ(stats["totals"]["source_events"], 5000);
  EXPECT_EQ(stats["totals"]["alerts"], 99);
  EXPECT_EQ(stats["totals"]["sink_events"], 5099);
  EXPECT_EQ(stats["totals"]["lost_events"], 0);
}

TEST(Runtime, AFileSinkWritesTheKindsItsIncludeNames) {
  TempDir dir;
  WriteRecording(dir / "rec.csv", 200, 100);
  auto cfg = Parse(R"(
node: {data_dir: )" + dir.path() + R"(}
sources:
  - {id: rec, type: file, path: )" + (dir / "rec.csv") + R"(}
processors:
  - id: hot
    type: rules
    inputs: [rec]
    rules: [{id: high, when: value > 98}]
sinks:
  - {id: both, type: file, inputs: [hot], path: )" + (dir / "both.jsonl") + R"(, include: [readings, alerts]}
  - {id: readings, type: file, inputs: [hot], path: )" + (dir / "readings.jsonl") + R"(, include: [readings]}
  - {id: alerts, type: file, inputs: [hot], path: )" + (dir / "alerts.jsonl") + R"(, include: [alerts]}
)");
  Runtime rt(cfg, SystemClock::Instance());
  ASSERT_TRUE(rt.Start().ok());
  ASSERT_TRUE(rt.WaitFinished(std::chrono::seconds(30)));
  rt.Stop();
  // Lines per kind: readings carry "value" and no "state", alerts a "state".
  const auto count = [&](const std::string& file) {
    std::ifstream f(dir / file);
    std::pair<int, int> n{0, 0};
    for (std::string line; std::getline(f, line);) {
      const auto j = nlohmann::json::parse(line);
      (j.contains("state") ? n.second : n.first)++;
    }
    return n;
  };
  // 200 readings; value > 98 opens on each 99 and clears on the next 0: 2 opens, 1 clear.
  EXPECT_EQ(count("both.jsonl"), std::make_pair(200, 3));
  EXPECT_EQ(count("readings.jsonl"), std::make_pair(200, 0));
  EXPECT_EQ(count("alerts.jsonl"), std::make_pair(0, 3));
}

TEST(Runtime, StopFlushesOpenWindowsAndQueuedData) {
  TempDir dir;
  auto cfg = Parse(R"(
node: {data_dir: )" + dir.path() + R"(}
sources:
  - id: sim
    type: simulator
    speed: 1
    sensors: [{id: t, kind: temperature, interval_secs: 1}]
processors:
  - {id: w, type: window, inputs: [sim], size_secs: 3600}
sinks:
  - {id: db, type: sqlite, inputs: [w], retention_secs: 0}
)");
  ManualClock clock;
  Runtime rt(cfg, clock);
  ASSERT_TRUE(rt.Start().ok());
  auto produced = [&] { return rt.Stats()["components"]["sim"]["out_events"].get<uint64_t>(); };
  // The source reads the clock when it starts: advance only once it has.
  ASSERT_TRUE(testing::WaitFor([&] { return produced() >= 1; }));
  for (int i = 0; i < 30; ++i) {
    clock.advance(kUsPerSec);
    ASSERT_TRUE(testing::WaitFor([&] { return produced() >= static_cast<uint64_t>(i + 2); }));
  }
  rt.Stop();
  auto store = Store::Open(dir / "edgeflow.db");
  const int64_t readings = *(*store)->Count("readings");
  EXPECT_GE(readings, 31);
  EXPECT_GE(*(*store)->Count("aggregates"), 1) << "the open hour window is flushed at stop";
  auto rows = (*store)->Readings("", "", 0, INT64_MAX);
  int64_t windowed = 0;
  sqlite3_stmt* st;
  ASSERT_EQ(sqlite3_prepare_v2((*store)->db(), "SELECT sum(count) FROM aggregates", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  windowed = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  EXPECT_EQ(windowed, readings) << "every stored reading is counted in exactly one flushed window";
}

TEST(Runtime, DropPolicyCountsWhatItDrops) {
  TempDir dir;
  WriteRecording(dir / "rec.csv", 20000);
  // The sink's broker port is closed: every write fails and is retried, the
  // one-slot queue fills (4096 events coalesced) and the newest batches are
  // dropped and counted; what is still held at shutdown is counted as lost.
  auto cfg = Parse(R"(
node: {data_dir: )" + dir.path() + R"(}
sources:
  - {id: rec, type: file, path: )" + (dir / "rec.csv") + R"(, batch_size: 10}
sinks:
  - id: up
    type: mqtt
    inputs: [rec]
    include: [readings]
    broker: {port: 9, reconnect_min_secs: 0.01, reconnect_max_secs: 0.05}
    queue: {capacity: 1, when_full: drop_newest}
)");
  Runtime rt(cfg, SystemClock::Instance());
  ASSERT_TRUE(rt.Start().ok());
  ASSERT_TRUE(rt.WaitFinished(std::chrono::seconds(60)));
  auto stats = rt.Stats();
  rt.Stop();
  const auto& up = stats["components"]["up"];
  const uint64_t dropped = up["queue"]["dropped_events"].get<uint64_t>();
  const uint64_t written = up["written_events"].get<uint64_t>();
  const uint64_t lost = up["lost_events"].get<uint64_t>();
  EXPECT_EQ(written, 0u);
  EXPECT_GE(dropped, 20000u - 2 * 4096u - 10u);  // at most one held batch and one queued slot
  EXPECT_EQ(dropped + written + lost, 20000u) << "every reading is written, dropped or lost, and counted";
  EXPECT_EQ(stats["totals"]["dropped_events"].get<uint64_t>(), dropped);
}

TEST(Runtime, StopEndsPromptlyWhenASinkCannotWriteAndItsQueueIsFull) {
  TempDir dir;
  // A live source, a sink that cannot write (its broker's port is closed) and a one-batch queue
  // that blocks: the source waits on the sink, and the sink retried each batch for ~85 minutes.
  auto cfg = Parse(R"(
node: {data_dir: )" + dir.path() + R"(}
sources:
  - id: plant
    type: simulator
    sensors: [{id: s1, interval_secs: 0.0001}]
sinks:
  - id: up
    type: mqtt
    inputs: [plant]
    include: [readings]
    broker: {port: 9, reconnect_min_secs: 0.01, reconnect_max_secs: 0.05}
    queue: {capacity: 1, when_full: block}
)");
  Runtime rt(cfg, SystemClock::Instance());
  ASSERT_TRUE(rt.Start().ok());
  // Full (4096 readings coalesce into the one batch) and the source blocked on it.
  ASSERT_TRUE(testing::WaitFor([&] { return rt.Stats()["components"]["up"]["queue"]["blocked"].get<uint64_t>() >= 1; }))
      << rt.Stats().dump();
  const auto t0 = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { rt.Stop(); });
  if (stopped.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "Stop() hangs (30 s) with a sink that cannot write\n");
    std::abort();  // the future's destructor would wait for Stop() with it
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 15.0) << "5 s of normal retries, then a few tries per batch";
  EXPECT_GT(secs, 4.0) << "a sink that recovers within the grace loses nothing";
  const auto up = rt.Stats()["components"]["up"];
  EXPECT_GT(up["lost_events"].get<uint64_t>(), 0u) << "what could not be written is counted as lost: " << up;
  std::printf("# stop with a failing sink: %.2f s\n", secs);
}

TEST(Runtime, BuildErrorIsReportedNotThrown) {
  auto cfg = Parse(R"(
sources:
  - {id: rec, type: file, path: /nonexistent/x.csv}
sinks:
  - {id: out, type: file, inputs: [rec]}
)");
  Runtime rt(cfg, SystemClock::Instance());
  Status st = rt.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("rec: recording not found: /nonexistent/x.csv"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace edgeflow
