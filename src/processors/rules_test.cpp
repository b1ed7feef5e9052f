#include "processors/rules.h"

#include "engine/pipeline_config.h"

#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;

std::unique_ptr<Processor> MakeRules(std::vector<RuleConfig> rules) {
  RulesConfig c;
  c.rules = std::move(rules);
  BuildContext ctx;
  ctx.component = Intern("rules");
  auto p = RulesProcessor::Create(c, ctx);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

RuleConfig Rule(const std::string& when, const std::string& clear = "") {
  RuleConfig r;
  r.id = "hot";
  r.when = when;
  r.clear_when = clear;
  return r;
}

// Feeds one reading per element (1 s apart) and returns +1/-1/0 per step.
std::string Trace(Processor& p, const std::vector<double>& values, double step = 1) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    Batch in, out;
    in.readings.push_back(R("oven", "temp", At(static_cast<double>(i) * step), values[i]));
    p.Process(in, out);
    if (out.alerts.empty()) s += '.';
    for (auto& a : out.alerts) s += a.state == AlertState::kOpen ? 'O' : 'C';
  }
  return s;
}

TEST(Expr, EvaluatesWithPrecedence) {
  auto e = Expr::Compile("mean > 2 * 3 and not (max - min > 10) || abs(rate) >= max(1, 2)", {"mean", "max", "min", "rate"});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  double v1[] = {7, 10, 5, 0};
  EXPECT_TRUE(e->Test(v1));
  double v2[] = {7, 30, 5, 0};
  EXPECT_FALSE(e->Test(v2));
  double v3[] = {0, 30, 5, -2};
  EXPECT_TRUE(e->Test(v3));
  EXPECT_EQ(e->first_field(), 0);
}

TEST(Expr, ErrorsNameTheProblem) {
  auto e = Expr::Compile("value > tempreature", {"value"});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("unknown field 'tempreature'"), std::string::npos);
  EXPECT_NE(e.status().message().find("column 9"), std::string::npos) << e.status().message();
  EXPECT_FALSE(Expr::Compile("(value > 3", {"value"}).ok());
  EXPECT_FALSE(Expr::Compile("value >", {"value"}).ok());
  EXPECT_FALSE(Expr::Compile("value > 3 3", {"value"}).ok());
}

TEST(Expr, HugeOrDeeplyNestedExpressionsAreRefusedNotOverflowed) {
  // Each of these overflowed the parser's stack (a crash of the daemon on PUT /api/v1/rules).
  auto huge = Expr::Compile(std::string(100000, '(') + "value" + std::string(100000, ')'), {"value"});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("at most 4096"), std::string::npos) << huge.status().message();
  auto nested = Expr::Compile(std::string(150, '(') + "value" + std::string(150, ')'), {"value"});
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("nested more than 100 levels"), std::string::npos);
  EXPECT_FALSE(Expr::Compile(std::string(3000, '!') + "value", {"value"}).ok());
  EXPECT_FALSE(Expr::Compile(std::string(3000, '-') + "value > 1", {"value"}).ok());
  // Within the limits: 90 levels, and the longest chain of conditions, compile and evaluate.
  auto deep = Expr::Compile(std::string(90, '(') + "-value" + std::string(90, ')') + " < 0", {"value"});
  ASSERT_TRUE(deep.ok()) << deep.status().message();
  double v[] = {1};
  EXPECT_TRUE(deep->Test(v));
  std::string chain = "value > 0";
  while (chain.size() + 16 <= 4096) chain += " and value > 0";
  auto longest = Expr::Compile(chain, {"value"});
  ASSERT_TRUE(longest.ok()) << longest.status().message();
  EXPECT_TRUE(longest->Test(v));
}

TEST(Rules, ThresholdWithHysteresis) {
  auto p = MakeRules({Rule("value > 80", "value < 75")});
  // 81 opens; 78 is between: stays open; 74 clears; 79 does not reopen.
  EXPECT_EQ(Trace(*p, {70, 81, 85, 78, 76, 74, 79, 81}), ".O...C.O");
}

