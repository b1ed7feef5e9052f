#pragma once
// `sqlite`: the local store. `file`: JSON lines (or CSV readings) to a file or stdout.
#include <cstdio>
#include <memory>

#include "config/schema.h"
#include "engine/component.h"
#include "store/store.h"

namespace edgeflow {

// Event-kind lists (`store:`, `include:`): readings, aggregates, alerts, dead_letters.
void CheckEventKinds(const std::vector<std::string>& kinds, const char* key, const YAML::Node& node,
                     config::Diagnostics& d);
StoreWhat EventKindsFrom(const std::vector<std::string>& kinds, StoreWhat when_empty);

struct SqliteSinkConfig {
  std::string path;
  std::vector<std::string> store;
  double retention_secs = 7 * 86400.0;
  double event_retention_secs = 90 * 86400.0;
  int64_t max_bytes = 0;
  Store::Sync synchronous = Store::Sync::kNormal;
};
const config::Schema<SqliteSinkConfig>& SqliteSinkSchema();
// The database file a sqlite sink writes: `path`, or `<data_dir>/edgeflow.db`.
std::string SqliteStorePath(const SqliteSinkConfig& cfg, const std::string& data_dir);

class SqliteSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> Create(const SqliteSinkConfig& cfg, const BuildContext& ctx);
  Status Write(const Batch& batch) override;
  Status Tick(TimeUs now) override;
  Status Flush() override;
  EventMask wants() const override { return what_; }

 private:
  SqliteSinkConfig cfg_;
  StoreWhat what_;
  std::unique_ptr<Store> store_;
  Clock* clock_ = nullptr;
  TimeUs next_retention_ = 0;
};

enum class FileSinkFormat { kJsonl, kCsv };
struct FileSinkConfig {
  std::string path;
  FileSinkFormat format = FileSinkFormat::kJsonl;
  std::vector<std::string> include;
};
const config::Schema<FileSinkConfig>& FileSinkSchema();

class FileSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> Create(const FileSinkConfig& cfg, const BuildContext& ctx);
  ~FileSink() override;
  Status Write(const Batch& batch) override;
  Status Flush() override;
  EventMask wants() const override { return what_; }

 private:
  FileSinkConfig cfg_;
  StoreWhat what_;
  FILE* f_ = nullptr;
  bool owned_ = false;
  std::string buf_;
};

}  // namespace edgeflow
