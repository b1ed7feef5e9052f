#include "processors/features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>

#include "core/testing.h"
#include "engine/pipeline_config.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;

std::vector<double> Sine(size_t n, double fs, double hz, double amp, double offset = 0) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = offset + amp * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / fs);
  return x;
}

TEST(Features, StatisticsAndSpectrumOfASine) {
  Spectrum spec(1024);
  FeatureValues v;
  const auto x = Sine(1024, 1000, 50.3, 2.0, 1.0);
  spec.Compute(x.data(), 1000, {{40, 60}, {100, 200}}, 2, true, v);
  EXPECT_NEAR(v.mean, 1.0, 0.02);  // not a whole number of periods
  EXPECT_NEAR(v.std, 2 / std::sqrt(2), 0.01);
  EXPECT_NEAR(v.rms, std::sqrt(1 + 2), 0.01);
  EXPECT_NEAR(v.peak, 3.0, 0.01);
  EXPECT_NEAR(v.kurtosis, 1.5, 0.02);  // a sine's
  EXPECT_NEAR(v.skewness, 0, 0.02);
  ASSERT_EQ(v.peaks.size(), 2u);
  EXPECT_NEAR(v.peaks[0].first, 50.3, 0.3);
  EXPECT_NEAR(v.peaks[0].second, 2.0, 0.3);  // Hann scalloping: within 15 %
  EXPECT_GT(v.peaks[0].second, 20 * v.peaks[1].second);
  EXPECT_NEAR(v.band_energy[0], 2.0, 0.2);  // A^2 / 2
  EXPECT_LT(v.band_energy[1], 0.01);
}

TEST(Features, EmitsEveryHopAtTheWindowsLastReadingWithTheMeasuredRate) {
  FeaturesConfig c;
  FeaturesSchema().SetDefaults(c);
  c.size = 256;
  c.hop = 128;
  c.metrics = {"vibration"};
  c.bands = {{90, 110}};
  c.peaks = 1;
  c.forward_readings = false;
  auto p = std::move(FeaturesProcessor::Create(c, BuildContext{})).value();
  Batch in, out;
  const double fs = 2000;  // readings 500 us apart
  const auto x = Sine(1024, fs, 100, 1.5);
  for (size_t i = 0; i < x.size(); ++i) {
    Reading r = R("pump", "vibration", At(0) + static_cast<TimeUs>(i) * 500, x[i]);
    in.readings.push_back(r);
    in.readings.push_back(R("pump", "temperature", At(0) + static_cast<TimeUs>(i) * 500, 40));  // not selected
  }
  p->Process(in, out);
  // Windows end at readings 256, 384, ..., 1024: 7 windows of 7 + 1 + 2 features.
  std::map<std::string, int> count;
  std::map<std::string, double> last;
  for (const auto& r : out.readings) {
    ++count[std::string(SymName(r.metric))];
    last[std::string(SymName(r.metric))] = r.value;
    EXPECT_EQ(r.sensor, Intern("pump"));
  }
  EXPECT_EQ(out.readings.size(), 7u * 10);
  EXPECT_EQ(count["vibration_rms"], 7);
  EXPECT_NEAR(last["vibration_rms"], 1.5 / std::sqrt(2), 0.02);
  EXPECT_NEAR(last["vibration_peak1_hz"], 100, 1.0);
  EXPECT_NEAR(last["vibration_band_90_110"], 1.5 * 1.5 / 2, 0.15);
  EXPECT_EQ(out.readings.back().ts, At(0) + 1023 * 500);
}

TEST(Features, BadOptionsAreConfigurationErrors) {
  PipelineConfig cfg;
  config::Diagnostics d("c.yaml");
  EXPECT_FALSE(ParsePipelineConfig("sources: [{id: in, type: ingest}]\nprocessors:\n"
                                   "  - {id: f, type: features, inputs: [in], size: 64, hop: 128, "
                                   "bands: [{low_hz: 50, high_hz: 10}]}\n"
                                   "  - {id: g, type: features, inputs: [in], stats: false}\n"
                                   "  - {id: h, type: features, inputs: [in], size: 1001, hop: 1001, peaks: 1}\n"
                                   "sinks: [{id: o, type: file, inputs: [f, g, h]}]\n",
                                   &cfg, d));
  const std::string e = d.Format();
  EXPECT_NE(e.find("'hop' must not exceed 'size'"), std::string::npos) << e;
  EXPECT_NE(e.find("a band's high_hz must be above its low_hz"), std::string::npos) << e;
  EXPECT_NE(e.find("nothing to emit"), std::string::npos) << e;
  // An odd window was accepted and crashed the daemon at its first window (no FFT plan for it).
  EXPECT_NE(e.find("'size' must be even"), std::string::npos) << e;
}

}  // namespace
}  // namespace edgeflow
