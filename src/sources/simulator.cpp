#include "sources/simulator.h"

#include <cmath>
#include <numbers>

#include "core/timefmt.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {

struct KindDefaults {
  const char* metric;
  double base, amplitude, noise;
};

KindDefaults DefaultsFor(SensorKind k) {
  switch (k) {
    case SensorKind::kTemperature: return {"temperature", 22.0, 3.0, 0.2};
    case SensorKind::kHumidity: return {"humidity", 45.0, 8.0, 1.0};
    case SensorKind::kVibration: return {"vibration", 2.0, 0.3, 0.15};
    case SensorKind::kPower: return {"power", 5.0, 2.0, 0.2};
    case SensorKind::kMotion: return {"motion", 0.05, 0.3, 0.0};
    case SensorKind::kAccelerometer: return {"acceleration", 0.0, 1.0, 0.1};
  }
  return {"value", 0, 0, 0};
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

const Schema<FaultConfig>& FaultSchema() {
  static const auto* s = [] {
    auto* s = new Schema<FaultConfig>("fault", "A fault injected into a simulated sensor.");
    s->Enum<FaultType>("type", &FaultConfig::type, FaultType::kSpike,
                       {{"spike", FaultType::kSpike}, {"stuck", FaultType::kStuck}, {"degrade", FaultType::kDegrade},
                        {"bearing", FaultType::kBearing}},
                       "spike: adds `magnitude` during the fault; stuck: the value freezes; degrade: an offset grows "
                       "linearly to `magnitude` over the duration and stays; bearing (accelerometers): a vibration at "
                       "the bearing's defect frequency whose amplitude grows with the square of time to `magnitude` "
                       "at the end of the duration (the failure) and stays.")
        .Number<double>("at_secs", &FaultConfig::at_secs, 0, "s", "Start, in simulated seconds after the source's start.", 0, 1e9)
        .Number<double>("duration_secs", &FaultConfig::duration_secs, 60, "s", "Length of the fault.", 0, 1e9)
        .Number<double>("magnitude", &FaultConfig::magnitude, 0, "sensor unit", "Size of a spike or of the final degradation offset.")
        .Number<double>("frequency_hz", &FaultConfig::frequency_hz, 0, "Hz",
                        "bearing: the defect frequency; 0: 3.57 x the sensor's shaft_hz (an outer-race defect).", 0, 1e6);
    return s;
  }();
  return *s;
}

const Schema<SimSensorConfig>& SensorSchema() {
  static const auto* s = [] {
    const double by_kind = std::numeric_limits<double>::quiet_NaN();
    auto* s = new Schema<SimSensorConfig>("simulated sensor",
                                          "One simulated sensor. `base`, `daily_amplitude` and `noise` default by kind "
                                          "(temperature 22/3/0.2 °C, humidity 45/8/1 %, vibration 2/0.3/0.15 mm/s, "
                                          "power 5/2/0.2 kW, motion: probability 0.05/0.3 of a 1).");
    s->String("id", &SimSensorConfig::id, "", "Sensor id.", true)
        .Enum<SensorKind>("kind", &SimSensorConfig::kind, SensorKind::kTemperature,
                          {{"temperature", SensorKind::kTemperature}, {"humidity", SensorKind::kHumidity},
                           {"vibration", SensorKind::kVibration}, {"power", SensorKind::kPower},
                           {"motion", SensorKind::kMotion}, {"accelerometer", SensorKind::kAccelerometer}},
                          "Signal model. accelerometer: a rotating machine's vibration waveform (sample it fast, "
                          "e.g. interval_secs 0.002): the shaft frequency and its second harmonic, `daily_amplitude` "
                          "being the first's amplitude (g).")
        .String("metric", &SimSensorConfig::metric, "", "Metric name; defaults to the kind's name.")
        .Number<double>("interval_secs", &SimSensorConfig::interval_secs, 1, "s", "Sampling interval.", 0.000001, 86400)
        .Number<double>("base", &SimSensorConfig::base, by_kind, "sensor unit", "Mean level (by kind when unset).")
        .Number<double>("daily_amplitude", &SimSensorConfig::daily_amplitude, by_kind, "sensor unit",
                        "Amplitude of the 24 h cycle (by kind when unset).")
        .Number<double>("noise", &SimSensorConfig::noise, by_kind, "sensor unit",
                        "Standard deviation of Gaussian noise (by kind when unset).", 0, 1e12)
        .Number<double>("drift_per_hour", &SimSensorConfig::drift_per_hour, 0, "sensor unit/h", "Linear drift.")
        .Number<double>("shaft_hz", &SimSensorConfig::shaft_hz, 25, "Hz", "accelerometer: rotation frequency.", 0.01, 1e5)
        .ObjectList("faults", &SimSensorConfig::faults, FaultSchema(), "Injected faults.");
    return s;
  }();
  return *s;
}

}  // namespace

