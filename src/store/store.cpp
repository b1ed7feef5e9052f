#include "store/store.h"

#include <cmath>

#include "store/block_codec.h"

#include <algorithm>
#include <filesystem>
#include <set>

namespace edgeflow {

namespace {

constexpr int kSchemaVersion = 4;

// Version 2 added `writes`, the audit of every output write (actuators).
const char* kWritesTable = R"sql(
CREATE TABLE IF NOT EXISTS writes(
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  sink TEXT NOT NULL,
  output TEXT NOT NULL,
  cause TEXT NOT NULL,
  value REAL,
  result TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS writes_by_ts ON writes(ts);
)sql";

// Version 4 added `alerts.lasting`: 0 for one-off alert events (rules with
// `emit: every`), which never clear; and an index by alert identity (retention).
const char* kAlertsByKey = "CREATE INDEX IF NOT EXISTS alerts_by_key ON alerts(series, rule, origin, opened_at);\n";
const std::string kAlertsLasting = std::string("ALTER TABLE alerts ADD COLUMN lasting INTEGER NOT NULL DEFAULT 1;\n") + kAlertsByKey;

// Version 3 added `alert_acks`: who acknowledged an alert, and when.
const char* kAcksTable = R"sql(
CREATE TABLE IF NOT EXISTS alert_acks(
  alert INTEGER PRIMARY KEY,
  acked_at INTEGER NOT NULL,
  acked_by TEXT NOT NULL,
  note TEXT NOT NULL);
)sql";

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series(
  id INTEGER PRIMARY KEY,
  sensor TEXT NOT NULL,
  metric TEXT NOT NULL,
  UNIQUE(sensor, metric));
CREATE TABLE IF NOT EXISTS reading_blocks(
  id INTEGER PRIMARY KEY,
  series INTEGER NOT NULL,
  start_ts INTEGER NOT NULL,
  end_ts INTEGER NOT NULL,
  count INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS reading_blocks_by_series_end ON reading_blocks(series, end_ts);
CREATE TABLE IF NOT EXISTS aggregates(
  series INTEGER NOT NULL,
  window TEXT NOT NULL,
  start INTEGER NOT NULL,
  end INTEGER NOT NULL,
  count INTEGER NOT NULL,
  mean REAL, min REAL, max REAL, stddev REAL, p50 REAL, p95 REAL, rate REAL, last REAL);
CREATE INDEX IF NOT EXISTS aggregates_by_series_start ON aggregates(series, start);
CREATE TABLE IF NOT EXISTS alerts(
  id INTEGER PRIMARY KEY,
  rule TEXT NOT NULL,
  series INTEGER NOT NULL,
  origin TEXT NOT NULL,
  state TEXT NOT NULL CHECK(state IN ('open','clear')),
  severity TEXT NOT NULL,
  ts INTEGER NOT NULL,
  opened_at INTEGER NOT NULL,
  value REAL,
  lasting INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS alerts_by_ts ON alerts(ts);
CREATE TABLE IF NOT EXISTS dead_letters(
  id INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  origin TEXT NOT NULL,
  reason TEXT NOT NULL,
  sensor TEXT NOT NULL,
  metric TEXT NOT NULL,
  ts INTEGER,
  value REAL,
  detail TEXT NOT NULL);
)sql";

}  // namespace

Status Store::Err(const char* what) { return db_->Err(what); }
Status Store::Exec(const char* sql) { return db_->Exec(sql); }
Status Store::Prepare(const char* sql, sqlite3_stmt** st) { return db_->Prepare(sql, st); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, Sync sync) {
  std::unique_ptr<Store> s(new Store());
  static const std::string schema = std::string(kSchema) + kWritesTable + kAcksTable + kAlertsByKey;
  static const std::vector<SqliteMigration> migrations = {{2, kWritesTable}, {3, kAcksTable}, {4, kAlertsLasting.c_str()}};
  auto db = SqliteDb::Open(path, sync, "store", schema.c_str(), kSchemaVersion, /*incremental_vacuum=*/true, migrations);
  if (!db.ok()) return db.status();
  s->db_ = std::move(db).value();
  EF_RETURN_IF_ERROR(s->Prepare(
      "INSERT INTO reading_blocks(series, start_ts, end_ts, count, first_seq, last_seq, data) VALUES(?,?,?,?,?,?,?)",
      &s->ins_reading_));
  EF_RETURN_IF_ERROR(s->Prepare(
      "INSERT INTO aggregates(series, window, start, end, count, mean, min, max, stddev, p50, p95, rate, last) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", &s->ins_aggregate_));
  EF_RETURN_IF_ERROR(s->Prepare(
      "INSERT INTO alerts(rule, series, origin, state, severity, ts, opened_at, value, lasting) VALUES(?,?,?,?,?,?,?,?,?)",
      &s->ins_alert_));
  EF_RETURN_IF_ERROR(s->Prepare(
      "INSERT INTO dead_letters(received_at, origin, reason, sensor, metric, ts, value, detail) VALUES(?,?,?,?,?,?,?,?)",
      &s->ins_dead_));
  EF_RETURN_IF_ERROR(s->Prepare("INSERT OR IGNORE INTO series(sensor, metric) VALUES(?,?)", &s->ins_series_));
  EF_RETURN_IF_ERROR(s->Prepare("SELECT id FROM series WHERE sensor=? AND metric=?", &s->get_series_));
  return s;
}

Store::~Store() {
  for (auto* st : {ins_reading_, ins_aggregate_, ins_alert_, ins_dead_, ins_series_, get_series_}) sqlite3_finalize(st);
}

Result<int64_t> Store::SeriesId(Symbol sensor, Symbol metric) {
  uint64_t key = SeriesKey(sensor, metric);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  std::string_view s = SymName(sensor), m = SymName(metric);
  sqlite3_bind_text(ins_series_, 1, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  sqlite3_bind_text(ins_series_, 2, m.data(), static_cast<int>(m.size()), SQLITE_STATIC);
  int rc = sqlite3_step(ins_series_);
  sqlite3_reset(ins_series_);
  if (rc != SQLITE_DONE) return Err("insert series");
  sqlite3_bind_text(get_series_, 1, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  sqlite3_bind_text(get_series_, 2, m.data(), static_cast<int>(m.size()), SQLITE_STATIC);
  rc = sqlite3_step(get_series_);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(get_series_);
    return Err("select series");
  }
  int64_t id = sqlite3_column_int64(get_series_, 0);
  sqlite3_reset(get_series_);
  series_.emplace(key, id);
  return id;
}

Status Store::Write(const Batch& b, const StoreWhat& what, TimeUs received_at) {
  EF_RETURN_IF_ERROR(Exec("BEGIN"));
  auto fail = [&](const char* what_failed) {
    Status st = Err(what_failed);
    (void)Exec("ROLLBACK");
    series_.clear();  // ids inserted in the rolled-back transaction are gone
    return st;
  };
  auto step = [](sqlite3_stmt* st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE;
  };
  if (what.readings && !b.readings.empty()) {
    // One block per series per batch (split at kMaxBlock): a row per reading
    // would cost an index update per reading.
    for (auto& [sid, pts] : pending_) pts.clear();
    for (const Reading& r : b.readings) {
      auto sid = SeriesId(r.sensor, r.metric);
      if (!sid.ok()) return fail("series");
      pending_[*sid].push_back({r.ts, r.value, r.seq, r.quality});
    }
    for (auto& [sid, pts] : pending_) {
      for (size_t from = 0; from < pts.size(); from += kMaxBlock) {
        const size_t n = std::min(kMaxBlock, pts.size() - from);
        const BlockPoint* p = pts.data() + from;
        TimeUs lo = p[0].ts, hi = p[0].ts;
        uint64_t slo = p[0].seq, shi = p[0].seq;
        for (size_t i = 1; i < n; ++i) {
          lo = std::min(lo, p[i].ts);
          hi = std::max(hi, p[i].ts);
          slo = std::min(slo, p[i].seq);
          shi = std::max(shi, p[i].seq);
        }
        block_.clear();
        EncodeBlock(p, n, block_);
        sqlite3_bind_int64(ins_reading_, 1, sid);
        sqlite3_bind_int64(ins_reading_, 2, lo);
        sqlite3_bind_int64(ins_reading_, 3, hi);
        sqlite3_bind_int64(ins_reading_, 4, static_cast<int64_t>(n));
        sqlite3_bind_int64(ins_reading_, 5, static_cast<int64_t>(slo));
        sqlite3_bind_int64(ins_reading_, 6, static_cast<int64_t>(shi));
        sqlite3_bind_blob(ins_reading_, 7, block_.data(), static_cast<int>(block_.size()), SQLITE_STATIC);
        if (!step(ins_reading_)) return fail("insert readings");
      }
    }
  }
  if (what.aggregates) {
    for (const Aggregate& a : b.aggregates) {
      auto sid = SeriesId(a.sensor, a.metric);
      if (!sid.ok()) return fail("series");
      std::string_view w = SymName(a.window);
      sqlite3_bind_int64(ins_aggregate_, 1, *sid);
      sqlite3_bind_text(ins_aggregate_, 2, w.data(), static_cast<int>(w.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins_aggregate_, 3, a.start);
      sqlite3_bind_int64(ins_aggregate_, 4, a.end);
      sqlite3_bind_int64(ins_aggregate_, 5, static_cast<int64_t>(a.field(AggField::kCount)));
      for (int i = 1; i < static_cast<int>(kNumAggFields); ++i) sqlite3_bind_double(ins_aggregate_, 5 + i, a.f[static_cast<size_t>(i)]);
      if (!step(ins_aggregate_)) return fail("insert aggregate");
    }
  }
  if (what.alerts) {
    for (const AlertEvent& a : b.alerts) {
      auto sid = SeriesId(a.sensor, a.metric);
      if (!sid.ok()) return fail("series");
      std::string_view rule = SymName(a.rule), origin = SymName(a.origin);
      sqlite3_bind_text(ins_alert_, 1, rule.data(), static_cast<int>(rule.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins_alert_, 2, *sid);
      sqlite3_bind_text(ins_alert_, 3, origin.data(), static_cast<int>(origin.size()), SQLITE_STATIC);
      sqlite3_bind_text(ins_alert_, 4, a.state == AlertState::kOpen ? "open" : "clear", -1, SQLITE_STATIC);
      sqlite3_bind_text(ins_alert_, 5, SeverityName(a.severity), -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins_alert_, 6, a.ts);
      sqlite3_bind_int64(ins_alert_, 7, a.opened_at);
      sqlite3_bind_double(ins_alert_, 8, a.value);
      sqlite3_bind_int(ins_alert_, 9, a.lasting ? 1 : 0);
      if (!step(ins_alert_)) return fail("insert alert");
    }
  }
  if (what.dead_letters) {
    for (const DeadLetter& d : b.dead_letters) {
      std::string_view origin = SymName(d.origin), s = SymName(d.reading.sensor), m = SymName(d.reading.metric);
      sqlite3_bind_int64(ins_dead_, 1, received_at);
      sqlite3_bind_text(ins_dead_, 2, origin.data(), static_cast<int>(origin.size()), SQLITE_STATIC);
      sqlite3_bind_text(ins_dead_, 3, d.reason, -1, SQLITE_STATIC);
      sqlite3_bind_text(ins_dead_, 4, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
      sqlite3_bind_text(ins_dead_, 5, m.data(), static_cast<int>(m.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins_dead_, 6, d.reading.ts);
      sqlite3_bind_double(ins_dead_, 7, d.reading.value);  // NaN binds as NULL
      sqlite3_bind_text(ins_dead_, 8, d.detail.data(), static_cast<int>(d.detail.size()), SQLITE_STATIC);
      if (!step(ins_dead_)) return fail("insert dead letter");
    }
  }
  if (sqlite3_exec(db_->get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
  return Status::Ok();
}

int64_t Store::SizeBytes() {
  auto pragma = [&](const char* sql) -> int64_t {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_->get(), sql, -1, &st, nullptr) != SQLITE_OK) return 0;
    StmtGuard g{st};
    return sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  };
  return (pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count")) * pragma("PRAGMA page_size");
}

Status Store::EnforceRetention(TimeUs now, TimeUs max_age, TimeUs event_max_age, int64_t max_bytes) {
  auto exec_bound = [&](const char* sql, int64_t v) -> Status {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_->get(), sql, -1, &st, nullptr) != SQLITE_OK) return Err("retention");
    StmtGuard g{st};
    sqlite3_bind_int64(st, 1, v);
    if (sqlite3_step(st) != SQLITE_DONE) return Err("retention");
    return Status::Ok();
  };
  bool deleted = false;
  if (max_age > 0) {
    // Block granularity: a block is deleted once its newest reading is too old.
    EF_RETURN_IF_ERROR(exec_bound("DELETE FROM reading_blocks WHERE end_ts < ?", now - max_age));
    deleted |= sqlite3_changes(db_->get()) > 0;
    EF_RETURN_IF_ERROR(exec_bound("DELETE FROM aggregates WHERE end < ?", now - max_age));
    deleted |= sqlite3_changes(db_->get()) > 0;
  }
  if (event_max_age > 0) {
    // An alert goes once it has been cleared for the retention span, all its
    // transitions together: an alert still open stays, however old its opening.
    // (Every transition of such an alert is older than its clearing: `ts < ?1`
    // lets both halves walk the time index instead of the whole table.) A
    // one-off alert event (never cleared) goes once it is older than the span,
    // and so does an opening that a later opening of the same rule and series,
    // itself older than the span, superseded (its clear was lost with a
    // restart, or a one-off event written before version 4).
    EF_RETURN_IF_ERROR(exec_bound(
        "DELETE FROM alerts WHERE ts < ?1 AND (lasting = 0 OR (rule, series, origin, opened_at) IN ("
        "SELECT rule, series, origin, opened_at FROM alerts WHERE state = 'clear' AND ts < ?1) OR EXISTS ("
        "SELECT 1 FROM alerts b WHERE b.series = alerts.series AND b.rule = alerts.rule AND b.origin = alerts.origin "
        "AND b.opened_at > alerts.opened_at AND b.opened_at < ?1))",
        now - event_max_age));
    if (sqlite3_changes(db_->get()) > 0) {
      deleted = true;
      EF_RETURN_IF_ERROR(Exec("DELETE FROM alert_acks WHERE alert NOT IN (SELECT id FROM alerts)"));
    }
    EF_RETURN_IF_ERROR(exec_bound("DELETE FROM dead_letters WHERE received_at < ?", now - event_max_age));
    deleted |= sqlite3_changes(db_->get()) > 0;
    // The audit of output writes ages like the events (it grew for ever).
    EF_RETURN_IF_ERROR(exec_bound("DELETE FROM writes WHERE ts < ?", now - event_max_age));
    deleted |= sqlite3_changes(db_->get()) > 0;
  }
  if (max_bytes > 0) {
    // Over the limit: the oldest tenth per round, dead letters first (a
    // device sending bad data must not push the good readings out), then
    // reading blocks, aggregates and the write audit together. Alerts stay:
    // they go by age only.
    auto trim = [&](const char* table) -> Result<bool> {
      auto n = Count(table);
      if (!n.ok()) return n.status();
      if (*n == 0) return false;
      const std::string sql = std::string("DELETE FROM ") + table + " WHERE rowid IN (SELECT rowid FROM " + table +
                              " ORDER BY rowid LIMIT ?)";
      EF_RETURN_IF_ERROR(exec_bound(sql.c_str(), std::max<int64_t>(1, *n / 10)));
      return true;
    };
    for (int round = 0; round < 50 && SizeBytes() > max_bytes; ++round) {
      auto any = trim("dead_letters");
      if (!any.ok()) return any.status();
      if (!*any) break;
      deleted = true;
    }
    for (int round = 0; round < 50 && SizeBytes() > max_bytes; ++round) {
      bool any = false;
      for (const char* table : {"reading_blocks", "aggregates", "writes"}) {
        auto r = trim(table);
        if (!r.ok()) return r.status();
        any |= *r;
      }
      if (!any) break;
      deleted = true;
    }
  }
  if (deleted) {
    EF_RETURN_IF_ERROR(Exec("PRAGMA incremental_vacuum"));
    EF_RETURN_IF_ERROR(Checkpoint());
  }
  return Status::Ok();
}

Status Store::Checkpoint() {
  if (sqlite3_wal_checkpoint_v2(db_->get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) != SQLITE_OK)
    return Err("checkpoint");
  return Status::Ok();
}

Result<int64_t> Store::Count(const std::string& table) {
  if (table == "readings") {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_->get(), "SELECT coalesce(sum(count), 0) FROM reading_blocks", -1, &st, nullptr) != SQLITE_OK)
      return Err("count");
    StmtGuard g{st};
    if (sqlite3_step(st) != SQLITE_ROW) return Err("count");
    return sqlite3_column_int64(st, 0);
  }
  static const std::set<std::string> tables{"reading_blocks", "aggregates", "alerts", "dead_letters", "series", "alert_acks", "writes"};
  if (!tables.count(table)) return Status::Invalid("unknown table " + table);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_->get(), ("SELECT count(*) FROM " + table).c_str(), -1, &st, nullptr) != SQLITE_OK) return Err("count");
  StmtGuard g{st};
  if (sqlite3_step(st) != SQLITE_ROW) return Err("count");
  return sqlite3_column_int64(st, 0);
}

Status Store::ForEachReading(const std::string& sensor, const std::string& metric, TimeUs from, TimeUs to,
                             const std::function<bool(const ReadingRow&)>& fn) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_->get(),
                         "SELECT s.sensor, s.metric, b.data FROM reading_blocks b JOIN series s ON s.id = b.series "
                         "WHERE (?1 = '' OR s.sensor = ?1) AND (?2 = '' OR s.metric = ?2) AND b.end_ts >= ?3 AND b.start_ts < ?4 "
                         "ORDER BY b.id",
                         -1, &st, nullptr) != SQLITE_OK)
    return Err("query readings");
  StmtGuard g{st};
  sqlite3_bind_text(st, 1, sensor.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, metric.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, from);
  sqlite3_bind_int64(st, 4, to);
  std::vector<BlockPoint> pts;
  ReadingRow row{};
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    pts.clear();
    const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(st, 2));
    Status d = DecodeBlock(data, static_cast<size_t>(sqlite3_column_bytes(st, 2)), pts);
    if (!d.ok()) return d;
    row.sensor = ColumnText(st, 0);
    row.metric = ColumnText(st, 1);
    for (const auto& p : pts) {
      if (p.ts < from || p.ts >= to) continue;
      row.ts = p.ts;
      row.value = p.value;
      row.quality = static_cast<int>(p.quality);
      row.seq = static_cast<int64_t>(p.seq);
      if (!fn(row)) return Status::Ok();
    }
  }
  if (rc != SQLITE_DONE) return Err("query readings");
  return Status::Ok();
}