TEST(Rules, DefaultClearIsNegationOfWhen) {
  auto p = MakeRules({Rule("value > 80")});
  EXPECT_EQ(Trace(*p, {81, 80, 81}), "OCO");
}

// A reading that is not a number (a failed poll) neither clears nor opens:
// every comparison with NaN is false, so it cleared the alert and the next
// reading opened it again.
TEST(Rules, ANonFiniteValueChangesNoState) {
  auto p = MakeRules({Rule("value > 80")});
  EXPECT_EQ(Trace(*p, {90, NAN, 90, INFINITY, -INFINITY, 70}), "O....C");
  auto q = MakeRules({Rule("value > 80", "value < 70")});
  EXPECT_EQ(Trace(*q, {NAN, 90, NAN, 60}), ".O.C");
  // A rule on quality alone still sees such readings.
  auto bad = MakeRules({Rule("quality != 0")});
  Batch in, out;
  Reading r;
  r.sensor = Intern("s");
  r.metric = Intern("m");
  r.ts = 1;
  r.value = NAN;
  r.quality = Quality::kBad;
  in.readings.push_back(r);
  bad->Process(in, out);
  ASSERT_EQ(out.alerts.size(), 1u);
  EXPECT_EQ(out.alerts[0].state, AlertState::kOpen);
}

TEST(Rules, MinimumDuration) {
  RuleConfig r = Rule("value > 80");
  r.for_secs = 3;
  auto p = MakeRules({r});
  // Above at t=1,2 then dips: no alert. Above from t=4: opens at t=7 (3 s later).
  EXPECT_EQ(Trace(*p, {70, 90, 90, 70, 90, 90, 90, 90, 70}), ".......OC");
}

TEST(Rules, ClearDuration) {
  RuleConfig r = Rule("value > 80");
  r.clear_for_secs = 2;
  auto p = MakeRules({r});
  EXPECT_EQ(Trace(*p, {90, 70, 90, 70, 70, 70}), "O....C");
}

TEST(Rules, Cooldown) {
  RuleConfig r = Rule("value > 80");
  r.cooldown_secs = 5;
  auto p = MakeRules({r});
  // Clears at t=1; above again at t=2..: may reopen only at t>=6.
  EXPECT_EQ(Trace(*p, {90, 70, 90, 90, 90, 90, 90, 90}), "OC....O.");
}

TEST(Rules, EmitEveryMatchHasNoState) {
  RuleConfig r = Rule("value > 80");
  r.emit = RuleEmit::kEveryMatch;
  auto p = MakeRules({r});
  EXPECT_EQ(Trace(*p, {81, 85, 70, 90}), "OO.O");
  Batch in, out;
  in.readings.push_back(R("oven", "temp", At(9), 99));
  p->Process(in, out);
  ASSERT_EQ(out.alerts.size(), 1u);
  EXPECT_FALSE(out.alerts[0].lasting) << "a one-off event: it never clears";
  auto t = MakeRules({Rule("value > 80")});
  Batch out2;
  t->Process(in, out2);
  ASSERT_EQ(out2.alerts.size(), 1u);
  EXPECT_TRUE(out2.alerts[0].lasting);
}

TEST(Rules, StatePerSeries) {
  auto p = MakeRules({Rule("value > 80")});
  Batch in, out;
  in.readings = {R("a", "t", At(0), 90), R("b", "t", At(0), 90), R("a", "t", At(1), 90)};
  p->Process(in, out);
  ASSERT_EQ(out.alerts.size(), 2u);
  EXPECT_EQ(out.alerts[0].sensor, Intern("a"));
  EXPECT_EQ(out.alerts[1].sensor, Intern("b"));
  EXPECT_EQ(out.alerts[0].severity, Severity::kWarning);
  EXPECT_EQ(out.alerts[0].value, 90);
  EXPECT_EQ(out.readings.size(), 3u);
}