const Schema<SimulatorConfig>& SimulatorSchema() {
  static const auto* s = [] {
    auto* s = new Schema<SimulatorConfig>("simulator", "");
    s->Number<int64_t>("seed", &SimulatorConfig::seed, 1, "", "Random seed; the same seed and start give the same readings.")
        .Number<double>("speed", &SimulatorConfig::speed, 1, "x",
                        "Simulated seconds per wall-clock second; 0 runs as fast as possible.", 0, 1e6)
        .Number<double>("duration_secs", &SimulatorConfig::duration_secs, 0, "s",
                        "Simulated time after which the source finishes; 0 runs forever.", 0, 1e10)
        .String("start", &SimulatorConfig::start, "",
                "Event time of the first reading (ISO 8601); empty uses the clock's time at start.")
        .ObjectList("sensors", &SimulatorConfig::sensors, SensorSchema(), "The simulated sensors.", true)
        .Check([](const SimulatorConfig& c, const YAML::Node& node, Diagnostics& d) {
          TimeUs t;
          if (!c.start.empty() && !ParseTimestamp(c.start, &t))
            d.Error(node["start"], "'start' is not a valid timestamp: '" + c.start + "'");
          if (c.sensors.empty()) d.Error(node["sensors"], "'sensors' must list at least one sensor");
          std::set<std::string> ids;
          size_t i = 0;
          for (const auto& sc : c.sensors) {
            const std::string metric = sc.metric.empty() ? DefaultsFor(sc.kind).metric : sc.metric;
            if (!ids.insert(sc.id + "/" + metric).second)
              d.Error(node["sensors"][i], "duplicate simulated series '" + sc.id + "/" + metric + "'");
            ++i;
          }
        });
    return s;
  }();
  return *s;
}

SimulatedSensor::SimulatedSensor(const SimSensorConfig& cfg, uint64_t seed, TimeUs start)
    : cfg_(cfg), rng_(seed ^ Fnv1a(cfg.id) ^ (Fnv1a(cfg.metric) << 1)), start_(start) {
  KindDefaults k = DefaultsFor(cfg.kind);
  if (std::isnan(cfg_.base)) cfg_.base = k.base;
  if (std::isnan(cfg_.daily_amplitude)) cfg_.daily_amplitude = k.amplitude;
  if (std::isnan(cfg_.noise)) cfg_.noise = k.noise;
  if (cfg_.metric.empty()) cfg_.metric = k.metric;
  interval_ = std::max<TimeUs>(1, SecondsToUs(cfg_.interval_secs));
  sensor_ = Intern(cfg_.id);
  metric_ = Intern(cfg_.metric);
}