Result<std::vector<ReadingRow>> Store::Readings(const std::string& sensor, const std::string& metric, TimeUs from,
                                                TimeUs to, int64_t limit) {
  std::vector<ReadingRow> out;
  EF_RETURN_IF_ERROR(ForEachReading(sensor, metric, from, to, [&](const ReadingRow& r) {
    out.push_back(r);
    return true;
  }));
  std::stable_sort(out.begin(), out.end(), [](const ReadingRow& a, const ReadingRow& b) { return a.ts < b.ts; });
  if (static_cast<int64_t>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
  return out;
}

Result<std::vector<ReadingRow>> Store::Latest() {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_->get(),
                         "SELECT s.sensor, s.metric, b.data FROM series s JOIN reading_blocks b ON b.id = ("
                         "SELECT id FROM reading_blocks WHERE series = s.id ORDER BY end_ts DESC, id DESC LIMIT 1) "
                         "ORDER BY s.sensor, s.metric",
                         -1, &st, nullptr) != SQLITE_OK)
    return Err("query latest");
  StmtGuard g{st};
  std::vector<ReadingRow> out;
  std::vector<BlockPoint> pts;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    pts.clear();
    Status d = DecodeBlock(static_cast<const uint8_t*>(sqlite3_column_blob(st, 2)),
                           static_cast<size_t>(sqlite3_column_bytes(st, 2)), pts);
    if (!d.ok()) return d;
    if (pts.empty()) continue;
    const BlockPoint* best = &pts[0];
    for (const auto& p : pts)
      if (p.ts >= best->ts) best = &p;
    out.push_back({ColumnText(st, 0), ColumnText(st, 1), best->ts, best->value, static_cast<int>(best->quality),
                   static_cast<int64_t>(best->seq)});
  }
  if (rc != SQLITE_DONE) return Err("query latest");
  return out;
}

