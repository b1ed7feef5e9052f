#include "store/store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;
using testing::TempDir;

Batch Readings(int n, TimeUs start, const char* sensor = "s") {
  Batch b;
  for (int i = 0; i < n; ++i) {
    Reading r = R(sensor, "m", start + i * kUsPerSec, i);
    r.seq = static_cast<uint64_t>(i + 1);
    b.readings.push_back(r);
  }
  return b;
}

TEST(Store, WritesEveryEventKindAndKeepsThemAcrossReopen) {
  TempDir dir;
  const std::string path = dir / "sub/edge.db";
  {
    auto s = Store::Open(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Batch b = Readings(100, At(0));
    Aggregate a;
    a.sensor = Intern("s");
    a.metric = Intern("m");
    a.window = Intern("w");
    a.start = At(0);
    a.end = At(60);
    a.f[0] = 60;
    b.aggregates.push_back(a);
    AlertEvent al;
    al.rule = Intern("hot");
    al.sensor = Intern("s");
    al.metric = Intern("m");
    al.origin = Intern("rules");
    al.ts = At(5);
    al.opened_at = At(5);
    al.value = 99;
    al.severity = Severity::kCritical;
    b.alerts.push_back(al);
    b.dead_letters.push_back({R("s", "m", At(1), std::nan("")), Intern("v"), "nan", "detail"});
    ASSERT_TRUE((*s)->Write(b, StoreWhat{}, At(100)).ok());
  }
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*(*s)->Count("readings"), 100);
  EXPECT_EQ(*(*s)->Count("aggregates"), 1);
  auto alerts = (*s)->Alerts();
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].rule, "hot");
  EXPECT_EQ((*alerts)[0].state, "open");
  EXPECT_EQ((*alerts)[0].severity, "critical");
  auto dl = (*s)->DeadLetters();
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].reason, "nan");
  auto rows = (*s)->Readings("s", "m", At(10), At(20));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 10u);
  EXPECT_EQ((*rows)[0].value, 10);
  EXPECT_EQ((*rows)[0].seq, 11);
}

TEST(Store, SelectsEventKinds) {
  TempDir dir;
  auto s = Store::Open(dir / "e.db");
  ASSERT_TRUE(s.ok());
  Batch b = Readings(5, At(0));
  b.dead_letters.push_back({R("s", "m", At(1), 1), Intern("v"), "x", ""});
  ASSERT_TRUE((*s)->Write(b, StoreWhat{false, true, true, true}, At(0)).ok());
  EXPECT_EQ(*(*s)->Count("readings"), 0);
  EXPECT_EQ(*(*s)->Count("dead_letters"), 1);
}

TEST(Store, RetentionByAge) {
  TempDir dir;
  auto s = Store::Open(dir / "e.db");
  ASSERT_TRUE(s.ok());
  // Ten batches of ten readings: ten blocks; retention works per block.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*s)->Write(Readings(10, At(i * 10)), StoreWhat{}, At(0)).ok());
  ASSERT_TRUE((*s)->EnforceRetention(At(150), SecondsToUs(100), 0, 0).ok());
  // Kept: the blocks whose newest reading is at or after 50 s.
  EXPECT_EQ(*(*s)->Count("readings"), 50);
  auto rows = (*s)->Readings("", "", At(0), At(1000));
  EXPECT_EQ(rows->front().ts, At(50));
}

TEST(Store, RetentionBySizeDeletesOldestFirstAndShrinksFile) {
  TempDir dir;
  const std::string path = dir / "e.db";
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*s)->Write(Readings(5000, At(i * 5000)), StoreWhat{}, At(0)).ok());
  const int64_t before = (*s)->SizeBytes();
  ASSERT_GT(before, 1'000'000);
  const int64_t cap = before / 4;
  ASSERT_TRUE((*s)->EnforceRetention(At(0), 0, 0, cap).ok());
  EXPECT_LE((*s)->SizeBytes(), cap);
  EXPECT_LE(static_cast<int64_t>(std::filesystem::file_size(path)), cap + 64 * 1024)
      << "incremental vacuum gives the pages back";
  auto n = *(*s)->Count("readings");
  EXPECT_GT(n, 0);
  auto rows = (*s)->Readings("", "", At(0), At(1e9), 1);
  EXPECT_EQ(rows->front().ts, At(100000 - static_cast<double>(n))) << "the newest readings are the ones kept";
}

