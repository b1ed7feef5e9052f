#include "config/selector_options.h"
#include "processors/filters.h"

#include <cmath>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

// ---- deadband ---------------------------------------------------------------

const Schema<DeadbandConfig>& DeadbandSchema() {
  static const auto* s = [] {
    auto* s = new Schema<DeadbandConfig>("deadband", "");
    WithSelectorOptions(*s)
        .Number<double>("absolute", &DeadbandConfig::absolute, 0, "sensor unit",
                        "Pass a reading when it differs from the last passed one by at least this much; 0 disables.", 0, 1e300)
        .Number<double>("percent", &DeadbandConfig::percent, 0, "%",
                        "Pass a reading when it differs by at least this percentage of the last passed value; 0 disables.", 0, 1e6)
        .Number<double>("max_silence_secs", &DeadbandConfig::max_silence_secs, 0, "s",
                        "Pass a reading anyway when none passed for this long (heartbeat); 0 disables.", 0, 1e9)
        .Check([](const DeadbandConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.absolute == 0 && c.percent == 0) d.Error(n, "deadband: set 'absolute' or 'percent' (or both)");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Processor>> DeadbandProcessor::Create(const DeadbandConfig& cfg, const BuildContext&) {
  auto p = std::make_unique<DeadbandProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->max_silence_ = SecondsToUs(cfg.max_silence_secs);
  return std::unique_ptr<Processor>(std::move(p));
}

void DeadbandProcessor::Process(const Batch& in, Batch& out) {
  out.forward_events(in);
  for (const Reading& r : in.readings) {
    if (!sel_.Matches(r.sensor, r.metric)) {
      out.readings.push_back(r);
      continue;
    }
    auto [it, fresh] = last_.try_emplace(SeriesKey(r.sensor, r.metric), Last{r.value, r.ts, r.quality});
    bool pass = fresh;
    if (!fresh) {
      Last& l = it->second;
      const double diff = std::fabs(r.value - l.value);
      // A value that is not a number is a change from a number and back, and
      // no change from another one (after a NaN every difference is NaN: the
      // series stayed silent for good).
      const bool was = std::isfinite(l.value), is = std::isfinite(r.value);
      const bool changed = was && is ? (cfg_.absolute > 0 && diff >= cfg_.absolute) ||
                                           (cfg_.percent > 0 && diff > 0 && diff >= std::fabs(l.value) * cfg_.percent / 100.0)
                                     : was != is;
      pass = changed || (max_silence_ > 0 && r.ts - l.ts >= max_silence_) || r.quality != l.quality;
      if (pass) l = Last{r.value, r.ts, r.quality};
    }
    if (pass) out.readings.push_back(r);
  }
}

// ---- downsample -------------------------------------------------------------

const Schema<DownsampleConfig>& DownsampleSchema() {
  static const auto* s = [] {
    auto* s = new Schema<DownsampleConfig>("downsample", "");
    WithSelectorOptions(*s)
        .Number<double>("interval_secs", &DownsampleConfig::interval_secs, 1, "s",
                        "Event-time interval; at most one reading per series per interval leaves.", 0.000001, 1e9)
        .Enum<DownsampleMode>("mode", &DownsampleConfig::mode, DownsampleMode::kFirst,
                              {{"first", DownsampleMode::kFirst}, {"last", DownsampleMode::kLast},
                               {"mean", DownsampleMode::kMean}, {"min", DownsampleMode::kMin}, {"max", DownsampleMode::kMax}},
                              "first: rate limit, passes the first reading of each interval at once; last/mean/min/max: "
                              "one reading per interval, emitted when the next interval begins (stamped at the interval start).");
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Processor>> DownsampleProcessor::Create(const DownsampleConfig& cfg, const BuildContext& ctx) {
  auto p = std::make_unique<DownsampleProcessor>();
  p->cfg_ = cfg;
  p->origin_ = ctx.component;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->interval_ = std::max<TimeUs>(1, SecondsToUs(cfg.interval_secs));
  return std::unique_ptr<Processor>(std::move(p));
}

void DownsampleProcessor::Emit(Bucket& b, Batch& out) {
  if (b.n == 0) return;
  Reading r = b.rep;
  r.ts = b.start;
  if (cfg_.mode == DownsampleMode::kMean) r.value = b.sum / static_cast<double>(b.n);
  out.readings.push_back(r);
  b.n = 0;
}

void DownsampleProcessor::Process(const Batch& in, Batch& out) {
  out.forward_events(in);
  for (const Reading& r : in.readings) {
    if (!sel_.Matches(r.sensor, r.metric)) {
      out.readings.push_back(r);
      continue;
    }
    TimeUs start = r.ts - ((r.ts % interval_) + interval_) % interval_;
    Bucket& b = buckets_[SeriesKey(r.sensor, r.metric)];
    // A reading of an interval already emitted is late, and said so (it was
    // dropped without a trace); one of the current interval that is not kept
    // is what downsampling is for.
    if (start < b.start) {
      out.dead_letters.push_back({r, origin_, "late", {}});
      continue;
    }
    // A value that is not a number (a failed poll) goes on as it is, and is
    // left out of the interval: one NaN made its mean NaN.
    if (!std::isfinite(r.value)) {
      out.readings.push_back(r);
      continue;
    }
    if (cfg_.mode == DownsampleMode::kFirst) {
      if (start > b.start) {
        b.start = start;
        out.readings.push_back(r);
      }
      continue;
    }
    if (start > b.start) {
      Emit(b, out);
      b.start = start;
      b.sum = 0;
    }
    if (b.n == 0) b.rep = r;
    switch (cfg_.mode) {
      case DownsampleMode::kLast: b.rep = r; break;
      case DownsampleMode::kMin: if (r.value < b.rep.value) b.rep = r; break;
      case DownsampleMode::kMax: if (r.value > b.rep.value) b.rep = r; break;
      default: break;
    }
    b.sum += r.value;
    ++b.n;
  }
}

void DownsampleProcessor::Flush(Batch& out) {
  for (auto& [k, b] : buckets_) Emit(b, out);
}

// ---- scale ------------------------------------------------------------------

namespace {
struct Unit {
  const char* name;
  const char* dimension;
  double a, b;  // SI = value * a + b
};
constexpr Unit kUnits[] = {
    {"degC", "temperature", 1, 273.15},       {"degF", "temperature", 5.0 / 9.0, 273.15 - 32 * 5.0 / 9.0},
    {"K", "temperature", 1, 0},               {"Pa", "pressure", 1, 0},
    {"hPa", "pressure", 100, 0},              {"kPa", "pressure", 1000, 0},
    {"bar", "pressure", 1e5, 0},              {"mbar", "pressure", 100, 0},
    {"psi", "pressure", 6894.757293168361, 0}, {"W", "power", 1, 0},
    {"kW", "power", 1e3, 0},                  {"MW", "power", 1e6, 0},
    {"Wh", "energy", 3600, 0},                {"kWh", "energy", 3.6e6, 0},
    {"J", "energy", 1, 0},                    {"m/s", "speed", 1, 0},
    {"mm/s", "speed", 1e-3, 0},               {"in/s", "speed", 0.0254, 0},
    {"km/h", "speed", 1 / 3.6, 0},            {"m", "length", 1, 0},
    {"mm", "length", 1e-3, 0},                {"in", "length", 0.0254, 0},
    {"ft", "length", 0.3048, 0},              {"V", "voltage", 1, 0},
    {"mV", "voltage", 1e-3, 0},               {"A", "current", 1, 0},
    {"mA", "current", 1e-3, 0},               {"ratio", "fraction", 1, 0},
    {"%", "fraction", 0.01, 0},               {"ppm", "fraction", 1e-6, 0},
    {"g", "acceleration", 9.80665, 0},        {"m/s2", "acceleration", 1, 0},
    {"L/min", "flow", 1.0 / 60000, 0},        {"m3/h", "flow", 1.0 / 3600, 0},
};
const Unit* FindUnit(const std::string& n) {
  for (const auto& u : kUnits)
    if (n == u.name) return &u;
  return nullptr;
}
}  // namespace

std::string KnownUnits() {
  std::string s;
  for (const auto& u : kUnits) s += (s.empty() ? "" : ", ") + std::string(u.name);
  return s;
}

bool UnitConversion(const std::string& from, const std::string& to, double* a, double* b) {
  const Unit* f = FindUnit(from);
  const Unit* t = FindUnit(to);
  if (!f || !t || std::string_view(f->dimension) != t->dimension) return false;
  // SI = v*fa + fb; v_to = (SI - tb)/ta
  *a = f->a / t->a;
  *b = (f->b - t->b) / t->a;
  return true;
}

const Schema<ScaleConfig>& ScaleSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ScaleConfig>("scale", "");
    WithSelectorOptions(*s)
        .String("from", &ScaleConfig::from, "", "Unit of the incoming values (with `to`), e.g. degF, psi, W.")
        .String("to", &ScaleConfig::to, "", "Unit to convert to, e.g. degC, kPa, kW.")
        .Number<double>("factor", &ScaleConfig::factor, 1, "", "Multiplier applied after unit conversion.")
        .Number<double>("offset", &ScaleConfig::offset, 0, "", "Added after the multiplier.")
        .String("rename_metric", &ScaleConfig::rename_metric, "", "New metric name for converted readings; empty keeps it.")
        .Check([](const ScaleConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.from.empty() != c.to.empty()) {
            d.Error(n, "scale: 'from' and 'to' must be given together");
            return;
          }
          double a, b;
          if (!c.from.empty() && !UnitConversion(c.from, c.to, &a, &b))
            d.Error(n["from"], "scale: cannot convert '" + c.from + "' to '" + c.to + "' (known units: " + KnownUnits() + ")");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Processor>> ScaleProcessor::Create(const ScaleConfig& cfg, const BuildContext&) {
  auto p = std::make_unique<ScaleProcessor>();
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  double a = 1, b = 0;
  if (!cfg.from.empty() && !UnitConversion(cfg.from, cfg.to, &a, &b))
    return Status::Invalid("cannot convert " + cfg.from + " to " + cfg.to);
  p->a_ = a * cfg.factor;
  p->b_ = b * cfg.factor + cfg.offset;
  if (!cfg.rename_metric.empty()) p->rename_ = Intern(cfg.rename_metric);
  return std::unique_ptr<Processor>(std::move(p));
}

void ScaleProcessor::Process(const Batch& in, Batch& out) {
  out.forward_events(in);
  out.readings.reserve(out.readings.size() + in.readings.size());
  for (Reading r : in.readings) {
    if (sel_.Matches(r.sensor, r.metric)) {
      r.value = r.value * a_ + b_;
      if (rename_ != kNoSymbol) r.metric = rename_;
    }
    out.readings.push_back(r);
  }
}

}  // namespace edgeflow
