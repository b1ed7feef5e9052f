#pragma once
// `simulator` source: a deterministic plant. Each sensor follows a daily cycle
// with noise and drift; faults (spike, stuck-at, gradual degradation) are
// injected at declared times. The same seed and start time always give the
// same readings, bit for bit, so recordings and tests are reproducible.
#include <random>
#include <string>
#include <vector>

#include "config/schema.h"
#include "engine/component.h"

namespace edgeflow {

enum class SensorKind { kTemperature, kHumidity, kVibration, kPower, kMotion, kAccelerometer };
enum class FaultType { kSpike, kStuck, kDegrade, kBearing };

struct FaultConfig {
  FaultType type = FaultType::kSpike;
  double at_secs = 0;
  double duration_secs = 0;
  double magnitude = 0;
  double frequency_hz = 0;  // bearing: the defect frequency; 0: 3.57 x shaft_hz (outer race)
};

struct SimSensorConfig {
  std::string id;
  SensorKind kind = SensorKind::kTemperature;
  std::string metric;
  double interval_secs = 1;
  double base = 0;             // NaN: the kind's default
  double daily_amplitude = 0;  // NaN: the kind's default
  double noise = 0;            // NaN: the kind's default
  double drift_per_hour = 0;
  double shaft_hz = 25;  // accelerometer: rotation frequency
  std::vector<FaultConfig> faults;
};

struct SimulatorConfig {
  int64_t seed = 1;
  double speed = 1;
  double duration_secs = 0;
  std::string start;
  std::vector<SimSensorConfig> sensors;
};

const config::Schema<SimulatorConfig>& SimulatorSchema();

// The signal model, separate from the source so tests and benchmarks can
// sample it directly.
class SimulatedSensor {
 public:
  SimulatedSensor(const SimSensorConfig& cfg, uint64_t seed, TimeUs start);
  // Value at simulated time `t` (must be called with increasing t).
  double Sample(TimeUs t);
  TimeUs interval() const { return interval_; }
  Symbol sensor() const { return sensor_; }
  Symbol metric() const { return metric_; }

 private:
  SimSensorConfig cfg_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  TimeUs start_;
  TimeUs interval_;
  Symbol sensor_, metric_;
  double stuck_value_ = 0;
  bool stuck_active_ = false;
};

class SimulatorSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> Create(const SimulatorConfig& cfg, const BuildContext& ctx);
  Status Run(SourceContext& ctx) override;

 private:
  SimulatorConfig cfg_;
  bool fast_ = false;
  TimeUs start_ = 0;
  bool start_set_ = false;
};

}  // namespace edgeflow
