#pragma once
// The durable outbox: everything bound for the cloud is written here first and
// removed only after the broker acknowledged it (MQTT PUBACK).
//
// Format (SQLite, WAL; docs/outbox.md): a `streams` table (name, priority,
// next sequence number, eviction counters) and a `messages` table keyed by
// (stream, seq) holding the encoded payload and its topic. Sequence numbers
// are per stream, strictly increasing, never reused (next_seq is persisted
// with the messages), so a receiver can drop duplicates by (node, stream, seq)
// and can tell an eviction gap from a loss (eviction counters).
//
// Bounds: by bytes and by age. Over the byte cap, the oldest messages of the
// lowest-priority stream go first (raw readings before aggregates before
// alerts); past the age limit, messages go whatever their priority. Every
// eviction is counted per stream.
//
// Thread safety: all methods lock one mutex; the sink thread appends while
// the uplink thread reads and removes.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/sqlite_db.h"

namespace edgeflow {

struct OutboxOptions {
  std::string path;
  int64_t max_bytes = 256ll << 20;  // payload + topic bytes
  TimeUs max_age = 7ll * 24 * 3600 * kUsPerSec;  // 0: no age limit
  SqliteSync sync = SqliteSync::kNormal;
};

struct OutboxMessage {
  int64_t stream = 0;
  int64_t seq = 0;
  TimeUs created = 0;
  int64_t events = 0;
  std::string topic;
  std::string payload;
  int64_t bytes() const { return static_cast<int64_t>(topic.size() + payload.size()); }
};

struct OutboxStream {
  int64_t id = 0;
  std::string name;
  int priority = 0;  // 0 drains first
};

struct OutboxStats {
  int64_t messages = 0, events = 0, bytes = 0;
  TimeUs oldest = 0;  // created time of the oldest message; 0 when empty
  uint64_t appended_messages = 0, removed_messages = 0;
  uint64_t evicted_messages = 0, evicted_events = 0;  // since open
};

class Outbox {
 public:
  static constexpr int kFormatVersion = 1;
  static Result<std::unique_ptr<Outbox>> Open(const OutboxOptions& opts);
  ~Outbox();

  // The stream's id, created on first use with its priority.
  Result<OutboxStream> Stream(const std::string& name, int priority);
  // Streams in drain order (priority, then id).
  std::vector<OutboxStream> Streams();

  // Reserves the next sequence number of a stream (for the payload header).
  int64_t NextSeq(int64_t stream);
  // Appends messages (with reserved sequence numbers) in one transaction. On
  // failure nothing is stored and the reservations are given back.
  Status Append(const std::vector<OutboxMessage>& msgs);
  // Up to `max` messages of `stream` with seq > after, oldest first.
  Status Next(int64_t stream, int64_t after, size_t max, std::vector<OutboxMessage>* out);
  // Removes acknowledged messages (absent ones are ignored) in one transaction.
  Status Remove(const std::vector<std::pair<int64_t, int64_t>>& keys);
  // Applies the age and byte limits; returns the messages evicted.
  Result<int64_t> Enforce(TimeUs now);

  OutboxStats stats();
  // Evictions recorded in the file for a stream (they survive restarts).
  int64_t EvictedMessages(int64_t stream);
  const std::string& path() const { return db_->path(); }

 private:
  Outbox() = default;
  Status EvictOldest(int64_t stream, const std::function<bool(const OutboxMessage&)>& more, int64_t* evicted);
  std::mutex mu_;
  OutboxOptions opts_;
  std::unique_ptr<SqliteDb> db_;
  sqlite3_stmt *ins_ = nullptr, *bump_seq_ = nullptr, *next_ = nullptr, *del_ = nullptr, *oldest_ = nullptr;
  std::vector<OutboxStream> streams_;
  std::vector<int64_t> next_seq_;  // by stream id
  OutboxStats stats_;
};

}  // namespace edgeflow