// Dead letters (a device sending bad data) fill most of the file: they go
// first, the readings stay. The readings went instead, 99.5 % of them, with
// the file still over the limit.
TEST(Store, RetentionBySizeDropsDeadLettersBeforeReadings) {
  TempDir dir;
  auto s = Store::Open(dir / "e.db");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Write(Readings(5000, At(0)), StoreWhat{}, At(0)).ok());
  const int64_t readings_only = (*s)->SizeBytes();
  Batch bad;
  for (int i = 0; i < 2000; ++i) {
    DeadLetter d;
    d.reading.ts = At(i);
    d.reason = "invalid_json";
    d.detail = std::string(1000, 'x');
    bad.dead_letters.push_back(d);
  }
  ASSERT_TRUE((*s)->Write(bad, StoreWhat{}, At(1)).ok());
  ASSERT_GT((*s)->SizeBytes(), readings_only + 1'500'000);
  const int64_t cap = readings_only + 500'000;
  ASSERT_TRUE((*s)->EnforceRetention(At(2), 0, 0, cap).ok());
  EXPECT_LE((*s)->SizeBytes(), cap);
  EXPECT_EQ(*(*s)->Count("readings"), 5000);
  EXPECT_GT(*(*s)->Count("dead_letters"), 0);
  EXPECT_LT(*(*s)->Count("dead_letters"), 2000);
}

TEST(Store, ConcurrentReaderSeesCommittedData) {
  TempDir dir;
  auto w = Store::Open(dir / "e.db");
  auto r = Store::Open(dir / "e.db");
  ASSERT_TRUE(w.ok() && r.ok());
  ASSERT_TRUE((*w)->Write(Readings(10, At(0)), StoreWhat{}, At(0)).ok());
  EXPECT_EQ(*(*r)->Count("readings"), 10);
}

TEST(Store, UnwritableLocationIsAnError) {
  auto s = Store::Open("/proc/edgeflow-cannot-write/e.db");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("cannot open store"), std::string::npos) << s.status().ToString();
}

TEST(Store, CurrentAlertsAreEachAlertsLatestTransitionWithItsOpening) {
  TempDir dir;
  auto s = std::move(Store::Open(dir / "a.db")).value();
  const auto event = [](const char* rule, const char* sensor, TimeUs opened, TimeUs ts, AlertState state) {
    AlertEvent al;
    al.rule = Intern(rule);
    al.sensor = Intern(sensor);
    al.metric = Intern("temperature");
    al.opened_at = opened;
    al.ts = ts;
    al.state = state;
    return al;
  };
  Batch b;
  b.alerts.push_back(event("hot", "oven", At(1), At(1), AlertState::kOpen));    // 1: opened ...
  b.alerts.push_back(event("hot", "kiln", At(2), At(2), AlertState::kOpen));    // 2: open still
  b.alerts.push_back(event("hot", "oven", At(1), At(3), AlertState::kClear));   // 3: ... 1 cleared
  b.alerts.push_back(event("hot", "oven", At(4), At(4), AlertState::kOpen));    // 4: oven again: another alert
  b.alerts.push_back(event("cold", "oven", At(1), At(5), AlertState::kOpen));   // 5: another rule, same time
  ASSERT_TRUE(s->Write(b, StoreWhat{}, At(10)).ok());
  auto rows = s->Alerts();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 5u);
  auto current = s->CurrentAlerts();
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  std::map<int64_t, std::string> got;  // opening id -> rule, sensor, latest state
  for (const auto& c : *current) got[c.first] = c.latest.rule + " " + c.latest.sensor + " " + c.latest.state;
  const int64_t id0 = (*rows)[0].id;
  EXPECT_EQ(got, (std::map<int64_t, std::string>{{id0, "hot oven clear"},
                                                 {id0 + 1, "hot kiln open"},
                                                 {id0 + 3, "hot oven open"},
                                                 {id0 + 4, "cold oven open"}}));
}

