#pragma once
// The SQLite plumbing shared by the store and the outbox: opening a database
// in WAL mode at a declared sync level, running statements, creating a schema
// with its version in one write transaction, and mapping SQLite errors to
// Status codes (busy, locked, I/O and full disks are retryable).
#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace edgeflow {

// What a commit survives (docs/store.md, docs/outbox.md):
//   kOff    nothing beyond the OS's goodwill (tests and benchmarks only)
//   kNormal a crash of the process (kill -9): WAL frames are in the OS cache;
//           a power loss may drop the last commits, never corrupt the file
//   kFull   a power loss: every commit is fsynced before it returns
enum class SqliteSync { kOff, kNormal, kFull };

// One step of a schema upgrade: the SQL that turns version to_version - 1
// into to_version.
struct SqliteMigration {
  int to_version;
  const char* sql;
};

class SqliteDb {
 public:
  // Opens (creating directories and the file) with WAL, the sync level and a
  // busy timeout. In one write transaction: a new file gets `schema` and
  // `version`; an older file is upgraded by `migrations` in order (all or
  // nothing); a newer file is refused, unchanged, with both versions named.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, SqliteSync sync, const char* what,
                                                const char* schema, int version, bool incremental_vacuum = false,
                                                const std::vector<SqliteMigration>& migrations = {});
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* get() { return db_; }
  const std::string& path() const { return path_; }
  Status Exec(const char* sql);
  // Runs `fn` inside BEGIN IMMEDIATE .. COMMIT; rolls back when it or the commit fails.
  Status Transaction(const std::function<Status()>& fn);
  Status Prepare(const char* sql, sqlite3_stmt** st);
  // The last error as a Status, retryable where a retry can succeed.
  Status Err(const char* what);
  // The version an older file had before Open upgraded it; 0 if none was needed.
  int migrated_from() const { return migrated_from_; }

 private:
  SqliteDb() = default;
  Status ReadVersion(int* version);
  int migrated_from_ = 0;
  sqlite3* db_ = nullptr;
  std::string path_;
};

struct StmtGuard {
  sqlite3_stmt* st;
  ~StmtGuard() { sqlite3_finalize(st); }
};

// Resets a reusable statement when it goes out of scope.
struct StmtReset {
  sqlite3_stmt* st;
  ~StmtReset() {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
};

std::string ColumnText(sqlite3_stmt* st, int col);

}  // namespace edgeflow
