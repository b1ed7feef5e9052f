// Pins the "no heap allocation per reading" property of the hot path:
// validate -> window -> rules -> anomaly processes steady-state batches
// without a single call to operator new.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/testing.h"
#include "engine/pipeline.h"

#if defined(__SANITIZE_ADDRESS__)
#define EF_COUNT_ALLOCATIONS 0  // the sanitizer owns operator new
#else
#define EF_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};
}  // namespace

#if EF_COUNT_ALLOCATIONS
void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    // EF_TRAP=1 under gdb shows where an allocation came from.
    if (std::getenv("EF_TRAP")) __builtin_trap();
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace edgeflow {
namespace {

TEST(HotPath, NoHeapAllocationPerReadingInSteadyState) {
  if (!EF_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  PipelineConfig cfg;
  config::Diagnostics d("hot");
  ASSERT_TRUE(ParsePipelineConfig(R"(
sources:
  - {id: src, type: simulator, sensors: [{id: a}]}
processors:
  - {id: v, type: validate, inputs: [src], max_future_secs: 0, ranges: [{min: -100, max: 1000}]}
  - {id: w, type: window, inputs: [v], size_secs: 1, slide_secs: 0.5}
  - id: r
    type: rules
    inputs: [w]
    rules:
      - {id: hi, when: value > 50, clear_when: value < 40, for_secs: 0.01}
      - {id: agg, on: aggregates, when: mean > 10 and stddev < 100}
  - {id: an, type: anomaly, inputs: [r]}
sinks:
  - {id: out, type: file, inputs: [an]}
)", &cfg, d)) << d.Format();
  auto p = Pipeline::Build(cfg, BuildContext{});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  uint64_t delivered = 0, alerts = 0;
  auto deliver = [&](size_t, const Batch& b) {
    delivered += b.readings.size();
    alerts += b.alerts.size();
  };
  const char* sensors[] = {"s1", "s2", "s3", "s4"};
  Batch batch;
  batch.readings.resize(1024);
  TimeUs t = testing::kT0;
  auto fill = [&] {
    for (size_t i = 0; i < batch.readings.size(); ++i) {
      t += 1000;  // 1 ms apart
      Reading& r = batch.readings[i];
      r = testing::R(sensors[i % 4], "temp", t, (i % 200 < 100) ? 20.0 + static_cast<double>(i % 7) : 60.0);
    }
  };
  for (int i = 0; i < 100; ++i) {  // warm-up: series state, buffers and vector capacities settle
    fill();
    (*p)->Process(0, batch, deliver);
  }
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 200; ++i) {
    fill();
    (*p)->Process(0, batch, deliver);
  }
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0u) << "allocations while processing 204800 readings";
  EXPECT_EQ(delivered, 300u * 1024u);
  EXPECT_GT(alerts, 0u) << "the rules did fire, so the alert path was exercised";
}

}  // namespace
}  // namespace edgeflow

#include "sources/mqtt_source.h"

namespace edgeflow {
namespace {

// The MQTT decode path: JSON objects and arrays from many sensors, after a
// warm-up, decode into a reused batch without touching the heap.
TEST(HotPath, MqttPayloadDecodingDoesNotAllocate) {
  if (!EF_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  MqttSourceConfig c;
  MqttSourceSchema().SetDefaults(c);
  c.topic_map = "sensors/{sensor}/{metric}";
  auto d = PayloadDecoder::Create(c, Intern("mq"));
  ASSERT_TRUE(d.ok());
  std::vector<std::pair<std::string, std::string>> msgs;
  for (int i = 0; i < 100; ++i) {
    msgs.push_back({"sensors/T" + std::to_string(i % 10) + "/temperature",
                    R"({"sensor":"T)" + std::to_string(i % 10) + R"(","seq":)" + std::to_string(i) +
                        R"(,"ts":1767225600123456,"value":25.07})"});
    msgs.push_back({"sensors/B" + std::to_string(i % 5) + "/power", R"([{"value":1.5},{"value":2.5,"quality":"uncertain"}])"});
  }
  Batch batch;
  uint64_t seq = 0;
  auto run = [&] {
    batch.clear();
    for (auto& [topic, payload] : msgs) (*d).Decode(topic, payload.data(), payload.size(), 1, &seq, batch);
  };
  for (int i = 0; i < 5; ++i) run();  // warm-up: interned names, parser and batch capacity
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 50; ++i) run();
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0u) << "allocations while decoding 10000 messages";
  EXPECT_EQ(batch.readings.size(), 300u);
  EXPECT_TRUE(batch.dead_letters.empty());
}

}  // namespace
}  // namespace edgeflow
