#include "sinks/actuator_sink.h"

#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "core/testing.h"

namespace edgeflow {
namespace {

// Outputs kept in memory: the automation logic (pulses, sequences,
// interlocks, safe states) timed by a ManualClock. The Modbus and GPIO
// backends behind the same interface are tested against a real peer.
class MemoryOutputs final : public OutputBackend {
 public:
  explicit MemoryOutputs(std::vector<double>* values) : values_(values) {}
  bool Ready(TimeUs) override { return true; }
  Status Write(size_t i, double v) override {
    (*values_)[i] = v;
    return Status::Ok();
  }
  Result<double> Read(size_t i) override { return (*values_)[i]; }
  double Stored(size_t, double v) override { return v; }

 private:
  std::vector<double>* values_;
};

// The settings every actuator sink declares, over outputs with no address.
struct MemoryOutputConfig : ActuatorOutputConfig {};
struct MemorySinkConfig : ActuatorSettings {
  std::vector<MemoryOutputConfig> outputs;
};
const config::Schema<MemoryOutputConfig>& MemoryOutputSchema() {
  static const auto* s = [] {
    auto* s = new config::Schema<MemoryOutputConfig>("output", "");
    WithActuatorOutput(*s);
    return s;
  }();
  return *s;
}
const config::Schema<MemorySinkConfig>& MemorySinkSchema() {
  static const auto* s = [] {
    auto* s = new config::Schema<MemorySinkConfig>("memory", "");
    s->ObjectList("outputs", &MemorySinkConfig::outputs, MemoryOutputSchema(), "", true);
    WithActuatorSettings(*s);
    return s;
  }();
  return *s;
}

class ActuatorLogic : public ::testing::Test {
 protected:
  // `settings_yaml`: the sink's actions/sequences; outputs are motor (0) and horn (1).
  void Start(const std::string& settings_yaml) {
    config::Diagnostics d("c.yaml");
    const std::string yaml = "outputs:\n  - {name: motor, safe_value: 0}\n  - {name: horn, safe_value: 0}\n" +
                             settings_yaml;
    MemorySinkConfig sink;
    ASSERT_TRUE(MemorySinkSchema().Parse(YAML::Load(yaml), sink, d)) << d.Format();
    values_.assign(2, -1);
    BuildContext ctx;
    ctx.clock = &clock_;
    ctx.data_dir = dir_.path();
    ctx.component_id = "plc";
    std::vector<ActuatorOutputConfig> outs(sink.outputs.begin(), sink.outputs.end());
    auto s = ActuatorSink::Create("test", outs, sink, std::make_unique<MemoryOutputs>(&values_), ctx);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sink_ = std::move(s).value();
  }
  void Alert(const char* rule, AlertState state, bool lasting = true) {
    Batch b;
    AlertEvent a;
    a.ts = clock_.now();
    a.rule = Intern(rule);
    a.state = state;
    a.lasting = lasting;
    b.alerts.push_back(a);
    ASSERT_TRUE(sink_->Write(b).ok());
  }
  void Run(double secs) {  // ticks every 10 ms
    const TimeUs end = clock_.now() + SecondsToUs(secs);
    while (clock_.now() < end) {
      clock_.advance(10'000);
      ASSERT_TRUE(sink_->Tick(clock_.now()).ok());
    }
  }
  double Metric(const std::string& name) {
    std::vector<std::pair<std::string, double>> m;
    sink_->Metrics(m);
    for (auto& [k, v] : m)
      if (k == name) return v;
    return -1;
  }
  std::vector<std::string> Causes() {
    auto store = Store::Open((std::filesystem::path(dir_.path()) / "edgeflow.db").string());
    EXPECT_TRUE(store.ok());
    std::vector<std::string> out;
    auto rows = (*store)->Writes();
    EXPECT_TRUE(rows.ok());
    for (const auto& r : *rows) out.push_back(r.cause + " " + r.output + "=" + config::FormatNumber(r.value) + " " + r.result);
    return out;
  }
  bool Has(const std::string& line) {
    auto c = Causes();
    return std::find(c.begin(), c.end(), line) != c.end();
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::vector<double> values_;
  std::unique_ptr<Sink> sink_;
};

TEST_F(ActuatorLogic, APulseReturnsTheOutputToItsPreviousValue) {
  Start("actions:\n  - {rule: intruder, output: horn, value: 1, pulse_secs: 2}\n"
        "  - {rule: shift, output: motor, value: 1}\n  - {rule: shift, output: motor, value: 1, pulse_secs: 0.5}\n");
  EXPECT_EQ(values_, (std::vector<double>{0, 0}));  // safe state at start
  Alert("intruder", AlertState::kOpen);
  EXPECT_EQ(values_[1], 1);
  Run(1.98);
  EXPECT_EQ(values_[1], 1);
  Run(0.03);
  EXPECT_EQ(values_[1], 0);
  EXPECT_TRUE(Has("end of pulse: rule intruder open horn=0 verified"));
  EXPECT_EQ(Metric("pulses"), 1);
  // A pulse on an output that is already on returns it to on, not to the safe value.
  Alert("shift", AlertState::kOpen);
  EXPECT_EQ(values_[0], 1);
  Run(1);
  EXPECT_EQ(values_[0], 1);
  EXPECT_TRUE(Has("end of pulse: rule shift open motor=1 verified"));
}

// A rule with `emit: every` sends one-off events: each triggers its actions, none is an open
// alert for an interlock (one event blocked the interlocked output for good: no clear ever comes).
TEST_F(ActuatorLogic, OneOffEventsTriggerActionsButNeverHoldAnInterlock) {
  Start("actions:\n  - {rule: spike, output: horn, value: 1, pulse_secs: 1}\n"
        "  - {rule: start, output: motor, value: 1, unless_open: [spike]}\n");
  Alert("spike", AlertState::kOpen, /*lasting=*/false);
  EXPECT_EQ(values_[1], 1) << "the event's action ran";
  Run(2);
  Alert("start", AlertState::kOpen);
  EXPECT_EQ(values_[0], 1) << "not interlocked by a one-off event";
  // A lasting alert of the same rule does interlock, until it clears.
  Alert("start", AlertState::kClear);
  Start("actions:\n  - {rule: start, output: motor, value: 1, unless_open: [spike]}\n");
  Alert("spike", AlertState::kOpen);
  Alert("start", AlertState::kOpen);
  EXPECT_EQ(values_[0], 0);
}

TEST_F(ActuatorLogic, ANewerWriteEndsARunningPulse) {
  Start("actions:\n  - {rule: ring, output: horn, value: 1, pulse_secs: 5}\n"
        "  - {rule: ring, state: clear, output: horn, value: 0}\n  - {rule: silence, output: horn, value: 1}\n");
  Alert("ring", AlertState::kOpen);
  Run(1);
  Alert("silence", AlertState::kOpen);  // "on for good" replaces the pulse
  Run(6);
  EXPECT_EQ(values_[1], 1);
  EXPECT_EQ(Causes().size(), 4u);  // 2 safe-state writes, ring, silence: no end of pulse
}

const char* kJamRecovery =
    "sequences:\n"
    "  - id: jam_recovery\n"
    "    rule: jam\n"
    "    steps:\n"
    "      - {output: motor, value: 0}\n"
    "      - {output: horn, value: 1, pulse_secs: 1}\n"
    "      - {wait_clear: [jam, guard_open], timeout_secs: 60}\n"
    "      - {wait_secs: 5}\n"
    "      - {output: motor, value: 1, unless_open: [guard_open]}\n";

TEST_F(ActuatorLogic, ASequenceStopsWaitsForClearAndRestarts) {
  Start(kJamRecovery);
  values_[0] = 1;  // the motor runs
  Alert("jam", AlertState::kOpen);
  EXPECT_EQ(values_, (std::vector<double>{0, 1}));
  EXPECT_EQ(Metric("sequences_running"), 1);
  Alert("jam", AlertState::kOpen);  // a second start while running is ignored
  EXPECT_EQ(Metric("sequences_ignored"), 1);
  Run(2);
  EXPECT_EQ(values_, (std::vector<double>{0, 0}));  // the horn pulse ended; still jammed
  Alert("guard_open", AlertState::kOpen);
  Alert("jam", AlertState::kClear);
  Run(10);
  EXPECT_EQ(values_[0], 0);  // the guard is open: no restart
  Alert("guard_open", AlertState::kClear);
  Run(4.9);
  EXPECT_EQ(values_[0], 0);  // 5 s after the last condition cleared
  Run(0.2);
  EXPECT_EQ(values_[0], 1);
  EXPECT_TRUE(Has("sequence jam_recovery step 5/5 motor=1 verified"));
  EXPECT_EQ(Metric("sequences_completed"), 1);
  EXPECT_EQ(Metric("sequences_running"), 0);
}

TEST_F(ActuatorLogic, ATimedOutSequenceAbortsToTheSafeState) {
  Start(kJamRecovery);
  Alert("jam", AlertState::kOpen);
  Run(59);
  EXPECT_EQ(Metric("sequences_aborted"), 0);
  Run(1.1);
  EXPECT_EQ(Metric("sequences_aborted"), 1);
  EXPECT_TRUE(Has("safe state: sequence jam_recovery aborted at step 3: timed out after 60 s motor=0 verified"));
  // It can start again.
  Alert("jam", AlertState::kClear);
  Alert("jam", AlertState::kOpen);
  EXPECT_EQ(Metric("sequences_started"), 2);
}

TEST_F(ActuatorLogic, AnInterlockedStepAbortsTheSequenceAndShutdownStopsIt) {
  Start("sequences:\n  - {id: start_line, rule: start, on_abort: hold, steps: [{output: horn, value: 1}, "
        "{wait_secs: 3}, {output: motor, value: 1, unless_open: [guard_open]}]}\n");
  Alert("guard_open", AlertState::kOpen);
  Alert("start", AlertState::kOpen);
  Run(3.1);
  EXPECT_EQ(values_, (std::vector<double>{0, 1}));  // hold: the horn stays on
  EXPECT_EQ(Metric("sequences_aborted"), 1);
  EXPECT_TRUE(Has("sequence start_line step 3/3 motor=1 refused"));
  Alert("guard_open", AlertState::kClear);
  Alert("start", AlertState::kClear);
  Alert("start", AlertState::kOpen);
  Run(1);
  ASSERT_TRUE(sink_->Flush().ok());  // shutdown mid-sequence
  EXPECT_EQ(values_, (std::vector<double>{0, 0}));
  EXPECT_EQ(Metric("sequences_aborted"), 2);
}

}  // namespace
}  // namespace edgeflow