Status Store::Audit(const WriteRow& w) {
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(Prepare("INSERT INTO writes(ts, sink, output, cause, value, result, detail) VALUES(?,?,?,?,?,?,?)", &st));
  StmtGuard g{st};
  sqlite3_bind_int64(st, 1, w.ts);
  sqlite3_bind_text(st, 2, w.sink.data(), static_cast<int>(w.sink.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 3, w.output.data(), static_cast<int>(w.output.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 4, w.cause.data(), static_cast<int>(w.cause.size()), SQLITE_STATIC);
  if (std::isfinite(w.value)) sqlite3_bind_double(st, 5, w.value);
  else sqlite3_bind_null(st, 5);
  sqlite3_bind_text(st, 6, w.result.data(), static_cast<int>(w.result.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 7, w.detail.data(), static_cast<int>(w.detail.size()), SQLITE_STATIC);
  return sqlite3_step(st) == SQLITE_DONE ? Status::Ok() : Err("audit");
}

Result<std::vector<WriteRow>> Store::Writes(int64_t limit) {
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(Prepare("SELECT ts, sink, output, cause, value, result, detail FROM writes ORDER BY id DESC LIMIT ?", &st));
  StmtGuard g{st};
  sqlite3_bind_int64(st, 1, limit);
  std::vector<WriteRow> out;
  while (sqlite3_step(st) == SQLITE_ROW)
    out.push_back(WriteRow{sqlite3_column_int64(st, 0), ColumnText(st, 1), ColumnText(st, 2), ColumnText(st, 3),
                           sqlite3_column_type(st, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 4),
                           ColumnText(st, 5), ColumnText(st, 6)});
  return out;
}

Result<std::vector<AlertRow>> Store::Alerts(int64_t limit) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_->get(),
                         "SELECT a.id, a.rule, s.sensor, s.metric, a.origin, a.state, a.severity, a.ts, a.opened_at, a.value, a.lasting "
                         "FROM (SELECT * FROM alerts ORDER BY id DESC LIMIT ?) a JOIN series s ON s.id = a.series ORDER BY a.id",
                         -1, &st, nullptr) != SQLITE_OK)
    return Err("query alerts");
  StmtGuard g{st};
  sqlite3_bind_int64(st, 1, limit);
  std::vector<AlertRow> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.push_back({sqlite3_column_int64(st, 0), ColumnText(st, 1), ColumnText(st, 2), ColumnText(st, 3), ColumnText(st, 4), ColumnText(st, 5),
                   ColumnText(st, 6), sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8), sqlite3_column_double(st, 9),
                   sqlite3_column_int(st, 10) != 0});
  }
  return out;
}

