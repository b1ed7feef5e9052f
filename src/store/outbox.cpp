#include "store/outbox.h"

#include <algorithm>
#include <functional>

namespace edgeflow {

namespace {

const char* kOutboxSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  priority INTEGER NOT NULL,
  next_seq INTEGER NOT NULL DEFAULT 1,
  evicted_messages INTEGER NOT NULL DEFAULT 0,
  evicted_events INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages(
  stream INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  created_us INTEGER NOT NULL,
  events INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY(stream, seq)) WITHOUT ROWID;
)sql";

}  // namespace

Result<std::unique_ptr<Outbox>> Outbox::Open(const OutboxOptions& opts) {
  std::unique_ptr<Outbox> o(new Outbox());
  o->opts_ = opts;
  auto db = SqliteDb::Open(opts.path, opts.sync, "outbox", kOutboxSchema, kFormatVersion);
  if (!db.ok()) return db.status();
  o->db_ = std::move(db).value();
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(o->db_->Prepare("SELECT id, name, priority, next_seq FROM streams ORDER BY priority, id", &st));
  {
    StmtGuard g{st};
    while (sqlite3_step(st) == SQLITE_ROW) {
      OutboxStream s{sqlite3_column_int64(st, 0), ColumnText(st, 1), sqlite3_column_int(st, 2)};
      if (o->next_seq_.size() <= static_cast<size_t>(s.id)) o->next_seq_.resize(s.id + 1, 1);
      o->next_seq_[s.id] = sqlite3_column_int64(st, 3);
      o->streams_.push_back(std::move(s));
    }
  }
  EF_RETURN_IF_ERROR(o->db_->Prepare("SELECT count(*), coalesce(sum(events), 0), coalesce(sum(bytes), 0) FROM messages", &st));
  StmtGuard g{st};
  if (sqlite3_step(st) != SQLITE_ROW) return o->db_->Err("outbox totals");
  o->stats_.messages = sqlite3_column_int64(st, 0);
  o->stats_.events = sqlite3_column_int64(st, 1);
  o->stats_.bytes = sqlite3_column_int64(st, 2);
  // The statements of the drain loop and the write path, prepared once.
  EF_RETURN_IF_ERROR(o->db_->Prepare(
      "INSERT INTO messages(stream, seq, created_us, events, bytes, topic, payload) VALUES(?,?,?,?,?,?,?)", &o->ins_));
  EF_RETURN_IF_ERROR(o->db_->Prepare("UPDATE streams SET next_seq = max(next_seq, ?) WHERE id = ?", &o->bump_seq_));
  EF_RETURN_IF_ERROR(o->db_->Prepare(
      "SELECT seq, created_us, events, topic, payload FROM messages WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
      &o->next_));
  EF_RETURN_IF_ERROR(
      o->db_->Prepare("DELETE FROM messages WHERE stream = ? AND seq = ? RETURNING events, bytes", &o->del_));
  EF_RETURN_IF_ERROR(
      o->db_->Prepare("SELECT created_us FROM messages WHERE stream = ? ORDER BY seq LIMIT 1", &o->oldest_));
  return o;
}

Outbox::~Outbox() {
  for (auto* st : {ins_, bump_seq_, next_, del_, oldest_}) sqlite3_finalize(st);
}

Result<OutboxStream> Outbox::Stream(const std::string& name, int priority) {
  std::lock_guard lock(mu_);
  for (const auto& s : streams_)
    if (s.name == name) return s;
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(db_->Prepare("INSERT INTO streams(name, priority) VALUES(?, ?)", &st));
  StmtGuard g{st};
  sqlite3_bind_text(st, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 2, priority);
  if (sqlite3_step(st) != SQLITE_DONE) return db_->Err("outbox stream");
  OutboxStream s{sqlite3_last_insert_rowid(db_->get()), name, priority};
  if (next_seq_.size() <= static_cast<size_t>(s.id)) next_seq_.resize(s.id + 1, 1);
  next_seq_[s.id] = 1;
  streams_.push_back(s);
  std::stable_sort(streams_.begin(), streams_.end(),
                   [](const OutboxStream& a, const OutboxStream& b) { return a.priority < b.priority; });
  return s;
}

