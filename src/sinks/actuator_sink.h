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
// Timed pulses: an action or step with pulse_secs writes its value and puts
// the output back to the value it had before once the time is up (a newer
// write to the output cancels the pulse).
//
// Sequences: procedures such as "jam -> stop motor -> wait until the jam and
// the guard are clear -> wait 5 s -> restart". A sequence starts on an alert
// event and runs its steps in order: write an output, wait some seconds, or
// wait until rules are clear (or open) with a timeout. A write that is not
// carried out, or a timeout, aborts the sequence; on abort (by default), at
// shutdown and when the inputs go stale the outputs go to their safe values.
//
// The logic is one class (ActuatorSink); a backend reaches the outputs:
// modbus_sink.h (coils and registers), gpio_sink.h (GPIO lines).
#include <atomic>
#include <map>
#include <memory>
#include <set>

#include "config/schema.h"
#include "engine/component.h"
#include "store/store.h"

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
  double pulse_secs = 0;
  std::vector<std::string> unless_open;
};
const config::Schema<ActuatorActionConfig>& ActuatorActionSchema();

// One step of a sequence: exactly one of output (a write), wait_secs,
// wait_clear / wait_open.
struct SequenceStepConfig {
  std::string output;
  double value = 0;
  double pulse_secs = 0;
  std::vector<std::string> unless_open;
  double wait_secs = 0;
  std::vector<std::string> wait_clear;
  std::vector<std::string> wait_open;
  double timeout_secs = 0;
};
struct SequenceConfig {
  std::string id;
  std::string rule;
  std::string state = "open";
  std::vector<SequenceStepConfig> steps;
  bool abort_to_safe = true;  // on_abort: safe | hold
};
const config::Schema<SequenceConfig>& SequenceSchema();

struct ActuatorSettings {
  std::vector<ActuatorActionConfig> actions;
  std::vector<SequenceConfig> sequences;
  double stale_after_secs = 0;
  bool safe_on_start = true;
  std::string audit_path;
};
// Declares actions and the fail-safe options; checks actions against `outputs`.
template <class T>
config::Schema<T>& WithActuatorSettings(config::Schema<T>& s) {
  s.template ObjectList<ActuatorActionConfig>("actions", &T::actions, ActuatorActionSchema(),
                                             "Alert events that write an output.")
      .template ObjectList<SequenceConfig>("sequences", &T::sequences, SequenceSchema(),
                                         "Procedures started by an alert event: writes, waits, conditions.")
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
        auto check_write = [&](const std::string& output, double value, const YAML::Node& at) {
          const ActuatorOutputConfig* o = nullptr;
          for (const auto& oc : c.outputs)
            if (oc.name == output) o = &oc;
          if (!o) d.Error(at["output"], "unknown output '" + output + "'");
          else if (value < o->min || value > o->max)
            d.Error(at["value"], "value outside the output's [min, max]");
        };
        for (size_t i = 0; i < c.actions.size(); ++i)
          check_write(c.actions[i].output, c.actions[i].value, n["actions"][i]);
        std::set<std::string> ids;
        for (size_t i = 0; i < c.sequences.size(); ++i) {
          const auto& q = c.sequences[i];
          if (!ids.insert(q.id).second) d.Error(n["sequences"][i]["id"], "duplicate sequence '" + q.id + "'");
          for (size_t k = 0; k < q.steps.size(); ++k)
            if (!q.steps[k].output.empty())
              check_write(q.steps[k].output, q.steps[k].value, n["sequences"][i]["steps"][k]);
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
  TimeUs tick_interval_us() const override;
  void Metrics(std::vector<std::pair<std::string, double>>& out) const override;

 private:
  struct Output {
    ActuatorOutputConfig cfg;
    size_t index = 0;
    TimeUs last_write = 0;
    bool has_written = false;
    double value = 0;         // last value written (the safe value before any write)
    TimeUs pulse_end = 0;     // > 0: a pulse is running; revert at this time
    double pulse_revert = 0;  // ... to this value
    std::string pulse_cause;
  };
  struct Running {
    const SequenceConfig* cfg = nullptr;
    size_t step = 0;
    TimeUs step_started = 0;
  };
  // Writes `value` unless an interlock refuses it; audits. Returns true when written.
  bool Apply(Output& out, double value, const std::string& cause, const std::vector<std::string>& unless_open,
             TimeUs now, double pulse_secs = 0, bool end_of_pulse = false);
  void SafeState(const std::string& why, TimeUs now);
  void Advance(TimeUs now);  // runs due pulses and sequence steps
  // Ends `r`; sets `safe_why` when its on_abort asks for the safe state.
  void Abort(Running& r, const std::string& why, TimeUs now, std::string& safe_why);

  std::atomic<int64_t> seq_started_{0}, seq_completed_{0}, seq_aborted_{0}, seq_ignored_{0}, pulses_{0},
      running_count_{0};
  std::vector<Running> running_;

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

}  // namespace edgeflow
