#pragma once
// `modbus` sink: local automation. Alert events from rules drive writes to
// coils and holding registers (libmodbus), under interlocks:
//   - the value must lie in the output's [min, max] (checked in config too);
//   - at most one write per output every min_interval_secs;
//   - `unless_open`: refused while any of those rules has an open alert.
// Writing an output's safe value is never held back by the interval or by
// `unless_open` (moving to the safe state must always be possible).
// Every write attempt (written, verified by read-back, refused, failed) is
// audited in the store's `writes` table with its cause.
//
// Fail-safe: each output declares a safe value, written at start (recovery
// after a crash), at shutdown, and whenever the sink has received no good
// reading and no alert for stale_after_secs (the controlling data went stale).
// Writes are not retried later: a late actuation can be worse than none; a
// failed write is audited and logged.
#include <map>
#include <memory>
#include <set>

#include "config/schema.h"
#include "engine/component.h"
#include "sources/modbus_source.h"
#include "store/store.h"

namespace edgeflow {

struct ModbusOutputConfig {
  std::string name;
  ModbusTable table = ModbusTable::kCoil;
  int64_t address = 0;
  ModbusType type = ModbusType::kBool;
  WordOrder byte_order = WordOrder::kBig;
  WordOrder word_order = WordOrder::kBig;
  double safe_value = 0;
  double min = -1e300;
  double max = 1e300;
  double min_interval_secs = 0;
  bool verify = true;
};

struct ModbusActionConfig {
  std::string rule;
  std::string state = "open";  // open | clear
  std::string output;
  double value = 0;
  std::vector<std::string> unless_open;
};

struct ModbusSinkConfig : ModbusConnectionConfig {
  std::vector<ModbusOutputConfig> outputs;
  std::vector<ModbusActionConfig> actions;
  double stale_after_secs = 0;
  bool safe_on_start = true;
  std::string audit_path;
};
const config::Schema<ModbusSinkConfig>& ModbusSinkSchema();

class ModbusSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> Create(const ModbusSinkConfig& cfg, const BuildContext& ctx);
  Status Write(const Batch& batch) override;
  Status Tick(TimeUs now) override;
  Status Flush() override;
  EventMask wants() const override { return EventMask{true, true, true, false}; }

 private:
  struct Output {
    ModbusOutputConfig cfg;
    TimeUs last_write = 0;
    bool has_written = false;
  };
  // Writes `value` to `out` under its interlocks; audits the attempt.
  void Apply(Output& out, double value, const std::string& cause, const std::vector<std::string>& unless_open,
             TimeUs now);
  void SafeState(const std::string& why, TimeUs now);

  ModbusSinkConfig cfg_;
  std::string id_;
  Clock* clock_ = nullptr;
  std::unique_ptr<ModbusLink> link_;
  std::unique_ptr<Store> audit_;
  std::map<std::string, Output> outputs_;
  std::set<std::string> open_;  // rules with an open alert ("rule" and "rule/sensor")
  TimeUs last_input_ = 0;
  bool safe_ = false;  // in the safe state because inputs went stale
};

}  // namespace edgeflow
