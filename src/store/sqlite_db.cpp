#include "store/sqlite_db.h"

#include <filesystem>

namespace edgeflow {

std::string ColumnText(sqlite3_stmt* st, int col) {
  const unsigned char* t = sqlite3_column_text(st, col);
  return t ? reinterpret_cast<const char*>(t) : "";
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, SqliteSync sync, const char* what,
                                                 const char* schema, int version, bool incremental_vacuum) {
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
  EF_RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL"));
  const char* sync_sql = sync == SqliteSync::kOff    ? "PRAGMA synchronous=OFF"
                         : sync == SqliteSync::kFull ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL";
  EF_RETURN_IF_ERROR(s->Exec(sync_sql));
  EF_RETURN_IF_ERROR(s->Exec("PRAGMA cache_size=-8192"));  // 8 MiB page cache
  // Several processes may open a new database at once (the daemon, the API, a
  // test): create the schema and its version in one write transaction.
  EF_RETURN_IF_ERROR(s->Exec("BEGIN IMMEDIATE"));
  Status created = s->Exec(schema);
  if (created.ok()) {
    const std::string v = "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '" + std::to_string(version) + "')";
    created = s->Exec(v.c_str());
  }
  if (!created.ok()) {
    (void)s->Exec("ROLLBACK");
    return created;
  }
  EF_RETURN_IF_ERROR(s->Exec("COMMIT"));
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(s->Prepare("SELECT value FROM meta WHERE key='schema_version'", &st));
  StmtGuard g{st};
  if (sqlite3_step(st) != SQLITE_ROW) return Status::Internal(std::string(what) + " " + path + " has no schema version");
  const std::string v = ColumnText(st, 0);
  if (v != std::to_string(version))
    return Status::FailedPrecondition(std::string(what) + " " + path + " has schema version " + v + ", this edgeflow reads " +
                                      std::to_string(version));
  return s;
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

Status SqliteDb::Prepare(const char* sql, sqlite3_stmt** st) {
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr) != SQLITE_OK) return Err("prepare");
  return Status::Ok();
}

}  // namespace edgeflow
