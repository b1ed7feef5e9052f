#include "store/outbox.h"

#include <gtest/gtest.h>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::kT0;
using testing::TempDir;

OutboxMessage Msg(Outbox& o, int64_t stream, TimeUs created, const std::string& body, int64_t events = 1) {
  OutboxMessage m;
  m.stream = stream;
  m.seq = o.NextSeq(stream);
  m.created = created;
  m.events = events;
  m.topic = "t/" + std::to_string(stream);
  m.payload = body;
  return m;
}

std::vector<int64_t> Seqs(Outbox& o, int64_t stream) {
  std::vector<OutboxMessage> out;
  EXPECT_TRUE(o.Next(stream, 0, 1000, &out).ok());
  std::vector<int64_t> seqs;
  for (const auto& m : out) seqs.push_back(m.seq);
  return seqs;
}

TEST(Outbox, AppendsInOrderRemovesAcknowledgedAndNeverReusesSequenceNumbers) {
  TempDir dir;
  OutboxOptions opts{dir / "outbox.db"};
  {
    auto o = Outbox::Open(opts);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    auto& ob = **o;
    auto raw = ob.Stream("readings", 2).value();
    auto alerts = ob.Stream("alerts", 0).value();
    ASSERT_TRUE(ob.Append({Msg(ob, raw.id, kT0, "r1", 10), Msg(ob, raw.id, kT0, "r2", 10), Msg(ob, alerts.id, kT0, "a1")}).ok());
    EXPECT_EQ(ob.Streams().front().name, "alerts") << "drain order is by priority";
    std::vector<OutboxMessage> next;
    ASSERT_TRUE(ob.Next(raw.id, 1, 10, &next).ok());
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].seq, 2);
    EXPECT_EQ(next[0].payload, "r2");
    EXPECT_EQ(next[0].events, 10);
    auto s = ob.stats();
    EXPECT_EQ(s.messages, 3);
    EXPECT_EQ(s.events, 21);
    EXPECT_EQ(s.oldest, kT0);
    ASSERT_TRUE(ob.Remove({{raw.id, 1}, {raw.id, 2}, {raw.id, 99}}).ok());
    EXPECT_EQ(ob.stats().messages, 1);
    EXPECT_TRUE(Seqs(ob, raw.id).empty());
  }
  // Reopened (as after a crash): the sequence continues, the alert is still there.
  auto o = Outbox::Open(opts);
  ASSERT_TRUE(o.ok());
  auto& ob = **o;
  auto raw = ob.Stream("readings", 2).value();
  EXPECT_EQ(ob.NextSeq(raw.id), 3);
  EXPECT_EQ(ob.stats().messages, 1);
  EXPECT_EQ(Seqs(ob, ob.Stream("alerts", 0).value().id), std::vector<int64_t>{1});
}

TEST(Outbox, ByteCapEvictsTheLowestPriorityOldestFirstAndCountsIt) {
  TempDir dir;
  OutboxOptions opts{dir / "outbox.db"};
  opts.max_bytes = 10 * 103;  // ten messages of 100 payload + 3 topic bytes
  auto o = Outbox::Open(opts);
  ASSERT_TRUE(o.ok());
  auto& ob = **o;
  auto alerts = ob.Stream("alerts", 0).value();
  auto raw = ob.Stream("readings", 2).value();
  std::vector<OutboxMessage> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(Msg(ob, alerts.id, kT0 + i, std::string(100, 'a')));
  for (int i = 0; i < 10; ++i) batch.push_back(Msg(ob, raw.id, kT0 + i, std::string(100, 'r'), 5));
  ASSERT_TRUE(ob.Append(batch).ok());
  auto evicted = ob.Enforce(kT0 + 100);
  ASSERT_TRUE(evicted.ok());
  EXPECT_EQ(*evicted, 4);
  EXPECT_EQ(Seqs(ob, alerts.id).size(), 4u) << "alerts are evicted last";
  EXPECT_EQ(Seqs(ob, raw.id), (std::vector<int64_t>{5, 6, 7, 8, 9, 10})) << "the oldest readings went first";
  auto s = ob.stats();
  EXPECT_EQ(s.bytes, 10 * 103);
  EXPECT_EQ(s.evicted_messages, 4u);
  EXPECT_EQ(s.evicted_events, 20u);
  EXPECT_EQ(ob.EvictedMessages(raw.id), 4);
  EXPECT_EQ(ob.EvictedMessages(alerts.id), 0);
}

TEST(Outbox, AgeLimitEvictsOldMessagesOfEveryStream) {
  TempDir dir;
  OutboxOptions opts{dir / "outbox.db"};
  opts.max_age = 60 * kUsPerSec;
  auto o = Outbox::Open(opts);
  ASSERT_TRUE(o.ok());
  auto& ob = **o;
  auto alerts = ob.Stream("alerts", 0).value();
  auto raw = ob.Stream("readings", 2).value();
  ASSERT_TRUE(ob.Append({Msg(ob, alerts.id, kT0, "old"), Msg(ob, alerts.id, kT0 + 90 * kUsPerSec, "new"),
                         Msg(ob, raw.id, kT0 + 10 * kUsPerSec, "old")}).ok());
  EXPECT_EQ(*ob.Enforce(kT0 + 100 * kUsPerSec), 2);
  EXPECT_EQ(Seqs(ob, alerts.id), std::vector<int64_t>{2});
  EXPECT_TRUE(Seqs(ob, raw.id).empty());
  EXPECT_EQ(ob.stats().oldest, kT0 + 90 * kUsPerSec);
}

TEST(Outbox, RefusesAFileOfAnotherFormatVersion) {
  TempDir dir;
  OutboxOptions opts{dir / "outbox.db"};
  {
    auto o = Outbox::Open(opts);
    ASSERT_TRUE(o.ok());
  }
  {
    auto db = SqliteDb::Open(opts.path, SqliteSync::kNormal, "outbox", "SELECT 1", 1);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("UPDATE meta SET value='2' WHERE key='schema_version'").ok());
  }
  auto o = Outbox::Open(opts);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("has schema version 2, newer than this edgeflow reads (1)"), std::string::npos)
      << o.status().ToString();
}

}  // namespace
}  // namespace edgeflow
