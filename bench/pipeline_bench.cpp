// Hot-path micro-benchmarks. Throughput is reported as items (readings) per
// second; compare runs on the same machine as ratios.
#include <benchmark/benchmark.h>

#include "core/testing.h"
#include "core/timefmt.h"
#include "engine/pipeline.h"
#include "processors/expr.h"
#include "processors/window.h"

namespace edgeflow {
namespace {

std::unique_ptr<Pipeline> Build(const std::string& yaml) {
  PipelineConfig cfg;
  config::Diagnostics d("bench");
  if (!ParsePipelineConfig(yaml, &cfg, d)) {
    fprintf(stderr, "%s", d.Format().c_str());
    abort();
  }
  return std::move(Pipeline::Build(cfg, BuildContext{})).value();
}

void FillBatch(Batch& b, TimeUs& t, size_t n, int sensors) {
  static const Symbol names[] = {Intern("s0"), Intern("s1"), Intern("s2"), Intern("s3"), Intern("s4"), Intern("s5"),
                                 Intern("s6"), Intern("s7")};
  static const Symbol metric = Intern("temperature");
  b.readings.resize(n);
  for (size_t i = 0; i < n; ++i) {
    t += 1000;
    Reading& r = b.readings[i];
    r.ts = t;
    r.sensor = names[i % static_cast<size_t>(sensors)];
    r.metric = metric;
    r.value = 20.0 + static_cast<double>((i * 7919) % 1000) * 0.07;
    r.seq = i;
  }
}

// validate -> window -> threshold rule, the core analytics path (issue target: >= 5M readings/s/core).
void BM_ValidateWindowThreshold(benchmark::State& state) {
  auto p = Build(R"(
sources: [{id: src, type: simulator, sensors: [{id: a}]}]
processors:
  - {id: v, type: validate, inputs: [src], max_future_secs: 0, ranges: [{min: -40, max: 200}]}
  - {id: w, type: window, inputs: [v], size_secs: 10}
  - id: r
    type: rules
    inputs: [w]
    rules:
      - {id: hot, when: value > 85, clear_when: value < 80, for_secs: 0.005}
      - {id: avg, on: aggregates, when: mean > 60}
sinks: [{id: out, type: file, inputs: [r]}]
)");
  Batch b;
  TimeUs t = testing::kT0;
  uint64_t alerts = 0;
  auto deliver = [&](size_t, const Batch& out) { alerts += out.alerts.size(); };
  for (auto _ : state) {
    state.PauseTiming();
    FillBatch(b, t, 1024, 8);
    state.ResumeTiming();
    p->Process(0, b, deliver);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  benchmark::DoNotOptimize(alerts);
}
BENCHMARK(BM_ValidateWindowThreshold);

void BM_WindowOnly(benchmark::State& state) {
  WindowConfig c;
  WindowSchema().SetDefaults(c);
  c.size_secs = static_cast<double>(state.range(0));
  auto w = std::move(WindowProcessor::Create(c, BuildContext{})).value();
  Batch b, out;
  TimeUs t = testing::kT0;
  for (auto _ : state) {
    state.PauseTiming();
    FillBatch(b, t, 1024, 8);
    out.clear();
    state.ResumeTiming();
    w->Process(b, out);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_WindowOnly)->Arg(1)->Arg(60);

void BM_ExprEval(benchmark::State& state) {
  auto e = std::move(Expr::Compile("mean > 60 and stddev < 2 or max - min > 15", {"mean", "stddev", "max", "min"})).value();
  double vars[4] = {61, 1, 80, 70};
  for (auto _ : state) {
    vars[0] += 1e-9;
    benchmark::DoNotOptimize(e.Test(vars));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExprEval);

void BM_ParseTimestamp(benchmark::State& state) {
  TimeUs t;
  for (auto _ : state) benchmark::DoNotOptimize(ParseTimestamp("2013-12-02 21:15:00", &t));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseTimestamp);

}  // namespace
}  // namespace edgeflow