Result<std::vector<Store::CurrentAlert>> Store::CurrentAlerts() {
  // Grouped along alerts_by_key: one pass over the index, no sort.
  sqlite3_stmt* st = nullptr;
  EF_RETURN_IF_ERROR(Prepare(
      "WITH g AS (SELECT min(id) AS first, max(id) AS last FROM alerts GROUP BY series, rule, origin, opened_at) "
      "SELECT a.id, a.rule, s.sensor, s.metric, a.origin, a.state, a.severity, a.ts, a.opened_at, a.value, a.lasting, g.first "
      "FROM g JOIN alerts a ON a.id = g.last JOIN series s ON s.id = a.series",
      &st));
  StmtGuard g{st};
  std::vector<CurrentAlert> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    out.push_back({{sqlite3_column_int64(st, 0), ColumnText(st, 1), ColumnText(st, 2), ColumnText(st, 3), ColumnText(st, 4),
                    ColumnText(st, 5), ColumnText(st, 6), sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8),
                    sqlite3_column_double(st, 9), sqlite3_column_int(st, 10) != 0},
                   sqlite3_column_int64(st, 11)});
  }
  if (rc != SQLITE_DONE) return Err("read current alerts");
  return out;
}

Status Store::Acknowledge(int64_t alert, TimeUs at, const std::string& by, const std::string& note) {
  sqlite3_stmt* st = nullptr;
  EF_RETURN_IF_ERROR(Prepare("SELECT state FROM alerts WHERE id = ?", &st));
  {
    StmtGuard g{st};
    sqlite3_bind_int64(st, 1, alert);
    if (sqlite3_step(st) != SQLITE_ROW || ColumnText(st, 0) != "open")
      return Status::NotFound("no alert " + std::to_string(alert) + " (give the id of its opening)");
  }
  EF_RETURN_IF_ERROR(Prepare("INSERT OR IGNORE INTO alert_acks(alert, acked_at, acked_by, note) VALUES(?,?,?,?)", &st));
  StmtGuard g{st};
  sqlite3_bind_int64(st, 1, alert);
  sqlite3_bind_int64(st, 2, at);
  sqlite3_bind_text(st, 3, by.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, note.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) return Err("acknowledge alert");
  if (sqlite3_changes(db_->get()) == 0) return Status::AlreadyExists("alert " + std::to_string(alert) + " is already acknowledged");
  return Status::Ok();
}

