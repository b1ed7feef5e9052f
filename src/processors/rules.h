#pragma once
// `rules`: alert rules over readings or window aggregates.
//
// Each rule has a `when` expression and an optional `clear_when` (hysteresis;
// default: `when` no longer holds). An alert opens after `when` held for
// `for_secs` (event time) and clears after `clear_when` held for
// `clear_for_secs`; a new alert for the same series cannot open within
// `cooldown_secs` of the previous clear. State is per (rule, sensor, metric).
// Open and clear transitions are emitted as AlertEvents. With `emit: every`
// there is no state: every reading or aggregate that matches `when` emits an
// alert event (state "open") — a notification per matching reading.
#include <any>
#include <unordered_map>

#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"
#include "ml/detectors.h"
#include "processors/expr.h"

namespace edgeflow {

enum class RuleInput { kReadings, kAggregates };
enum class RuleEmit { kTransitions, kEveryMatch };

struct RuleConfig {
  std::string id;
  RuleInput on = RuleInput::kReadings;
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  std::string window;
  std::string when;
  std::string clear_when;
  double for_secs = 0;
  double clear_for_secs = 0;
  double cooldown_secs = 0;
  Severity severity = Severity::kWarning;
  RuleEmit emit = RuleEmit::kTransitions;
};

struct RulesConfig {
  std::vector<RuleConfig> rules;
};
const config::Schema<RulesConfig>& RulesSchema();
// The window processors the rules' `window:` options name.
std::vector<ComponentReference> RulesReferences(const std::any& cfg);
// The rules as JSON objects with the option names of the schema (what
// GET /api/v1/rules shows and PUT accepts).
std::string RulesToJson(const RulesConfig& cfg);
// Names usable in expressions for each input.
const std::vector<std::string>& RuleFields(RuleInput in);

// The state machine of one rule for one series; exposed for unit tests.
class RuleState {
 public:
  enum class Phase : uint8_t { kIdle, kPending, kOpen, kClearing };
  struct Params {
    TimeUs for_us = 0, clear_for_us = 0, cooldown_us = 0;
  };
  // Feeds one evaluation. Returns +1 when the alert opens, -1 when it clears, 0 otherwise.
  int Step(const Params& p, TimeUs ts, bool when, bool clear);
  Phase phase() const { return phase_; }
  TimeUs opened_at() const { return opened_at_; }

 private:
  Phase phase_ = Phase::kIdle;
  TimeUs since_ = 0;
  TimeUs opened_at_ = 0;
  TimeUs cleared_at_ = INT64_MIN;
};

class RulesProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const RulesConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;
  AggFieldSet AggregateFieldsUsed() const override;

 private:
  struct Rule {
    Symbol id;
    RuleInput on;
    Selector sel;
    Symbol window;  // kNoSymbol: any
    Expr when, clear;
    bool has_clear;
    RuleState::Params params;
    Severity severity;
    RuleEmit emit;
    std::unordered_map<uint64_t, RuleState> states;
    uint64_t fields_used = 0;  // of `when` and `clear`: bit i for field i
  };
  void Evaluate(Rule& rule, TimeUs ts, Symbol sensor, Symbol metric, const double* vars, Batch& out);

  std::vector<Rule> rules_;
  Symbol origin_ = kNoSymbol;
};

struct AnomalyConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  double alpha = 0.05;
  double threshold = 4;
  double clear_threshold = 2;
  int64_t warmup = 30;
  bool emit_scores = false;
  Severity severity = Severity::kWarning;
  std::string detector = "ewma";  // ewma | robust | change | seasonal | knn | art (src/ml/detectors.h)
  int64_t window = 1000;
  int64_t dim = 8;
  int64_t learn = 750;
  double range_min = 0;  // art: the series' known range; both 0: learned
  double range_max = 0;
  double score_threshold = 0.9;
  double score_clear = 0.5;
  // Event reporting (robust, change, seasonal, knn, art): 0 = off.
  double quiet_secs = 0;
  double escalate = 0;
  double escalate_secs = 12 * 3600;
  int64_t event_median = 0;
};
const config::Schema<AnomalyConfig>& AnomalySchema();

// The `severity` option's values, for every stage that raises alerts.
const std::vector<std::pair<std::string, Severity>>& SeverityOptions();

// `anomaly`: per-series streaming detector on an exponentially weighted mean
// and variance (EWMA z-score). score = 1 - 2^-(z/threshold)^2, in [0,1), 0.5
// at the threshold. Opens an alert when z >= threshold after `warmup`
// readings and clears it when z < clear_threshold. Readings far from the
// baseline update it with a tenth of the weight, so a fault does not quickly
// become the new normal.
class AnomalyProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const AnomalyConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;

  struct Baseline {
    double mean = 0, var = 0;
    int64_t n = 0;
    bool open = false;
    TimeUs opened_at = 0;
    Symbol score_metric = kNoSymbol;
  };
  // z-score of `x` against the baseline, then updates the baseline.
  static double Update(Baseline& b, double x, double alpha, double threshold);

 private:
  AnomalyConfig cfg_;
  Selector sel_;
  Symbol origin_ = kNoSymbol;
  std::unordered_map<uint64_t, Baseline> series_;
  std::unordered_map<uint64_t, std::unique_ptr<ml::Detector>> detectors_;  // robust, knn
};

}  // namespace edgeflow
