#include "engine/pipeline.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/testing.h"

namespace edgeflow {
namespace {

// Runs 40 readings of one sensor (60..69) through the pipeline in `yaml` and
// returns what reached the sinks.
Batch RunPipeline(const std::string& yaml) {
  PipelineConfig cfg;
  config::Diagnostics d("t");
  EXPECT_TRUE(ParsePipelineConfig(yaml, &cfg, d)) << d.Format();
  auto p = Pipeline::Build(cfg, BuildContext{});
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  Batch seen;
  if (!p.ok()) return seen;
  auto deliver = [&](size_t, const Batch& b) { AppendSelected(seen, b, EventMask{}); };
  Batch batch;
  for (int i = 0; i < 40; ++i)
    batch.readings.push_back(testing::R("s1", "temp", testing::kT0 + i * 1000, 60.0 + (i % 10)));
  (*p)->Process(0, batch, deliver);
  return seen;
}

// window -> rules -> sink, with the rule and the sinks' event kinds to fill in.
std::string Config(const std::string& when, const std::string& include) {
  return "sources: [{id: src, type: simulator, sensors: [{id: a}]}]\n"
         "processors:\n"
         "  - {id: w, type: window, inputs: [src], size_count: 10, forward_readings: false}\n"
         "  - {id: r, type: rules, inputs: [w], rules: [{id: hot, on: aggregates, emit: every, when: '" + when + "'}]}\n"
         "sinks:\n"
         "  - {id: out, type: file, inputs: [r], path: /dev/null, include: [" + include + "]}\n";
}

// Windows leave out the fields nothing downstream reads (the percentiles
// partition the values: they cost most); what rules read and whatever a sink
// takes are computed.
TEST(Pipeline, WindowsComputeTheFieldsRulesAndSinksRead) {
  // A sink that takes the aggregates gets every field, whatever the rules read.
  const Batch all = RunPipeline(Config("mean > 70", "aggregates"));
  ASSERT_EQ(all.aggregates.size(), 40u) << "a count window emits one aggregate per reading";
  size_t p95_high = 0, p50_high = 0;
  for (const auto& a : all.aggregates) {
    ASSERT_FALSE(std::isnan(a.field(AggField::kP50)) || std::isnan(a.field(AggField::kP95)));
    p95_high += a.field(AggField::kP95) > 68;
    p50_high += a.field(AggField::kP50) >= 64.5;
  }
  EXPECT_DOUBLE_EQ(all.aggregates.back().field(AggField::kP50), 64.5);
  ASSERT_GT(p95_high, 0u);
  ASSERT_GT(p50_high, 0u);
  // Rules on p95 or p50 fire exactly as often although no sink takes
  // aggregates: the fields they read are computed.
  EXPECT_EQ(RunPipeline(Config("p95 > 68", "alerts")).alerts.size(), p95_high);
  EXPECT_EQ(RunPipeline(Config("p50 >= 64.5", "alerts")).alerts.size(), p50_high);
}

}  // namespace
}  // namespace edgeflow