Result<std::map<int64_t, AckRow>> Store::Acks() {
  sqlite3_stmt* st = nullptr;
  EF_RETURN_IF_ERROR(Prepare("SELECT alert, acked_at, acked_by, note FROM alert_acks", &st));
  StmtGuard g{st};
  std::map<int64_t, AckRow> out;
  while (sqlite3_step(st) == SQLITE_ROW)
    out[sqlite3_column_int64(st, 0)] = AckRow{sqlite3_column_int64(st, 1), ColumnText(st, 2), ColumnText(st, 3)};
  return out;
}

Result<std::vector<DeadLetterRow>> Store::DeadLetters(int64_t limit) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_->get(),
                         "SELECT origin, reason, sensor, metric, detail, ts, received_at, value FROM dead_letters ORDER BY id LIMIT ?",
                         -1, &st, nullptr) != SQLITE_OK)
    return Err("query dead letters");
  StmtGuard g{st};
  sqlite3_bind_int64(st, 1, limit);
  std::vector<DeadLetterRow> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.push_back({ColumnText(st, 0), ColumnText(st, 1), ColumnText(st, 2), ColumnText(st, 3), ColumnText(st, 4), sqlite3_column_int64(st, 5),
                   sqlite3_column_int64(st, 6), sqlite3_column_double(st, 7)});
  }
  return out;
}

}  // namespace edgeflow
