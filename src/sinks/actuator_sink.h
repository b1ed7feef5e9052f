#pragma once
// Actuator sinks: local automation. Alert events from rules write outputs —
// Modbus coils and holding registers (`modbus` sink), GPIO lines (`gpio`
// sink) — under interlocks:
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
//
// The logic is one class (ActuatorSink); a backend reaches the outputs.
#include <map>
#include <memory>
#include <set>

#include "config/schema.h"
#include "engine/component.h"
#include "sources/gpio_source.h"
#include "sources/modbus_source.h"
#include "store/store.h"

struct gpiod_line;

namespace edgeflow {

// What every output declares, whatever reaches it.
struct ActuatorOutputConfig {
  std::string name;
  double safe_value = 0;
  double min = -1e300;
  double max = 1e300;
  double min_interval_secs = 0;
  bool verify = true;
};
template <class T>
config::Schema<T>& WithActuatorOutput(config::Schema<T>& s) {
  s.String("name", &T::name, "", "Name used by actions and in the audit.", true)
      .template Number<double>("safe_value", &T::safe_value, 0, "",
                               "Written at start, at shutdown and when the inputs go stale.")
      .template Number<double>("min", &T::min, -1e300, "", "Lowest value a write may set (interlock).")
      .template Number<double>("max", &T::max, 1e300, "", "Highest value a write may set (interlock).")
      .template Number<double>("min_interval_secs", &T::min_interval_secs, 0, "s",
                               "Writes closer together than this are refused (interlock); the safe value passes.", 0,
                               86400)
      .Bool("verify", &T::verify, true, "Read the value back after writing it.")
      .Check([](const T& c, const YAML::Node& n, config::Diagnostics& d) {
        if (c.min > c.max) d.Error(n, "min is above max");
        if (c.safe_value < c.min || c.safe_value > c.max) d.Error(n["safe_value"], "safe_value outside [min, max]");
      });
  return s;
}

struct ActuatorActionConfig {
  std::string rule;
  std::string state = "open";  // open | clear
  std::string output;
  double value = 0;
  std::vector<std::string> unless_open;
};
const config::Schema<ActuatorActionConfig>& ActuatorActionSchema();

struct ActuatorSettings {
  std::vector<ActuatorActionConfig> actions;
  double stale_after_secs = 0;
  bool safe_on_start = true;
  std::string audit_path;
};
// Declares actions and the fail-safe options; checks actions against `outputs`.
template <class T>
config::Schema<T>& WithActuatorSettings(config::Schema<T>& s) {
  s.template ObjectList<ActuatorActionConfig>("actions", &T::actions, ActuatorActionSchema(),
                                             "Alert events that write an output.")
      .template Number<double>("stale_after_secs", &T::stale_after_secs, 0, "s",
                               "No good reading and no alert for this long (processing time) puts every output in "
                               "its safe state; 0: off.",
                               0, 86400)
      .Bool("safe_on_start", &T::safe_on_start, true, "Write the safe values at start (recovery after a crash).")
      .String("audit_path", &T::audit_path, "", "Store for the write audit; empty: `<node.data_dir>/edgeflow.db`.")
      .Check([](const T& c, const YAML::Node& n, config::Diagnostics& d) {
        std::set<std::string> names;
        for (size_t i = 0; i < c.outputs.size(); ++i)
          if (!names.insert(c.outputs[i].name).second)
            d.Error(n["outputs"][i], "duplicate output '" + c.outputs[i].name + "'");
        for (size_t i = 0; i < c.actions.size(); ++i) {
          const auto& a = c.actions[i];
          const ActuatorOutputConfig* o = nullptr;
          for (const auto& oc : c.outputs)
            if (oc.name == a.output) o = &oc;
          if (!o) d.Error(n["actions"][i]["output"], "unknown output '" + a.output + "'");
          else if (a.value < o->min || a.value > o->max)
            d.Error(n["actions"][i]["value"], "value outside the output's [min, max]");
        }
      });
  return s;
}

// Reaches the outputs (in the order the sink was given them).
class OutputBackend {
 public:
  virtual ~OutputBackend() = default;
  // Connects or reconnects when needed; false when the outputs cannot be reached now.
  virtual bool Ready(TimeUs now) = 0;
  virtual Status Write(size_t output, double value) = 0;
  virtual Result<double> Read(size_t output) = 0;
  // The value Read returns after Write(value) (coils and lines are 0/1, registers round).
  virtual double Stored(size_t output, double value) = 0;
};

class ActuatorSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> Create(const std::string& kind, std::vector<ActuatorOutputConfig> outputs,
                                              ActuatorSettings settings, std::unique_ptr<OutputBackend> backend,
                                              const BuildContext& ctx);
  Status Write(const Batch& batch) override;
  Status Tick(TimeUs now) override;
  Status Flush() override;
  EventMask wants() const override { return EventMask{true, true, true, false}; }

 private:
  struct Output {
    ActuatorOutputConfig cfg;
    size_t index = 0;
    TimeUs last_write = 0;
    bool has_written = false;
  };
  void Apply(Output& out, double value, const std::string& cause, const std::vector<std::string>& unless_open,
             TimeUs now);
  void SafeState(const std::string& why, TimeUs now);

  std::string name_;  // "modbus sink 'x'"
  std::string id_;
  ActuatorSettings settings_;
  Clock* clock_ = nullptr;
  std::unique_ptr<OutputBackend> backend_;
  std::unique_ptr<Store> audit_;
  std::map<std::string, Output> outputs_;
  std::set<std::string> open_;
  TimeUs last_input_ = 0;
  bool safe_ = false;
};

// ---- modbus -----------------------------------------------------------------

struct ModbusOutputConfig : ActuatorOutputConfig {
  ModbusTable table = ModbusTable::kCoil;
  int64_t address = 0;
  ModbusType type = ModbusType::kBool;
  WordOrder byte_order = WordOrder::kBig;
  WordOrder word_order = WordOrder::kBig;
};
struct ModbusSinkConfig : ModbusConnectionConfig, ActuatorSettings {
  std::vector<ModbusOutputConfig> outputs;
};
const config::Schema<ModbusSinkConfig>& ModbusSinkSchema();
struct ModbusSink {
  static Result<std::unique_ptr<Sink>> Create(const ModbusSinkConfig& cfg, const BuildContext& ctx);
};

// ---- gpio -------------------------------------------------------------------

struct GpioOutputConfig : ActuatorOutputConfig {
  int64_t line = 0;
  bool active_low = false;
};
struct GpioSinkConfig : ActuatorSettings {
  std::string chip;
  std::vector<GpioOutputConfig> outputs;
};
const config::Schema<GpioSinkConfig>& GpioSinkSchema();
struct GpioSink {
  static Result<std::unique_ptr<Sink>> Create(const GpioSinkConfig& cfg, const BuildContext& ctx);
};

}  // namespace edgeflow