std::vector<OutboxStream> Outbox::Streams() {
  std::lock_guard lock(mu_);
  return streams_;
}

int64_t Outbox::NextSeq(int64_t stream) {
  std::lock_guard lock(mu_);
  return next_seq_.at(stream)++;
}

Status Outbox::Append(const std::vector<OutboxMessage>& msgs) {
  if (msgs.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  sqlite3_stmt *ins = ins_, *seq = bump_seq_;
  StmtReset r1{ins}, r2{seq};
  int64_t events = 0, bytes = 0;
  Status st = db_->Transaction([&]() -> Status {
    for (const auto& m : msgs) {
      sqlite3_bind_int64(ins, 1, m.stream);
      sqlite3_bind_int64(ins, 2, m.seq);
      sqlite3_bind_int64(ins, 3, m.created);
      sqlite3_bind_int64(ins, 4, m.events);
      sqlite3_bind_int64(ins, 5, m.bytes());
      sqlite3_bind_text(ins, 6, m.topic.data(), static_cast<int>(m.topic.size()), SQLITE_STATIC);
      sqlite3_bind_blob(ins, 7, m.payload.data(), static_cast<int>(m.payload.size()), SQLITE_STATIC);
      const int rc = sqlite3_step(ins);
      sqlite3_reset(ins);
      if (rc != SQLITE_DONE) return db_->Err("outbox append");
      sqlite3_bind_int64(seq, 1, m.seq + 1);
      sqlite3_bind_int64(seq, 2, m.stream);
      const int rc2 = sqlite3_step(seq);
      sqlite3_reset(seq);
      if (rc2 != SQLITE_DONE) return db_->Err("outbox sequence");
      events += m.events;
      bytes += m.bytes();
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    // Give the reservations back so the stream has no gap.
    for (const auto& m : msgs) next_seq_.at(m.stream) = std::min(next_seq_.at(m.stream), m.seq);
    return st;
  }
  stats_.messages += static_cast<int64_t>(msgs.size());
  stats_.events += events;
  stats_.bytes += bytes;
  stats_.appended_messages += msgs.size();
  return Status::Ok();
}

Status Outbox::Next(int64_t stream, int64_t after, size_t max, std::vector<OutboxMessage>* out) {
  std::lock_guard lock(mu_);
  sqlite3_stmt* st = next_;
  StmtReset r{st};
  sqlite3_bind_int64(st, 1, stream);
  sqlite3_bind_int64(st, 2, after);
  sqlite3_bind_int64(st, 3, static_cast<int64_t>(max));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    OutboxMessage m;
    m.stream = stream;
    m.seq = sqlite3_column_int64(st, 0);
    m.created = sqlite3_column_int64(st, 1);
    m.events = sqlite3_column_int64(st, 2);
    m.topic = ColumnText(st, 3);
    m.payload.assign(static_cast<const char*>(sqlite3_column_blob(st, 4)), sqlite3_column_bytes(st, 4));
    out->push_back(std::move(m));
  }
  return rc == SQLITE_DONE ? Status::Ok() : db_->Err("outbox read");
}

Status Outbox::Remove(const std::vector<std::pair<int64_t, int64_t>>& keys) {
  if (keys.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  sqlite3_stmt* st = del_;
  StmtReset r{st};
  int64_t n = 0, events = 0, bytes = 0;
  Status s = db_->Transaction([&]() -> Status {
    for (const auto& [stream, seq] : keys) {
      sqlite3_bind_int64(st, 1, stream);
      sqlite3_bind_int64(st, 2, seq);
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ++n;
        events += sqlite3_column_int64(st, 0);
        bytes += sqlite3_column_int64(st, 1);
      }
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return db_->Err("outbox remove");
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  stats_.messages -= n;
  stats_.events -= events;
  stats_.bytes -= bytes;
  stats_.removed_messages += static_cast<uint64_t>(n);
  return Status::Ok();
}

// Deletes the oldest messages of `stream` while more(message) says so.
Status Outbox::EvictOldest(int64_t stream, const std::function<bool(const OutboxMessage&)>& more, int64_t* evicted) {
  sqlite3_stmt* st;
  EF_RETURN_IF_ERROR(db_->Prepare("SELECT seq, created_us, events, bytes FROM messages WHERE stream = ? ORDER BY seq", &st));
  int64_t last = -1, n = 0, events = 0, bytes = 0;
  {
    StmtGuard g{st};
    sqlite3_bind_int64(st, 1, stream);
    OutboxMessage m;
    m.stream = stream;
    while (sqlite3_step(st) == SQLITE_ROW) {
      m.seq = sqlite3_column_int64(st, 0);
      m.created = sqlite3_column_int64(st, 1);
      if (!more(m)) break;
      last = m.seq;
      ++n;
      events += sqlite3_column_int64(st, 2);
      const int64_t b = sqlite3_column_int64(st, 3);
      bytes += b;
      stats_.bytes -= b;  // `more` looks at the running total
    }
  }
  stats_.bytes += bytes;
  if (n == 0) return Status::Ok();
  sqlite3_stmt *del, *count;
  EF_RETURN_IF_ERROR(db_->Prepare("DELETE FROM messages WHERE stream = ? AND seq <= ?", &del));
  StmtGuard g1{del};
  EF_RETURN_IF_ERROR(db_->Prepare(
      "UPDATE streams SET evicted_messages = evicted_messages + ?, evicted_events = evicted_events + ? WHERE id = ?", &count));
  StmtGuard g2{count};
  EF_RETURN_IF_ERROR(db_->Transaction([&]() -> Status {
    sqlite3_bind_int64(del, 1, stream);
    sqlite3_bind_int64(del, 2, last);
    if (sqlite3_step(del) != SQLITE_DONE) return db_->Err("outbox evict");
    sqlite3_bind_int64(count, 1, n);
    sqlite3_bind_int64(count, 2, events);
    sqlite3_bind_int64(count, 3, stream);
    if (sqlite3_step(count) != SQLITE_DONE) return db_->Err("outbox evict count");
    return Status::Ok();
  }));
  stats_.messages -= n;
  stats_.events -= events;
  stats_.bytes -= bytes;
  stats_.evicted_messages += static_cast<uint64_t>(n);
  stats_.evicted_events += static_cast<uint64_t>(events);
  *evicted += n;
  return Status::Ok();
}

Result<int64_t> Outbox::Enforce(TimeUs now) {
  std::lock_guard lock(mu_);
  int64_t evicted = 0;
  if (opts_.max_age > 0) {
    const TimeUs cutoff = now - opts_.max_age;
    for (const auto& s : streams_)
      EF_RETURN_IF_ERROR(EvictOldest(s.id, [&](const OutboxMessage& m) { return m.created < cutoff; }, &evicted));
  }
  if (opts_.max_bytes > 0 && stats_.bytes > opts_.max_bytes) {
    // Lowest priority first (streams_ is in drain order: walk it backwards).
    for (auto it = streams_.rbegin(); it != streams_.rend() && stats_.bytes > opts_.max_bytes; ++it)
      EF_RETURN_IF_ERROR(EvictOldest(it->id, [&](const OutboxMessage&) { return stats_.bytes > opts_.max_bytes; }, &evicted));
  }
  return evicted;
}

OutboxStats Outbox::stats() {
  std::lock_guard lock(mu_);
  OutboxStats s = stats_;
  s.oldest = 0;
  sqlite3_stmt* st = oldest_;
  StmtReset r{st};
  for (const auto& stream : streams_) {
    sqlite3_bind_int64(st, 1, stream.id);
    if (sqlite3_step(st) == SQLITE_ROW) {
      const TimeUs t = sqlite3_column_int64(st, 0);
      if (s.oldest == 0 || t < s.oldest) s.oldest = t;
    }
    sqlite3_reset(st);
  }
  return s;
}

int64_t Outbox::EvictedMessages(int64_t stream) {
  std::lock_guard lock(mu_);
  sqlite3_stmt* st;
  if (!db_->Prepare("SELECT evicted_messages FROM streams WHERE id = ?", &st).ok()) return -1;
  StmtGuard g{st};
  sqlite3_bind_int64(st, 1, stream);
  return sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
}

}  // namespace edgeflow
