#include "config/selector_options.h"
#include "processors/rules.h"

#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const std::vector<std::string>& RuleFields(RuleInput in) {
  static const std::vector<std::string> readings = {"value", "quality"};
  static const std::vector<std::string> aggregates = [] {
    std::vector<std::string> v;
    for (size_t i = 0; i < kNumAggFields; ++i) v.push_back(AggFieldName(static_cast<AggField>(i)));
    return v;
  }();
  return in == RuleInput::kReadings ? readings : aggregates;
}

const std::vector<std::pair<std::string, Severity>>& SeverityOptions() {
  static const std::vector<std::pair<std::string, Severity>> values = {
      {"info", Severity::kInfo}, {"warning", Severity::kWarning}, {"critical", Severity::kCritical}};
  return values;
}

static const Schema<RuleConfig>& RuleSchema() {
  static const auto* s = [] {
    auto* s = new Schema<RuleConfig>(
        "rule", "One alert rule. Expressions use `value` and `quality` (0 good, 1 uncertain, 2 bad) on readings, or "
                "`count`, `mean`, `min`, `max`, `stddev`, `p50`, `p95`, `rate`, `last` on aggregates; operators "
                "`+ - * /`, `< <= > >= == !=`, `and or not` (or `&& || !`), `abs()`, `min(,)`, `max(,)`.");
    s->String("id", &RuleConfig::id, "", "Rule name, carried by its alerts.", true)
        .Enum<RuleInput>("on", &RuleConfig::on, RuleInput::kReadings,
                         {{"readings", RuleInput::kReadings}, {"aggregates", RuleInput::kAggregates}},
                         "Evaluate on each reading or on each window aggregate.");
    WithSelectorOptions(*s)
        .String("window", &RuleConfig::window, "", "For `on: aggregates`: only aggregates of this window processor id.")
        .String("when", &RuleConfig::when, "", "Condition that raises the alert, e.g. `value > 80`.", true)
        .String("clear_when", &RuleConfig::clear_when, "",
                "Condition that clears it (hysteresis), e.g. `value < 75`; empty: when `when` no longer holds.")
        .Number<double>("for_secs", &RuleConfig::for_secs, 0, "s", "`when` must hold this long before the alert opens.", 0, 1e9)
        .Number<double>("clear_for_secs", &RuleConfig::clear_for_secs, 0, "s", "The clear condition must hold this long.", 0, 1e9)
        .Number<double>("cooldown_secs", &RuleConfig::cooldown_secs, 0, "s",
                        "Minimum time after a clear before the same series can alert again.", 0, 1e9)
        .Enum<Severity>("severity", &RuleConfig::severity, Severity::kWarning, SeverityOptions(), "Severity of the alert.")
        .Enum<RuleEmit>("emit", &RuleConfig::emit, RuleEmit::kTransitions,
                        {{"transitions", RuleEmit::kTransitions}, {"every", RuleEmit::kEveryMatch}},
                        "transitions: an alert opens and clears (with hysteresis, duration, cooldown); every: an alert "
                        "event for every matching reading or aggregate, with no state.")
        .Check([](const RuleConfig& r, const YAML::Node& n, Diagnostics& d) {
          if (r.emit == RuleEmit::kEveryMatch) {
            for (const char* key : {"clear_when", "for_secs", "clear_for_secs", "cooldown_secs"})
              if (n[key]) d.Error(n[key], std::string("rule '") + r.id + "': '" + key + "' applies to 'emit: transitions' only");
          }
          auto when = Expr::Compile(r.when, RuleFields(r.on));
          if (!when.ok()) d.Error(n["when"], "rule '" + r.id + "': " + when.status().message());
          if (!r.clear_when.empty()) {
            auto clear = Expr::Compile(r.clear_when, RuleFields(r.on));
            if (!clear.ok()) d.Error(n["clear_when"], "rule '" + r.id + "': " + clear.status().message());
          }
          if (!r.window.empty() && r.on != RuleInput::kAggregates)
            d.Error(n["window"], "rule '" + r.id + "': 'window' needs 'on: aggregates'");
        });
    return s;
  }();
  return *s;
}

