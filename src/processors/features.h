#pragma once
// `features`: signal features over windows of each selected series, for
// condition monitoring and predictive maintenance (vibration, current,
// acoustic signals). Every `hop` readings, over the last `size` readings:
//   statistics  rms, peak, crest factor, kurtosis, skewness, mean, std;
//   spectrum    (real FFT, kissfft, Hann window) energy per configured band
//               and the `peaks` dominant frequencies with their amplitudes.
// Each feature is emitted as a reading `<metric>_<feature>` of the same
// sensor, stamped with the window's last reading: e.g. vibration_rms,
// vibration_band_100_200 (energy between 100 and 200 Hz), vibration_peak1_hz,
// vibration_peak1_amp. The sample rate is configured or measured from the
// window's timestamps. Input readings are forwarded unchanged unless
// `forward_readings` is false.
#include <memory>
#include <unordered_map>
#include <vector>

#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"

struct kiss_fftr_state;

namespace edgeflow {

struct FeatureBand {
  double low_hz = 0, high_hz = 0;
};
struct FeaturesConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  int64_t size = 1024;
  int64_t hop = 1024;
  double sample_rate_hz = 0;  // 0: from the timestamps
  bool stats = true;
  std::vector<FeatureBand> bands;
  int64_t peaks = 0;
  bool forward_readings = true;
};
const config::Schema<FeaturesConfig>& FeaturesSchema();

// One window's features (exposed for tests and benchmarks).
struct FeatureValues {
  double mean = 0, std = 0, rms = 0, peak = 0, crest = 0, kurtosis = 0, skewness = 0;
  std::vector<double> band_energy;
  std::vector<std::pair<double, double>> peaks;  // (Hz, amplitude), strongest first
};

class Spectrum {
 public:
  explicit Spectrum(size_t n);
  ~Spectrum();
  Spectrum(const Spectrum&) = delete;
  Spectrum& operator=(const Spectrum&) = delete;
  // False when kissfft has no plan for this length (an odd one).
  bool ok() const { return cfg_ != nullptr; }
  // Statistics and, when bands or peaks are asked for, the spectrum of `x` (size n).
  void Compute(const double* x, double sample_rate_hz, const std::vector<FeatureBand>& bands, size_t peaks,
               bool stats, FeatureValues& out);

 private:
  size_t n_;
  kiss_fftr_state* cfg_ = nullptr;
  std::vector<float> in_;
  std::vector<double> window_, power_;
  std::vector<char> out_;  // kiss_fft_cpx[n/2+1]
};

class FeaturesProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const FeaturesConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;

 private:
  struct Series {
    std::vector<double> values;  // ring of `size`
    std::vector<TimeUs> ts;
    size_t next = 0, count = 0, since = 0;
    std::vector<Symbol> names;  // feature metric symbols, in emit order
  };
  void Emit(Series& s, const Reading& last, Batch& out);
  FeaturesConfig cfg_;
  Selector sel_;
  std::unique_ptr<Spectrum> spectrum_;
  std::vector<double> scratch_;
  FeatureValues values_;
  std::unordered_map<uint64_t, Series> series_;
};

}  // namespace edgeflow
