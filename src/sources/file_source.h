#pragma once
// `file` source: replays a recording in event time.
//
// CSV: `timestamp,value` (NAB layout; sensor and metric from the config) or
// `timestamp,sensor,metric,value[,quality]`; a header line is detected and
// may name the columns in any order. JSONL: one object per line with
// ts|timestamp, sensor, metric, value, quality; lines whose "type" is not
// "reading" (e.g. alerts in edgeflow's own JSONL output) are skipped.
// Lines that do not parse become dead letters with the line number.
#include <string>

#include "config/schema.h"
#include "engine/component.h"

namespace edgeflow {

enum class FileFormat { kAuto, kCsv, kJsonl };

struct FileSourceConfig {
  std::string path;
  FileFormat format = FileFormat::kAuto;
  std::string sensor;
  std::string metric;
  double speed = 0;
  bool loop = false;
};

const config::Schema<FileSourceConfig>& FileSourceSchema();

class FileSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> Create(const FileSourceConfig& cfg, const BuildContext& ctx);
  Status Run(SourceContext& ctx) override;

 private:
  FileSourceConfig cfg_;
  Symbol origin_ = kNoSymbol;
  bool fast_ = true;
};

}  // namespace edgeflow