const Schema<RulesConfig>& RulesSchema() {
  static const auto* s = [] {
    auto* s = new Schema<RulesConfig>("rules", "");
    s->ObjectList("rules", &RulesConfig::rules, RuleSchema(), "The rules, evaluated in order.", true)
        .Check([](const RulesConfig& c, const YAML::Node& n, Diagnostics& d) {
          std::set<std::string> ids;
          for (size_t i = 0; i < c.rules.size(); ++i)
            if (!ids.insert(c.rules[i].id).second) d.Error(n["rules"][i]["id"], "duplicate rule id '" + c.rules[i].id + "'");
        });
    return s;
  }();
  return *s;
}

std::string RulesToJson(const RulesConfig& cfg) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : cfg.rules) {
    nlohmann::json j = {{"id", r.id}, {"on", r.on == RuleInput::kReadings ? "readings" : "aggregates"}, {"when", r.when},
                        {"severity", SeverityName(r.severity)}, {"emit", r.emit == RuleEmit::kEveryMatch ? "every" : "transitions"}};
    if (!r.sensors.empty()) j["sensors"] = r.sensors;
    if (!r.metrics.empty()) j["metrics"] = r.metrics;
    if (!r.window.empty()) j["window"] = r.window;
    if (r.emit == RuleEmit::kTransitions) {
      if (!r.clear_when.empty()) j["clear_when"] = r.clear_when;
      if (r.for_secs > 0) j["for_secs"] = r.for_secs;
      if (r.clear_for_secs > 0) j["clear_for_secs"] = r.clear_for_secs;
      if (r.cooldown_secs > 0) j["cooldown_secs"] = r.cooldown_secs;
    }
    arr.push_back(j);
  }
  return arr.dump();
}

int RuleState::Step(const Params& p, TimeUs ts, bool when, bool clear) {
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kPending:
      if (!when) {
        phase_ = Phase::kIdle;
        return 0;
      }
      if (phase_ == Phase::kIdle) {
        phase_ = Phase::kPending;
        since_ = ts;
      }
      if (ts - since_ >= p.for_us && (cleared_at_ == INT64_MIN || ts - cleared_at_ >= p.cooldown_us)) {
        phase_ = Phase::kOpen;
        opened_at_ = ts;
        return +1;
      }
      return 0;
    case Phase::kOpen:
    case Phase::kClearing:
      if (!clear) {
        phase_ = Phase::kOpen;
        return 0;
      }
      if (phase_ == Phase::kOpen) {
        phase_ = Phase::kClearing;
        since_ = ts;
      }
      if (ts - since_ >= p.clear_for_us) {
        phase_ = Phase::kIdle;
        cleared_at_ = ts;
        return -1;
      }
      return 0;
  }
  return 0;
}

Result<std::unique_ptr<Processor>> RulesProcessor::Create(const RulesConfig& cfg, const BuildContext& ctx) {
  auto p = std::make_unique<RulesProcessor>();
  p->origin_ = ctx.component;
  for (const auto& rc : cfg.rules) {
    auto when = Expr::Compile(rc.when, RuleFields(rc.on));
    if (!when.ok()) return when.status();
    Expr clear;
    if (!rc.clear_when.empty()) {
      auto c = Expr::Compile(rc.clear_when, RuleFields(rc.on));
      if (!c.ok()) return c.status();
      clear = std::move(c).value();
    }
    Rule r{Intern(rc.id), rc.on, Selector(rc.sensors, rc.metrics),
           rc.window.empty() ? kNoSymbol : Intern(rc.window), std::move(when).value(), std::move(clear),
           !rc.clear_when.empty(),
           RuleState::Params{SecondsToUs(rc.for_secs), SecondsToUs(rc.clear_for_secs), SecondsToUs(rc.cooldown_secs)},
           rc.severity, rc.emit, {}};
    r.fields_used = r.when.fields_used() | (r.has_clear ? r.clear.fields_used() : 0);
    p->rules_.push_back(std::move(r));
  }
  return std::unique_ptr<Processor>(std::move(p));
}

std::vector<ComponentReference> RulesReferences(const std::any& cfg) {
  std::vector<ComponentReference> out;
  for (const auto& r : std::any_cast<const RulesConfig&>(cfg).rules)
    if (!r.window.empty()) out.push_back({r.window, "window", "rule '" + r.id + "'"});
  return out;
}