TEST(Store, RetentionKeepsAnAlertUntilItHasBeenClearedForTheRetentionSpan) {
  TempDir dir;
  auto s = std::move(Store::Open(dir / "a.db")).value();
  auto alert = [](const char* rule, TimeUs opened, TimeUs cleared) {
    std::vector<AlertEvent> out;
    AlertEvent al;
    al.rule = Intern(rule);
    al.sensor = Intern("oven");
    al.metric = Intern("temperature");
    al.ts = al.opened_at = opened;
    out.push_back(al);
    if (cleared > 0) {
      al.state = AlertState::kClear;
      al.ts = cleared;
      out.push_back(al);
    }
    return out;
  };
  Batch b;
  for (auto& a : alert("still_open", At(5), 0)) b.alerts.push_back(a);       // open for 95 s
  for (auto& a : alert("cleared_late", At(6), At(95))) b.alerts.push_back(a);  // cleared 5 s ago
  for (auto& a : alert("cleared_early", At(7), At(8))) b.alerts.push_back(a);  // cleared 92 s ago
  // An opening whose clear was lost (the pipeline restarted), superseded by a later opening, itself old.
  for (auto& a : alert("orphan", At(2), 0)) b.alerts.push_back(a);
  for (auto& a : alert("orphan", At(4), 0)) b.alerts.push_back(a);
  for (TimeUs t : {At(9), At(95)}) {  // one-off events (emit: every) never clear: they go by age
    AlertEvent e = alert("every", t, 0)[0];
    e.lasting = false;
    b.alerts.push_back(e);
  }
  ASSERT_TRUE(s->Write(b, StoreWhat{}, At(10)).ok());
  auto rows = s->Alerts();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 9u);
  ASSERT_TRUE(s->Acknowledge((*rows)[0].id, At(11), "api", "on it").ok());
  ASSERT_TRUE(s->Acknowledge((*rows)[3].id, At(11), "api", "").ok());
  // Kept 10 s: only the alert cleared 92 s ago goes, both of its rows with its acknowledgement.
  ASSERT_TRUE(s->EnforceRetention(At(100), 0, SecondsToUs(10), 0).ok());
  rows = s->Alerts();
  ASSERT_TRUE(rows.ok());
  std::vector<std::string> left;
  for (const auto& r : *rows) left.push_back(r.rule + ":" + r.state);
  EXPECT_EQ(left, (std::vector<std::string>{"still_open:open", "cleared_late:open", "cleared_late:clear", "orphan:open",
                                            "every:open"}));
  auto acks = s->Acks();
  ASSERT_TRUE(acks.ok());
  ASSERT_EQ(acks->size(), 1u);
  EXPECT_EQ(acks->begin()->second.note, "on it");
}

}  // namespace
}  // namespace edgeflow