TEST(Rules, OnAggregatesWithWindowFilter) {
  RuleConfig r = Rule("mean > 50 and stddev < 1");
  r.on = RuleInput::kAggregates;
  r.window = "w1";
  r.severity = Severity::kCritical;
  auto p = MakeRules({r});
  Batch in, out;
  Aggregate a;
  a.sensor = Intern("s");
  a.metric = Intern("m");
  a.window = Intern("w1");
  a.end = At(10);
  a.f[static_cast<size_t>(AggField::kMean)] = 60;
  a.f[static_cast<size_t>(AggField::kStddev)] = 0.5;
  Aggregate other = a;
  other.window = Intern("w2");
  in.aggregates = {other, a};
  p->Process(in, out);
  ASSERT_EQ(out.alerts.size(), 1u);
  EXPECT_EQ(out.alerts[0].ts, At(10));
  EXPECT_EQ(out.alerts[0].value, 60) << "the first field of the expression";
  EXPECT_EQ(out.alerts[0].severity, Severity::kCritical);
  EXPECT_EQ(out.aggregates.size(), 2u);
}

// An anomaly stage with the schema's defaults, then `set`'s changes.
std::unique_ptr<Processor> MakeAnomaly(const std::function<void(AnomalyConfig&)>& set) {
  AnomalyConfig c;
  AnomalySchema().SetDefaults(c);
  set(c);
  BuildContext ctx;
  ctx.component = Intern("anom");
  return std::move(AnomalyProcessor::Create(c, ctx)).value();
}

TEST(Anomaly, FlagsSpikeAfterWarmupAndClears) {
  auto p = MakeAnomaly([](AnomalyConfig& c) {
    c.warmup = 50;
    c.emit_scores = true;
  });
  Batch in, out;
  for (int i = 0; i < 200; ++i) in.readings.push_back(R("m", "v", At(i), 10 + 0.5 * std::sin(i)));
  in.readings.push_back(R("m", "v", At(200), 30));  // spike
  for (int i = 201; i < 210; ++i) in.readings.push_back(R("m", "v", At(i), 10 + 0.5 * std::sin(i)));
  p->Process(in, out);
  ASSERT_EQ(out.alerts.size(), 2u);
  EXPECT_EQ(out.alerts[0].state, AlertState::kOpen);
  EXPECT_EQ(out.alerts[0].ts, At(200));
  EXPECT_EQ(out.alerts[1].state, AlertState::kClear);
  // Scores are emitted beside the readings and peak at the spike.
  double max_score = 0, max_at = 0;
  for (auto& r : out.readings) {
    if (r.metric != Intern("v_anomaly")) continue;
    EXPECT_GE(r.value, 0);
    EXPECT_LE(r.value, 1);
    if (r.value > max_score) {
      max_score = r.value;
      max_at = static_cast<double>(r.ts);
    }
  }
  EXPECT_EQ(max_at, static_cast<double>(At(200)));
  EXPECT_GT(max_score, 0.9);
}

TEST(Anomaly, RobustAndKnnDetectorsOpenAndClearAlertsOnTheirScores) {
  for (const char* kind : {"robust", "change", "knn"}) {
    SCOPED_TRACE(kind);
    auto p = MakeAnomaly([&](AnomalyConfig& c) {
      c.detector = kind;
      c.window = 200;
      c.dim = 4;
      c.emit_scores = true;
    });
    Batch in, out;
    for (int i = 0; i < 400; ++i) in.readings.push_back(R("m", "v", At(i), 10 + 0.5 * std::sin(i / 5.0)));
    in.readings.push_back(R("m", "v", At(400), 40));  // spike
    for (int i = 401; i < 420; ++i) in.readings.push_back(R("m", "v", At(i), 10 + 0.5 * std::sin(i / 5.0)));
    p->Process(in, out);
    ASSERT_GE(out.alerts.size(), 2u);
    EXPECT_EQ(out.alerts[0].state, AlertState::kOpen);
    EXPECT_EQ(out.alerts[0].ts, At(400));
    EXPECT_EQ(out.alerts[1].state, AlertState::kClear);
    size_t scores = 0;
    for (auto& r : out.readings) scores += r.metric == Intern("v_anomaly");
    EXPECT_EQ(scores, 420u);
  }
}