void RulesProcessor::Evaluate(Rule& rule, TimeUs ts, Symbol sensor, Symbol metric, const double* vars, Batch& out) {
  // A value that is not a number (a failed Modbus poll) says nothing about the
  // condition: every comparison with it is false, so it cleared open alerts
  // and they opened again on the next reading. Such a reading changes no state
  // of a rule that uses the value; a rule on `quality` alone still sees it.
  for (uint64_t m = rule.fields_used; m != 0; m &= m - 1)
    if (!std::isfinite(vars[std::countr_zero(m)])) return;
  const bool when = rule.when.Test(vars);
  int change = when ? +1 : 0;
  TimeUs opened_at = ts;
  if (rule.emit == RuleEmit::kTransitions) {
    const bool clear = rule.has_clear ? rule.clear.Test(vars) : !when;
    RuleState& st = rule.states[SeriesKey(sensor, metric)];
    change = st.Step(rule.params, ts, when, clear);
    opened_at = st.opened_at();
  }
  if (change == 0) return;
  AlertEvent a;
  a.ts = ts;
  a.opened_at = opened_at;
  a.value = rule.when.first_field() >= 0 ? vars[rule.when.first_field()] : 0.0;
  a.rule = rule.id;
  a.sensor = sensor;
  a.metric = metric;
  a.origin = origin_;
  a.state = change > 0 ? AlertState::kOpen : AlertState::kClear;
  a.severity = rule.severity;
  a.lasting = rule.emit == RuleEmit::kTransitions;
  out.alerts.push_back(a);
}

void RulesProcessor::Process(const Batch& in, Batch& out) {
  out.readings.insert(out.readings.end(), in.readings.begin(), in.readings.end());
  out.forward_events(in);
  for (Rule& rule : rules_) {
    if (rule.on == RuleInput::kReadings) {
      for (const Reading& r : in.readings) {
        if (!rule.sel.Matches(r.sensor, r.metric)) continue;
        const double vars[2] = {r.value, static_cast<double>(r.quality)};
        Evaluate(rule, r.ts, r.sensor, r.metric, vars, out);
      }
    } else {
      for (const Aggregate& a : in.aggregates) {
        if (rule.window != kNoSymbol && a.window != rule.window) continue;
        if (!rule.sel.Matches(a.sensor, a.metric)) continue;
        Evaluate(rule, a.end, a.sensor, a.metric, a.f.data(), out);
      }
    }
  }
}

// ---- anomaly ----------------------------------------------------------------