double SimulatedSensor::Sample(TimeUs t) {
  constexpr double kTwoPi = 2 * std::numbers::pi;
  const double elapsed_s = static_cast<double>(t - start_) / 1e6;
  // Hour of day in UTC drives the daily cycle (peak mid-afternoon).
  const double day_frac = static_cast<double>(((t / kUsPerSec) % 86400 + 86400) % 86400) / 86400.0;
  const double cycle = std::sin(kTwoPi * (day_frac - 0.375));  // max at 15:00
  const double n = normal_(rng_);
  double v;
  switch (cfg_.kind) {
    case SensorKind::kHumidity:
      v = cfg_.base - cfg_.daily_amplitude * cycle + cfg_.noise * n;
      v = std::clamp(v, 0.0, 100.0);
      break;
    case SensorKind::kVibration:
      v = std::max(0.0, cfg_.base + cfg_.daily_amplitude * std::max(0.0, cycle) + cfg_.noise * n);
      break;
    case SensorKind::kPower: {
      const double working = (day_frac > 0.25 && day_frac < 0.75) ? 1.0 : 0.0;
      v = std::max(0.0, cfg_.base + cfg_.daily_amplitude * working + cfg_.noise * n);
      break;
    }
    case SensorKind::kMotion: {
      const double p = std::clamp(cfg_.base + cfg_.daily_amplitude * std::max(0.0, cycle), 0.0, 1.0);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      v = u(rng_) < p ? 1.0 : 0.0;
      break;
    }
    case SensorKind::kAccelerometer: {
      const double w = kTwoPi * cfg_.shaft_hz * elapsed_s;
      v = cfg_.base + cfg_.daily_amplitude * (std::sin(w) + 0.3 * std::sin(2 * w)) + cfg_.noise * n;
      break;
    }
    case SensorKind::kTemperature:
    default:
      v = cfg_.base + cfg_.daily_amplitude * cycle + cfg_.noise * n;
      break;
  }
  v += cfg_.drift_per_hour * elapsed_s / 3600.0;
  bool stuck_now = false;
  for (const auto& f : cfg_.faults) {
    const double into = elapsed_s - f.at_secs;
    if (into < 0) continue;
    switch (f.type) {
      case FaultType::kSpike:
        if (into < f.duration_secs) v = cfg_.kind == SensorKind::kMotion ? 1.0 : v + f.magnitude;
        break;
      case FaultType::kDegrade:
        v += f.magnitude * (f.duration_secs > 0 ? std::min(1.0, into / f.duration_secs) : 1.0);
        break;
      case FaultType::kStuck:
        if (into < f.duration_secs) stuck_now = true;
        break;
      case FaultType::kBearing: {
        const double grown = f.duration_secs > 0 ? std::min(1.0, into / f.duration_secs) : 1.0;
        const double hz = f.frequency_hz > 0 ? f.frequency_hz : 3.57 * cfg_.shaft_hz;
        v += f.magnitude * grown * grown * std::sin(kTwoPi * hz * elapsed_s);
        break;
      }
    }
  }
  if (stuck_now) {
    if (!stuck_active_) {
      stuck_active_ = true;
      stuck_value_ = v;
    }
    return stuck_value_;
  }
  stuck_active_ = false;
  return v;
}

Result<std::unique_ptr<Source>> SimulatorSource::Create(const SimulatorConfig& cfg, const BuildContext& ctx) {
  auto s = std::make_unique<SimulatorSource>();
  s->cfg_ = cfg;
  s->fast_ = ctx.as_fast_as_possible || cfg.speed == 0;
  if (!cfg.start.empty()) {
    if (!ParseTimestamp(cfg.start, &s->start_)) return Status::Invalid("bad start time '" + cfg.start + "'");
    s->start_set_ = true;
  }
  return std::unique_ptr<Source>(std::move(s));
}

Status SimulatorSource::Run(SourceContext& ctx) {
  const TimeUs start = start_set_ ? start_ : ctx.clock->now();
  const TimeUs wall_start = ctx.clock->now();
  std::vector<SimulatedSensor> sensors;
  std::vector<TimeUs> next;
  for (const auto& sc : cfg_.sensors) {
    sensors.emplace_back(sc, static_cast<uint64_t>(cfg_.seed), start);
    next.push_back(start);
  }
  const TimeUs end = cfg_.duration_secs > 0 ? start + SecondsToUs(cfg_.duration_secs) : INT64_MAX;
  Batch batch;
  batch.readings.reserve(ctx.batch_size);
  uint64_t seq = 0;
  while (!ctx.stopping()) {
    size_t k = 0;
    for (size_t i = 1; i < next.size(); ++i)
      if (next[i] < next[k]) k = i;
    const TimeUs t = next[k];
    if (t >= end) break;
    if (!fast_) {
      const TimeUs due = wall_start + static_cast<TimeUs>(static_cast<double>(t - start) / cfg_.speed);
      if (due > ctx.clock->now()) {
        if (!batch.readings.empty()) ctx.emit(batch);
        if (!ctx.clock->sleep_until(due, *ctx.stop)) break;
      }
    }
    Reading r;
    r.ts = t;
    r.value = sensors[k].Sample(t);
    r.seq = ++seq;
    r.sensor = sensors[k].sensor();
    r.metric = sensors[k].metric();
    batch.readings.push_back(r);
    next[k] = t + sensors[k].interval();
    if (batch.readings.size() >= ctx.batch_size) ctx.emit(batch);
  }
  if (!batch.empty()) ctx.emit(batch);
  return Status::Ok();
}

}  // namespace edgeflow
