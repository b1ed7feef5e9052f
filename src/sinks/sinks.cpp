#include "sinks/sinks.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/timefmt.h"
#include "sinks/event_json.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {
const std::vector<std::string> kEventKinds = {"readings", "aggregates", "alerts", "dead_letters"};
}  // namespace

void CheckEventKinds(const std::vector<std::string>& v, const char* key, const YAML::Node& n, Diagnostics& d) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::find(kEventKinds.begin(), kEventKinds.end(), v[i]) == kEventKinds.end())
      d.Error(n[key].IsSequence() ? n[key][i] : n[key],
              "'" + v[i] + "' is not an event kind (readings, aggregates, alerts, dead_letters)");
  }
}

StoreWhat EventKindsFrom(const std::vector<std::string>& v, StoreWhat when_empty) {
  if (v.empty()) return when_empty;
  StoreWhat w{false, false, false, false};
  for (const auto& k : v) {
    if (k == "readings") w.readings = true;
    if (k == "aggregates") w.aggregates = true;
    if (k == "alerts") w.alerts = true;
    if (k == "dead_letters") w.dead_letters = true;
  }
  return w;
}

const Schema<SqliteSinkConfig>& SqliteSinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<SqliteSinkConfig>("sqlite", "");
    s->String("path", &SqliteSinkConfig::path, "", "Database file; empty: `<node.data_dir>/edgeflow.db`.")
        .StringList("store", &SqliteSinkConfig::store,
                    "Event kinds to keep: readings, aggregates, alerts, dead_letters. Empty: all.")
        .Number<double>("retention_secs", &SqliteSinkConfig::retention_secs, 7 * 86400.0, "s",
                        "Readings and aggregates older than this (event time vs. the clock) are deleted; 0 keeps them.", 0, 1e11)
        .Number<double>("event_retention_secs", &SqliteSinkConfig::event_retention_secs, 90 * 86400.0, "s",
                        "Dead letters older than this are deleted, and alerts cleared longer ago than this (an open alert is kept); 0 keeps them.", 0, 1e11)
        .Number<int64_t>("max_bytes", &SqliteSinkConfig::max_bytes, 0, "bytes",
                         "Size cap: the oldest readings and aggregates are deleted beyond it; 0: no cap.", 0, INT64_MAX)
        .Enum<Store::Sync>("synchronous", &SqliteSinkConfig::synchronous, Store::Sync::kNormal,
                           {{"off", Store::Sync::kOff}, {"normal", Store::Sync::kNormal}, {"full", Store::Sync::kFull}},
                           "SQLite synchronous mode. normal (WAL): a committed batch survives a process crash, and "
                           "power loss may undo the last batches; full: also survives power loss; off: neither, fastest.")
        .Check([](const SqliteSinkConfig& c, const YAML::Node& n, Diagnostics& d) { CheckEventKinds(c.store, "store", n, d); });
    return s;
  }();
  return *s;
}

std::string SqliteStorePath(const SqliteSinkConfig& cfg, const std::string& data_dir) {
  return cfg.path.empty() ? (std::filesystem::path(data_dir) / "edgeflow.db").string() : cfg.path;
}

Result<std::unique_ptr<Sink>> SqliteSink::Create(const SqliteSinkConfig& cfg, const BuildContext& ctx) {
  auto s = std::make_unique<SqliteSink>();
  s->cfg_ = cfg;
  s->cfg_.path = SqliteStorePath(cfg, ctx.data_dir);
  s->what_ = EventKindsFrom(cfg.store, StoreWhat{});
  s->clock_ = ctx.clock;
  auto store = Store::Open(s->cfg_.path, cfg.synchronous);
  if (!store.ok()) return store.status();
  s->store_ = std::move(store).value();
  return std::unique_ptr<Sink>(std::move(s));
}

Status SqliteSink::Write(const Batch& batch) { return store_->Write(batch, what_, clock_->now()); }

Status SqliteSink::Tick(TimeUs now) {
  if (now < next_retention_) return Status::Ok();
  next_retention_ = now + 10 * kUsPerSec;
  return store_->EnforceRetention(now, SecondsToUs(cfg_.retention_secs), SecondsToUs(cfg_.event_retention_secs),
                                  cfg_.max_bytes);
}

Status SqliteSink::Flush() { return store_->Checkpoint(); }

const Schema<FileSinkConfig>& FileSinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<FileSinkConfig>("file", "");
    s->String("path", &FileSinkConfig::path, "-", "Output file (appended); `-` writes to standard output.")
        .Enum<FileSinkFormat>("format", &FileSinkConfig::format, FileSinkFormat::kJsonl,
                              {{"jsonl", FileSinkFormat::kJsonl}, {"csv", FileSinkFormat::kCsv}},
                              "jsonl: one JSON object per event; csv: readings only, as "
                              "`timestamp,sensor,metric,value,quality` (replayable by the file source).")
        .StringList("include", &FileSinkConfig::include,
                    "Event kinds to write: readings, aggregates, alerts, dead_letters. Empty: all.")
        .Check([](const FileSinkConfig& c, const YAML::Node& n, Diagnostics& d) { CheckEventKinds(c.include, "include", n, d); });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Sink>> FileSink::Create(const FileSinkConfig& cfg, const BuildContext&) {
  auto s = std::make_unique<FileSink>();
  s->cfg_ = cfg;
  s->what_ = EventKindsFrom(cfg.include, StoreWhat{});
  if (cfg.path == "-" || cfg.path.empty()) {
    s->f_ = stdout;
  } else {
    std::error_code ec;
    auto dir = std::filesystem::path(cfg.path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    s->f_ = std::fopen(cfg.path.c_str(), "ae");
    if (!s->f_) return Status::Io("cannot open " + cfg.path + ": " + std::strerror(errno));
    s->owned_ = true;
    if (cfg.format == FileSinkFormat::kCsv && std::ftell(s->f_) == 0) std::fputs("timestamp,sensor,metric,value,quality\n", s->f_);
  }
  return std::unique_ptr<Sink>(std::move(s));
}

FileSink::~FileSink() {
  if (owned_ && f_) std::fclose(f_);
}

Status FileSink::Write(const Batch& b) {
  buf_.clear();
  if (cfg_.format == FileSinkFormat::kCsv) {
    if (what_.readings) {
      for (const auto& r : b.readings) {
        fmt::format_to(std::back_inserter(buf_), "{},{},{},{},{}\n", FormatTimestamp(r.ts), SymName(r.sensor),
                       SymName(r.metric), r.value, static_cast<int>(r.quality));
      }
    }
  } else {
    AppendBatchJsonl(buf_, b, what_);
  }
  if (buf_.empty()) return Status::Ok();
  // One write per batch, flushed: what a batch produced is in the file (for
  // `tail -f` and readers) when Write returns.
  if (std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size() || std::fflush(f_) != 0)
    return Status::Io(std::string("write failed: ") + std::strerror(errno));
  return Status::Ok();
}

Status FileSink::Flush() {
  if (std::fflush(f_) != 0) return Status::Io(std::string("flush failed: ") + std::strerror(errno));
  return Status::Ok();
}

}  // namespace edgeflow