const Schema<AnomalyConfig>& AnomalySchema() {
  static const auto* s = [] {
    auto* s = new Schema<AnomalyConfig>("anomaly", "");
    WithSelectorOptions(*s)
        .Number<double>("alpha", &AnomalyConfig::alpha, 0.05, "", "EWMA weight of each new reading.", 0.0001, 1)
        .Number<double>("threshold", &AnomalyConfig::threshold, 4, "sigma", "z-score that opens an alert.", 0.1, 1000)
        .Number<double>("clear_threshold", &AnomalyConfig::clear_threshold, 2, "sigma", "z-score below which it clears.", 0, 1000)
        .Number<int64_t>("warmup", &AnomalyConfig::warmup, 30, "readings", "Readings per series before alerts can open.", 1, 100000000)
        .Bool("emit_scores", &AnomalyConfig::emit_scores, false,
              "Also emit a reading `<metric>_anomaly` with the score in [0,1] for every input reading.")
        .Enum<Severity>("severity", &AnomalyConfig::severity, Severity::kWarning, SeverityOptions(), "Severity of the alerts.")
        .Enum<std::string>("detector", &AnomalyConfig::detector, "ewma",
                           {{"ewma", "ewma"}, {"robust", "robust"}, {"change", "change"}, {"seasonal", "seasonal"},
                            {"knn", "knn"}, {"art", "art"}},
                           "ewma: z-score against an exponentially weighted mean (threshold in sigma); robust: median "
                           "and interquartile range of the last `window` readings; change: robust on the readings and "
                           "on their changes, whichever is more unusual; seasonal: change, and the reading against the "
                           "same time on the previous three days and on the previous three weeks; knn: distance of the last `dim` "
                           "readings to the nearest of the last `window` such patterns; art: learns the series' short shapes "
                           "(fuzzy adaptive resonance) and scores a shape unlike any seen, at that moment only "
                           "(docs/anomaly-detection.md).")
        .Number<int64_t>("window", &AnomalyConfig::window, 1000, "readings", "robust, change, seasonal and knn: history kept per series; art: shape categories kept "
                         "per series.",
                         8, 1000000)
        .Number<int64_t>("learn", &AnomalyConfig::learn, 750, "readings",
                         "art: readings per series learned before any score (the range, the downsampling step of "
                         "learn/104 readings and the first shapes).",
                         64, 10000000)
        .Number<double>("range_min", &AnomalyConfig::range_min, 0, "",
                        "art: the lowest value the series can take, when known (0 for a percentage); with "
                        "range_max. Both 0: the range seen while learning, with a quarter of it added on either side "
                        "(a value beyond it widens it).",
                        -1e300, 1e300)
        .Number<double>("range_max", &AnomalyConfig::range_max, 0, "", "art: the highest value the series can take, when known.",
                        -1e300, 1e300)
        .Number<int64_t>("dim", &AnomalyConfig::dim, 8, "readings", "knn: readings per pattern.", 1, 256)
        .Number<double>("score_threshold", &AnomalyConfig::score_threshold, 0.9, "",
                        "robust, change, seasonal, knn and art: score in [0,1] that opens an alert (art scores only "
                        "the reading that completes a new shape: its alert clears at the next reading unless that "
                        "completes another; 0.14 is the benchmark's threshold).", 0, 1)
        .Number<double>("score_clear", &AnomalyConfig::score_clear, 0.5, "",
                        "robust, change, seasonal, knn and art: score below which the alert clears.", 0, 1)
        .Number<double>("quiet_secs", &AnomalyConfig::quiet_secs, 0, "s",
                        "robust, change, seasonal, knn and art: report events, not levels — an alert opens only when the "
                        "score rises above every score of this span (and reaches score_threshold), and clears when "
                        "the score falls below score_clear; 0 = off (docs/anomaly-detection.md).",
                        0, 1e9)
        .Number<double>("escalate", &AnomalyConfig::escalate, 0, "",
                        "With quiet_secs: within escalate_secs of an alert, only a reading this many times as far "
                        "from normal opens another; 0 = off, else > 1.",
                        0, 100)
        .Number<double>("escalate_secs", &AnomalyConfig::escalate_secs, 12 * 3600, "s", "See escalate.", 0, 1e9)
        .Number<int64_t>("event_median", &AnomalyConfig::event_median, 0, "events",
                         "With quiet_secs: an event opens an alert only when it is at least as far from normal as "
                         "the median of the series' previous this many events; 0 = off.",
                         0, ml::kMaxEventMedian)
        .Check([](const AnomalyConfig& c, const YAML::Node& n, Diagnostics& d) {
          const bool events = c.quiet_secs > 0;
          if (events && c.quiet_secs < 0.001)
            d.Error(n["quiet_secs"], "anomaly: 'quiet_secs' must be 0 (off) or at least 0.001");
          if (events && c.detector == "ewma")
            d.Error(n["quiet_secs"], "anomaly: 'quiet_secs' needs a score detector (robust, change, seasonal, knn or art)");
          if (c.escalate != 0 && c.escalate <= 1) d.Error(n["escalate"], "anomaly: 'escalate' must be 0 (off) or above 1");
          if (!events && (c.escalate != 0 || c.event_median != 0))
            d.Error(n[c.escalate != 0 ? "escalate" : "event_median"], "anomaly: 'escalate' and 'event_median' need 'quiet_secs'");
          if (c.clear_threshold > c.threshold) d.Error(n["clear_threshold"], "anomaly: 'clear_threshold' must not exceed 'threshold'");
          if (c.score_clear > c.score_threshold)
            d.Error(n["score_clear"], "anomaly: 'score_clear' must not exceed 'score_threshold'");
          if (c.detector == "knn" && c.window <= c.dim) d.Error(n["window"], "anomaly: knn needs 'window' larger than 'dim'");
          if ((c.range_min != 0 || c.range_max != 0) && !(c.range_min < c.range_max))
            d.Error(n["range_max"], "anomaly: 'range_min' must be below 'range_max'");
        });
    return s;
  }();
  return *s;
}

namespace {

ml::DetectorConfig DetectorOf(const AnomalyConfig& c) {
  ml::DetectorConfig dc;
  dc.kind = c.detector;
  dc.window = c.window;
  dc.dim = c.dim;
  dc.learn = c.learn;
  dc.range_lo = c.range_min;
  dc.range_hi = c.range_max;
  dc.warmup = c.warmup;
  dc.quiet_time = static_cast<TimeUs>(c.quiet_secs * kUsPerSec);
  dc.escalate = c.escalate;
  dc.escalate_time = static_cast<TimeUs>(c.escalate_secs * kUsPerSec);
  dc.event_median = c.event_median;
  return dc;
}

}  // namespace

