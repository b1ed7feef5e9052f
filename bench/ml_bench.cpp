// Feature stage and anomaly detectors: cost per window and per reading.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "ml/detectors.h"
#include "processors/features.h"

namespace edgeflow {
namespace {

std::vector<double> Noise(size_t n) {
  std::mt19937 rng(3);
  std::normal_distribution<double> g(0, 1);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(i * 0.3) + 0.2 * g(rng);
  return v;
}

// One 1024-point window: statistics, three band energies and three peaks.
void BM_FeatureWindow1024(benchmark::State& state) {
  Spectrum spec(1024);
  FeatureValues v;
  const auto x = Noise(1024);
  const std::vector<FeatureBand> bands = {{0, 50}, {50, 200}, {200, 500}};
  for (auto _ : state) {
    spec.Compute(x.data(), 1000, bands, 3, true, v);
    benchmark::DoNotOptimize(v.rms);
  }
  state.SetItemsProcessed(state.iterations() * 1024);  // readings covered
}
BENCHMARK(BM_FeatureWindow1024);

void BM_DetectorScore(benchmark::State& state, const char* kind) {
  ml::DetectorConfig c;
  c.kind = kind;
  auto d = std::move(ml::MakeDetector(c)).value();
  const auto x = Noise(1 << 16);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d->Score(static_cast<TimeUs>(i) * 60 * kUsPerSec, x[i & 0xffff]));  // one a minute
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DetectorScore, zscore, "zscore");
BENCHMARK_CAPTURE(BM_DetectorScore, robust, "robust");
BENCHMARK_CAPTURE(BM_DetectorScore, change, "change");
BENCHMARK_CAPTURE(BM_DetectorScore, seasonal, "seasonal");
BENCHMARK_CAPTURE(BM_DetectorScore, knn, "knn");
BENCHMARK_CAPTURE(BM_DetectorScore, art, "art");

}  // namespace
}  // namespace edgeflow