namespace edgeflow {
namespace {

// Regression: two processes creating the same new database at once made the
// second fail with "UNIQUE constraint failed: meta.key".
TEST(Store, ConcurrentFirstOpensAgree) {
  testing::TempDir dir;
  const std::string path = dir / "race.db";
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto s = Store::Open(path);
      if (s.ok()) ++ok;
      else ADD_FAILURE() << s.status().ToString();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
}

// A version-1 store (before the `writes` audit table) is upgraded in place.
TEST(Store, AVersionOneStoreIsUpgradedKeepingItsReadings) {
  TempDir dir;
  const std::string path = dir / "v1.db";
  {
    auto s = std::move(Store::Open(path)).value();
    Batch b;
    b.readings.push_back(R("oven", "temperature", At(0), 20.5));
    ASSERT_TRUE(s->Write(b, StoreWhat{}, At(0)).ok());
    // Make it what edgeflow 0.1 wrote: no writes table, version 1.
    ASSERT_EQ(sqlite3_exec(s->db(),
                           "DROP TABLE writes; DROP TABLE alert_acks; ALTER TABLE alerts DROP COLUMN lasting; "
                           "UPDATE meta SET value='1' WHERE key='schema_version'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*(*s)->Count("readings"), 1) << "data kept";
  ASSERT_TRUE((*s)->Audit(WriteRow{At(1), "plc", "motor", "rule jam open", 0, "verified", ""}).ok());
  auto w = (*s)->Writes();
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 1u);
  EXPECT_EQ((*w)[0].cause, "rule jam open");
  EXPECT_TRUE((*s)->Acks().ok()) << "version 3 table added too";
  // Version 4: one-off alert events are told apart.
  Batch b;
  AlertEvent a;
  a.rule = Intern("every");
  a.sensor = Intern("oven");
  a.metric = Intern("temperature");
  a.lasting = false;
  b.alerts.push_back(a);
  ASSERT_TRUE((*s)->Write(b, StoreWhat{}, At(2)).ok());
  auto alerts = (*s)->Alerts();
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_FALSE((*alerts)[0].lasting);
}

TEST(Store, ForEachReadingVisitsTheRangeAndStopsWhenAsked) {
  TempDir dir;
  auto s = std::move(Store::Open(dir / "a.db")).value();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Write(Readings(100, At(i * 100)), StoreWhat{}, At(0)).ok());
  int seen = 0;
  TimeUs lo = INT64_MAX, hi = INT64_MIN;
  ASSERT_TRUE(s->ForEachReading("s", "m", At(150), At(850), [&](const ReadingRow& r) {
    ++seen;
    lo = std::min(lo, r.ts);
    hi = std::max(hi, r.ts);
    return true;
  }).ok());
  EXPECT_EQ(seen, 700);
  EXPECT_EQ(lo, At(150));
  EXPECT_EQ(hi, At(849));
  // The API's cap: it stops at the first reading beyond what it may answer, whatever the range holds.
  seen = 0;
  ASSERT_TRUE(s->ForEachReading("", "", 0, INT64_MAX, [&](const ReadingRow&) { return ++seen < 42; }).ok());
  EXPECT_EQ(seen, 42);
}

TEST(Store, AlertsAreAcknowledgedOnceByTheirOpeningId) {
  TempDir dir;
  auto s = std::move(Store::Open(dir / "a.db")).value();
  Batch b;
  AlertEvent al;
  al.rule = Intern("hot");
  al.sensor = Intern("oven");
  al.metric = Intern("temperature");
  al.ts = al.opened_at = At(5);
  b.alerts.push_back(al);
  al.state = AlertState::kClear;
  al.ts = At(9);
  b.alerts.push_back(al);
  ASSERT_TRUE(s->Write(b, StoreWhat{}, At(10)).ok());
  auto rows = s->Alerts();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  const int64_t opening = (*rows)[0].id, clearing = (*rows)[1].id;
  EXPECT_EQ(s->Acknowledge(clearing, At(11), "api", "").code(), StatusCode::kNotFound);
  EXPECT_EQ(s->Acknowledge(999, At(11), "api", "").code(), StatusCode::kNotFound);
  ASSERT_TRUE(s->Acknowledge(opening, At(11), "dashboard 127.0.0.1", "belt cleaned").ok());
  EXPECT_EQ(s->Acknowledge(opening, At(12), "api", "").code(), StatusCode::kAlreadyExists);
  auto acks = s->Acks();
  ASSERT_TRUE(acks.ok());
  ASSERT_EQ(acks->size(), 1u);
  EXPECT_EQ(acks->at(opening).acked_at, At(11));
  EXPECT_EQ(acks->at(opening).acked_by, "dashboard 127.0.0.1");
  EXPECT_EQ(acks->at(opening).note, "belt cleaned");
  // Retention takes an alert's acknowledgement with it.
  ASSERT_TRUE(s->EnforceRetention(At(100), 0, SecondsToUs(10), 0).ok());
  EXPECT_EQ(*s->Count("alerts"), 0);
  EXPECT_EQ(*s->Count("alert_acks"), 0);
}

}  // namespace
}  // namespace edgeflow