Result<std::unique_ptr<Processor>> AnomalyProcessor::Create(const AnomalyConfig& cfg, const BuildContext& ctx) {
  // The schema checks every option; a configuration built another way is
  // refused here rather than at the first reading.
  if (cfg.detector != "ewma") EF_RETURN_IF_ERROR(ml::ValidateDetector(DetectorOf(cfg)));
  auto p = std::make_unique<AnomalyProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->origin_ = ctx.component;
  return std::unique_ptr<Processor>(std::move(p));
}

double AnomalyProcessor::Update(Baseline& b, double x, double alpha, double threshold) {
  if (b.n == 0) {
    b.mean = x;
    b.var = 0;
    b.n = 1;
    return 0;
  }
  const double sd = std::sqrt(b.var);
  const double d = x - b.mean;
  // A floor on the deviation keeps a perfectly flat signal from turning
  // rounding noise into infinite z-scores.
  const double floor = 1e-9 + 1e-6 * std::fabs(b.mean);
  const double z = std::fabs(d) / std::max(sd, floor);
  const double a = z >= threshold ? alpha * 0.1 : alpha;
  b.mean += a * d;
  b.var = (1 - a) * (b.var + a * d * d);
  ++b.n;
  return z;
}

void AnomalyProcessor::Process(const Batch& in, Batch& out) {
  out.readings.insert(out.readings.end(), in.readings.begin(), in.readings.end());
  out.forward_events(in);
  for (const Reading& r : in.readings) {
    if (!sel_.Matches(r.sensor, r.metric)) continue;
    // A value that is not a number says nothing about the series; learning it
    // would leave the baseline NaN for good (no alert would open or clear).
    if (!std::isfinite(r.value)) continue;
    auto [it, fresh] = series_.try_emplace(SeriesKey(r.sensor, r.metric));
    Baseline& b = it->second;
    if (fresh && cfg_.emit_scores) b.score_metric = Intern(std::string(SymName(r.metric)) + "_anomaly");
    bool warm;
    double score, open_at, clear_below, level;
    if (cfg_.detector == "ewma") {
      warm = b.n >= cfg_.warmup;
      const double z = Update(b, r.value, cfg_.alpha, cfg_.threshold);
      score = warm ? 1.0 - std::exp2(-(z / cfg_.threshold) * (z / cfg_.threshold)) : 0.0;
      level = z;
      open_at = cfg_.threshold;
      clear_below = cfg_.clear_threshold;
    } else {
      auto& det = detectors_[it->first];
      if (!det) {
        det = std::move(ml::MakeDetector(DetectorOf(cfg_))).value();  // checked in Create
      }
      warm = ++b.n > cfg_.warmup;
      // With event reporting `reported` is 0 except where an event reports;
      // the alert opens there and clears on the score itself.
      const double reported = det->Score(r.ts, r.value);
      score = det->last_score();
      level = cfg_.quiet_secs > 0 && !b.open ? reported : score;
      open_at = cfg_.score_threshold;
      clear_below = cfg_.score_clear;
    }
    if (cfg_.emit_scores) {
      Reading s = r;
      s.metric = b.score_metric;
      s.value = score;
      out.readings.push_back(s);
    }
    if (!warm) continue;
    AlertEvent a;
    a.ts = r.ts;
    a.value = r.value;
    a.rule = origin_;
    a.sensor = r.sensor;
    a.metric = r.metric;
    a.origin = origin_;
    a.severity = cfg_.severity;
    if (!b.open && level >= open_at) {
      b.open = true;
      b.opened_at = r.ts;
      a.state = AlertState::kOpen;
      a.opened_at = r.ts;
      out.alerts.push_back(a);
    } else if (b.open && level < clear_below) {
      b.open = false;
      a.state = AlertState::kClear;
      a.opened_at = b.opened_at;
      out.alerts.push_back(a);
    }
  }
}

AggFieldSet RulesProcessor::AggregateFieldsUsed() const {
  // Aggregate rules see the fields in AggField order (RuleFields).
  uint64_t m = 0;
  for (const auto& r : rules_)
    if (r.on == RuleInput::kAggregates) m |= r.when.fields_used() | (r.has_clear ? r.clear.fields_used() : 0);
  return static_cast<AggFieldSet>(m) & kAllAggFields;
}

}  // namespace edgeflow
