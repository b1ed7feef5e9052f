// Storage and input hot paths: block encoding, batched SQLite writes, CSV parsing.
#include <benchmark/benchmark.h>

#include <fstream>

#include "core/testing.h"
#include "sources/file_source.h"
#include "store/block_codec.h"
#include "store/store.h"

namespace edgeflow {
namespace {

void BM_BlockEncode(benchmark::State& state) {
  std::vector<BlockPoint> pts;
  for (int i = 0; i < 1024; ++i)
    pts.push_back({testing::At(i), 20.0 + (i * 7919 % 1000) * 0.01, static_cast<uint64_t>(i + 1), Quality::kGood});
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeBlock(pts.data(), pts.size(), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  state.counters["bytes_per_reading"] = static_cast<double>(out.size()) / 1024.0;
}
BENCHMARK(BM_BlockEncode);

// One batch of 1024 readings over 8 series per transaction, synchronous=normal (the default).
void BM_StoreWriteBatch(benchmark::State& state) {
  testing::TempDir dir;
  auto store = std::move(Store::Open(dir / "bench.db")).value();
  Batch b;
  const char* sensors[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"};
  TimeUs t = testing::kT0;
  uint64_t seq = 0;
  for (auto _ : state) {
    state.PauseTiming();
    b.readings.clear();
    for (int i = 0; i < 1024; ++i) {
      t += 1000;
      Reading r = testing::R(sensors[i % 8], "temperature", t, 20.0 + (i % 100) * 0.1);
      r.seq = ++seq;
      b.readings.push_back(r);
    }
    state.ResumeTiming();
    if (!store->Write(b, StoreWhat{}, t).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_StoreWriteBatch);

void BM_CsvParse(benchmark::State& state) {
  testing::TempDir dir;
  const std::string path = dir / "rec.csv";
  {
    std::ofstream f(path);
    f << "timestamp,sensor,metric,value,quality\n";
    for (int i = 0; i < 200000; ++i)
      f << "2026-01-01T00:" << (i / 600 % 60 < 10 ? "0" : "") << i / 600 % 60 << ":" << (i / 10 % 60 < 10 ? "0" : "")
        << i / 10 % 60 << "Z,sensor-" << i % 10 << ",temperature," << 20 + (i % 1000) * 0.0123 << ",0\n";
  }
  FileSourceConfig cfg;
  FileSourceSchema().SetDefaults(cfg);
  cfg.path = path;
  auto src = std::move(FileSource::Create(cfg, BuildContext{})).value();
  uint64_t n = 0;
  for (auto _ : state) {
    StopToken stop;
    SourceContext ctx;
    ctx.clock = &SystemClock::Instance();
    ctx.stop = &stop;
    ctx.batch_size = 1024;
    ctx.emit = [&](Batch& b) {
      n += b.readings.size();
      b.clear();
    };
    if (!src->Run(ctx).ok()) state.SkipWithError("parse failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_CsvParse)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace edgeflow
