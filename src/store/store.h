#pragma once
// The local store: one SQLite database in WAL mode holding raw readings,
// window aggregates, the alert log and dead letters. Schema in docs/store.md.
//
// Thread safety: a Store is used by one thread at a time (the sqlite sink's
// thread, or a reader with its own Store on the same file: WAL lets readers
// run beside the writer).
#include <sqlite3.h>

#include <map>
#include <memory>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/reading.h"
#include "core/status.h"
#include "store/block_codec.h"
#include "store/sqlite_db.h"

namespace edgeflow {

using StoreWhat = EventMask;

struct ReadingRow {
  std::string sensor, metric;
  TimeUs ts;
  double value;
  int quality;
  int64_t seq;
};
struct AlertRow {
  int64_t id;
  std::string rule, sensor, metric, origin, state, severity;
  TimeUs ts, opened_at;
  double value;
  bool lasting = true;  // false: a one-off alert event (`emit: every`), never cleared
};
struct AckRow {
  TimeUs acked_at = 0;
  std::string acked_by, note;
};
struct DeadLetterRow {
  std::string origin, reason, sensor, metric, detail;
  TimeUs ts, received_at;
  double value;
};

// One write to an output (an actuator), as audited in the `writes` table.
struct WriteRow {
  TimeUs ts = 0;
  std::string sink;    // the writing component
  std::string output;  // the output's name
  std::string cause;   // what asked for it: "rule <id> open", "safe state: shutdown", ...
  double value = 0;
  std::string result;  // "ok", "verified", "refused", "failed"
  std::string detail;
};

class Store {
 public:
  using Sync = SqliteSync;
  static Result<std::unique_ptr<Store>> Open(const std::string& path, Sync sync = Sync::kNormal);
  ~Store();

  // Writes everything in the batch selected by `what` in one transaction.
  Status Write(const Batch& b, const StoreWhat& what, TimeUs received_at);
  // Deletes readings/aggregates older than `max_age` and alerts/dead letters
  // older than `event_max_age` (0: keep), then the oldest readings and
  // aggregates until the database is under `max_bytes` (0: no limit).
  Status EnforceRetention(TimeUs now, TimeUs max_age, TimeUs event_max_age, int64_t max_bytes);
  Status Checkpoint();

  // Bytes in use (pages not on the free list).
  int64_t SizeBytes();
  // Rows of a table; "readings" counts the readings inside the reading blocks.
  Result<int64_t> Count(const std::string& table);
  Result<std::vector<ReadingRow>> Readings(const std::string& sensor, const std::string& metric, TimeUs from, TimeUs to,
                                           int64_t limit = 1000000);
  // The readings in [from, to) one at a time, block by block (not in time
  // order across blocks), without holding them: `fn` returns false to stop.
  Status ForEachReading(const std::string& sensor, const std::string& metric, TimeUs from, TimeUs to,
                        const std::function<bool(const ReadingRow&)>& fn);
  // The newest reading of every series.
  Result<std::vector<ReadingRow>> Latest();
  // The newest `limit` transitions of the alert log, oldest first.
  Result<std::vector<AlertRow>> Alerts(int64_t limit = 1000);
  // Every alert as it stands: its latest transition, with the id of its
  // opening (`first`). An alert is the transitions of one rule, stage,
  // series and opening time.
  struct CurrentAlert {
    AlertRow latest;
    int64_t first;
  };
  Result<std::vector<CurrentAlert>> CurrentAlerts();
  // Acknowledges the alert whose opening transition has id `alert`.
  // NotFound when there is no such opening; AlreadyExists when acknowledged.
  Status Acknowledge(int64_t alert, TimeUs at, const std::string& by, const std::string& note);
  Result<std::map<int64_t, AckRow>> Acks();  // by alert id
  Result<std::vector<DeadLetterRow>> DeadLetters(int64_t limit = 1000);
  // Output writes (newest first) and their audit.
  Status Audit(const WriteRow& w);
  Result<std::vector<WriteRow>> Writes(int64_t limit = 1000);

  sqlite3* db() { return db_->get(); }

 private:
  Store() = default;
  Status Exec(const char* sql);
  Result<int64_t> SeriesId(Symbol sensor, Symbol metric);
  Status Prepare(const char* sql, sqlite3_stmt** st);
  Status Err(const char* what);

  std::unique_ptr<SqliteDb> db_;
  sqlite3_stmt* ins_reading_ = nullptr;
  sqlite3_stmt* ins_aggregate_ = nullptr;
  sqlite3_stmt* ins_alert_ = nullptr;
  sqlite3_stmt* ins_dead_ = nullptr;
  sqlite3_stmt* ins_series_ = nullptr;
  sqlite3_stmt* get_series_ = nullptr;
  std::unordered_map<uint64_t, int64_t> series_;
  static constexpr size_t kMaxBlock = 4096;
  std::unordered_map<int64_t, std::vector<BlockPoint>> pending_;  // readings of the batch by series id
  std::string block_;
};

}  // namespace edgeflow
