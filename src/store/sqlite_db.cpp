#include "store/sqlite_db.h"

#include <chrono>
#include <filesystem>
#include <thread>

namespace edgeflow {

std::string ColumnText(sqlite3_stmt* st, int col) {
  const unsigned char* t = sqlite3_column_text(st, col);
  return t ? reinterpret_cast<const char*>(t) : "";
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, SqliteSync sync, const char* what,
                                                 const char* schema, int version, bool incremental_vacuum,
                                                 const std::vector<SqliteMigration>& migrations) {
  std::unique_ptr<SqliteDb> s(new SqliteDb());
  s->path_ = path;
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string m = s->db_ ? sqlite3_errmsg(s->db_) : "out of memory";
    return Status::Io(std::string("cannot open ") + what + " " + path + ": " + m);
  }
  sqlite3_busy_timeout(s->db_, 5000);
  // auto_vacuum must be chosen before the first table exists.
  if (incremental_vacuum) EF_RETURN_IF_ERROR(s->Exec("PRAGMA auto_vacuum=INCREMENTAL"));
  // Switching a new file to WAL takes an exclusive lock, and SQLite reports a
  // collision with another process opening the same new file as "database is
  // locked" at once, without its busy handler: retry for as long as that would wait.
  for (int waited_ms = 0;; waited_ms += 10) {
    Status wal = s->Exec("PRAGMA journal_mode=WAL");
    if (wal.ok()) break;
    const int code = sqlite3_errcode(s->db_) & 0xff;
    if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || waited_ms >= 5000) return wal;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const char* sync_sql = sync == SqliteSync::kOff    ? "PRAGMA synchronous=OFF"
                         : sync == SqliteSync::kFull ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL";
  EF_RETURN_IF_ERROR(s->Exec(sync_sql));
  EF_RETURN_IF_ERROR(s->Exec("PRAGMA cache_size=-8192"));  // 8 MiB page cache
  // A file already at this version (every open but the first: the API opens the
  // store per request) is only read: it does not wait for the write lock that
  // the sink's batches and retention hold.
  if (int current = 0; s->ReadVersion(&current).ok() && current == version) return s;
  // Several processes may open a new database at once (the daemon, the API, a
  // test): create or upgrade the schema and its version in one write transaction.
  EF_RETURN_IF_ERROR(s->Exec("BEGIN IMMEDIATE"));
  int found = 0;  // 0: a new file
  Status st = s->ReadVersion(&found);
  const std::string name = std::string(what) + " " + path;
  if (st.ok() && found > version) {
    st = Status::FailedPrecondition(name + " has schema version " + std::to_string(found) +
                                    ", newer than this edgeflow reads (" + std::to_string(version) +
                                    "): upgrade edgeflow, or restore the data directory's backup; nothing was changed");
  } else if (st.ok() && found == 0) {
    st = s->Exec(schema);
    if (st.ok()) {
      const std::string v = "INSERT INTO meta(key, value) VALUES('schema_version', '" + std::to_string(version) + "')";
      st = s->Exec(v.c_str());
    }
  } else if (st.ok() && found < version) {
    const int original = found;
    for (const auto& m : migrations) {
      if (!st.ok() || m.to_version <= found || m.to_version > version) continue;
      if (m.to_version != found + 1) {
        st = Status::Internal(name + ": no migration from version " + std::to_string(found));
        break;
      }
      st = s->Exec(m.sql);
      if (st.ok()) found = m.to_version;
    }
    if (st.ok() && found != version)
      st = Status::FailedPrecondition(name + " has schema version " + std::to_string(found) +
                                      " and this edgeflow cannot upgrade it to " + std::to_string(version));
    if (st.ok()) {
      const std::string v = "UPDATE meta SET value='" + std::to_string(version) + "' WHERE key='schema_version'";
      st = s->Exec(v.c_str());
    }
    if (st.ok()) s->migrated_from_ = original;
  }
  if (!st.ok()) {
    (void)s->Exec("ROLLBACK");
    return st;
  }
  EF_RETURN_IF_ERROR(s->Exec("COMMIT"));
  return s;
}

// The file's schema version; 0 when it has none yet (a new file).
Status SqliteDb::ReadVersion(int* version) {
  *version = 0;
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(Prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'", &st));
  {
    StmtGuard g{st};
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) == 0) return Status::Ok();
  }
  EF_RETURN_IF_ERROR(Prepare("SELECT value FROM meta WHERE key='schema_version'", &st));
  StmtGuard g{st};
  if (sqlite3_step(st) != SQLITE_ROW) return Status::Internal(path_ + " has a meta table without a schema version");
  const std::string v = ColumnText(st, 0);
  try {
    *version = std::stoi(v);
  } catch (...) {
    return Status::Internal(path_ + " has schema version '" + v + "'");
  }
  return Status::Ok();
}

SqliteDb::~SqliteDb() {
  if (db_) sqlite3_close_v2(db_);
}

Status SqliteDb::Err(const char* what) {
  int code = sqlite3_errcode(db_);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db_);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR || code == SQLITE_FULL)
    return Status(code == SQLITE_FULL ? StatusCode::kResourceExhausted : StatusCode::kUnavailable, msg);
  return Status(StatusCode::kIoError, msg);
}

Status SqliteDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Io(std::string("sqlite: ") + m);
  }
  return Status::Ok();
}

Status SqliteDb::Transaction(const std::function<Status()>& fn) {
  EF_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status st = fn();
  if (st.ok()) st = Exec("COMMIT");
  if (!st.ok()) (void)Exec("ROLLBACK");
  return st;
}

Status SqliteDb::Prepare(const char* sql, sqlite3_stmt** st) {
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr) != SQLITE_OK) return Err("prepare");
  return Status::Ok();
}

}  // namespace edgeflow