TEST(Anomaly, EventReportingOpensOnceAnEventAndClearsOnTheScore) {
  // Equal spikes at 400, 520 and 640 s, and at 1000 s. Levels: every spike
  // opens an alert. Events with a 5-minute quiet span: the spikes at 520 and
  // 640 s are no larger than one within the last 5 minutes; 1000 s is a new
  // event.
  const auto opens = [](double quiet_secs) {
    auto p = MakeAnomaly([&](AnomalyConfig& c) {
      c.detector = "robust";
      c.window = 200;
      c.quiet_secs = quiet_secs;
      c.emit_scores = true;
    });
    Batch in, out;
    for (int i = 0; i < 1100; ++i) {
      const bool spike = i == 400 || i == 520 || i == 640 || i == 1000;
      in.readings.push_back(R("m", "v", At(i), 10 + 0.5 * std::sin(i / 5.0) + (spike ? 30 : 0)));
    }
    p->Process(in, out);
    std::vector<double> at;
    int clears = 0;
    for (const auto& a : out.alerts) {
      if (a.state == AlertState::kOpen) at.push_back(static_cast<double>(a.ts - At(0)) / kUsPerSec);
      else ++clears;
    }
    EXPECT_EQ(clears, static_cast<int>(at.size())) << "each alert clears when the score falls back";
    size_t scores = 0;
    for (auto& r : out.readings) scores += r.metric == Intern("v_anomaly") && r.value > 0;
    EXPECT_GT(scores, 500u) << "scores are emitted for every reading, not only for events";
    return at;
  };
  EXPECT_EQ(opens(0), (std::vector<double>{400, 520, 640, 1000}));
  EXPECT_EQ(opens(300), (std::vector<double>{400, 1000}));
}

TEST(Anomaly, DetectorOptionsAreChecked) {
  PipelineConfig cfg;
  config::Diagnostics d("c.yaml");
  EXPECT_FALSE(ParsePipelineConfig("sources: [{id: in, type: ingest}]\nprocessors:\n"
                                   "  - {id: a, type: anomaly, inputs: [in], detector: knn, window: 8, dim: 8, "
                                   "score_threshold: 0.4, score_clear: 0.6}\n"
                                   "  - {id: b, type: anomaly, inputs: [in], detector: forest}\n"
                                   "  - {id: c, type: anomaly, inputs: [in], quiet_secs: 3600}\n"
                                   "  - {id: f, type: anomaly, inputs: [in], detector: robust, quiet_secs: 0.0000001}\n"
                                   "  - {id: e, type: anomaly, inputs: [in], detector: seasonal, event_median: 5, escalate: 0.5}\n"
                                   "  - {id: g, type: anomaly, inputs: [in], detector: art, learn: 10}\n"
                                   "  - {id: h, type: anomaly, inputs: [in], detector: art, range_min: 5, range_max: 5}\n"
                                   "sinks: [{id: o, type: file, inputs: [a, b, c, e, f, g, h]}]\n",
                                   &cfg, d));
  const std::string e = d.Format();
  EXPECT_NE(e.find("knn needs 'window' larger than 'dim'"), std::string::npos) << e;
  EXPECT_NE(e.find("'score_clear' must not exceed 'score_threshold'"), std::string::npos) << e;
  EXPECT_NE(e.find("'detector' must be one of ewma, robust, change, seasonal, knn, art, got 'forest'"), std::string::npos) << e;
  EXPECT_NE(e.find("'quiet_secs' needs a score detector"), std::string::npos) << e;
  EXPECT_NE(e.find("'escalate' must be 0 (off) or above 1"), std::string::npos) << e;
  EXPECT_NE(e.find("'escalate' and 'event_median' need 'quiet_secs'"), std::string::npos) << e;
  EXPECT_NE(e.find("'quiet_secs' must be 0 (off) or at least 0.001"), std::string::npos) << e;
  EXPECT_NE(e.find("'learn'"), std::string::npos) << e;
  EXPECT_NE(e.find("'range_min' must be below 'range_max'"), std::string::npos) << e;
}

