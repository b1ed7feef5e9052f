// The uplink's durable write path: encoding readings into messages and
// committing them to the outbox (one transaction per batch), with the cloud
// unreachable so nothing drains. Reports readings/s and disk bytes per reading.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "core/testing.h"
#include "sinks/uplink_sink.h"
#include "transport/mqtt.h"

namespace edgeflow {
namespace {

void BM_UplinkDurableWrite(benchmark::State& state) {
  testing::TempDir dir;
  UplinkConfig cfg;
  cfg.broker.host = "127.0.0.1";
  cfg.broker.port = 9;  // discard port: nothing listens, the outbox only fills
  cfg.broker.reconnect_min_secs = 60;
  cfg.broker.reconnect_max_secs = 60;
  cfg.include = {"readings"};
  cfg.batch_max = 500;
  cfg.outbox_max_bytes = 1ll << 40;
  cfg.sync = state.range(0) ? SqliteSync::kFull : SqliteSync::kNormal;
  BuildContext ctx;
  ctx.data_dir = dir.path();
  ctx.component_id = "bench";
  auto sink = std::move(UplinkSink::Create(cfg, ctx)).value();
  Batch b;
  const char* sensors[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"};
  TimeUs t = testing::kT0;
  uint64_t seq = 0, readings = 0;
  for (auto _ : state) {
    state.PauseTiming();
    b.readings.clear();
    for (int i = 0; i < 1000; ++i) {
      t += 1000;
      Reading r = testing::R(sensors[i % 8], "temperature", t, 20.0 + (i % 100) * 0.1);
      r.seq = ++seq;
      b.readings.push_back(r);
    }
    state.ResumeTiming();
    if (!sink->Write(b).ok()) state.SkipWithError("write failed");
    readings += 1000;
  }
  state.SetItemsProcessed(static_cast<int64_t>(readings));
  sink.reset();
  uint64_t bytes = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path()))
    if (f.path().filename().string().rfind("outbox-bench.db", 0) == 0) bytes += f.file_size();
  state.counters["disk_bytes_per_reading"] = static_cast<double>(bytes) / static_cast<double>(readings);
}
BENCHMARK(BM_UplinkDurableWrite)->Arg(0)->ArgName("sync_full")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UplinkDurableWrite)->Arg(1)->ArgName("sync_full")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace edgeflow