TEST(Anomaly, ArtTakesTheSeriesKnownRange) {
  // Noise of a few tenths around 20 %: with the range 0-100 % it is one
  // level and opens nothing; with a learned range its wiggles are shapes.
  const auto alerts = [](double lo, double hi) {
    auto p = MakeAnomaly([&](AnomalyConfig& c) {
      c.detector = "art";
      c.range_min = lo;
      c.range_max = hi;
      c.score_threshold = 0.25;
      c.score_clear = 0.1;
    });
    std::mt19937 rng(11);
    std::normal_distribution<double> noise(0, 0.4);
    Batch in, out;
    for (int i = 0; i < 4000; ++i) in.readings.push_back(R("m", "v", At(i), 20 + noise(rng)));
    p->Process(in, out);
    return out.alerts.size();
  };
  EXPECT_EQ(alerts(0, 100), 0u);
  EXPECT_GT(alerts(0, 0), 0u);
  // A configuration not built by the schema is checked all the same.
  AnomalyConfig c;
  AnomalySchema().SetDefaults(c);
  c.detector = "art";
  c.range_min = 5;
  c.range_max = 1;
  BuildContext ctx;
  auto made = AnomalyProcessor::Create(c, ctx);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("low end must be below"), std::string::npos) << made.status().message();
}

TEST(Anomaly, ArtOpensAnAlertAtANewShapeAndClearsItAtTheNextReading) {
  auto p = MakeAnomaly([](AnomalyConfig& c) {
    c.detector = "art";
    c.learn = 750;
    c.score_threshold = 0.25;
    c.score_clear = 0.1;
  });
  Batch in, out;
  for (int i = 0; i < 4000; ++i) {
    // A square wave with a period of 80 readings, then four times as fast.
    const int period = i < 3000 ? 80 : 20;
    in.readings.push_back(R("m", "v", At(i), (i / (period / 2)) % 2 ? 10 : 0));
  }
  p->Process(in, out);
  ASSERT_GE(out.alerts.size(), 2u);
  EXPECT_EQ(out.alerts[0].state, AlertState::kOpen);
  EXPECT_GE(out.alerts[0].ts, At(3000));
  EXPECT_LT(out.alerts[0].ts, At(3060));
  EXPECT_EQ(out.alerts[1].state, AlertState::kClear);
  EXPECT_EQ(out.alerts[1].ts, out.alerts[0].ts + kUsPerSec);
}

TEST(Anomaly, ANonFiniteValueIsSkippedNotLearned) {
  for (const char* kind : {"ewma", "robust", "seasonal"}) {
    SCOPED_TRACE(kind);
    auto p = MakeAnomaly([&](AnomalyConfig& c) {
      c.detector = kind;
      c.window = 100;
    });
    Batch in, out;
    for (int i = 0; i < 60; ++i) in.readings.push_back(R("m", "v", At(i), 20 + 0.1 * (i % 3)));
    in.readings.push_back(R("m", "v", At(60), std::numeric_limits<double>::quiet_NaN()));
    in.readings.push_back(R("m", "v", At(61), std::numeric_limits<double>::infinity()));
    for (int i = 62; i < 70; ++i) in.readings.push_back(R("m", "v", At(i), 20 + 0.1 * (i % 3)));
    in.readings.push_back(R("m", "v", At(70), 100));  // a real spike after them
    p->Process(in, out);
    EXPECT_EQ(out.readings.size(), 71u) << "every reading is passed on";
    ASSERT_FALSE(out.alerts.empty());
    EXPECT_EQ(out.alerts[0].ts, At(70)) << "the spike opens an alert; the NaN and inf did not";
  }
}

TEST(Anomaly, NoAlertsDuringWarmupOrOnSteadySignal) {
  AnomalyConfig c;
  AnomalySchema().SetDefaults(c);
  auto p = std::move(AnomalyProcessor::Create(c, BuildContext{})).value();
  Batch in, out;
  in.readings.push_back(R("m", "v", At(0), 10));
  in.readings.push_back(R("m", "v", At(1), 1000));  // inside warmup
  for (int i = 2; i < 500; ++i) in.readings.push_back(R("m", "v", At(i), 10));
  p->Process(in, out);
  EXPECT_TRUE(out.alerts.empty());
}

}  // namespace
}  // namespace edgeflow
