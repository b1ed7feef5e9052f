#include "processors/features.h"

#include <kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "config/selector_options.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {

const Schema<FeatureBand>& BandSchema() {
  static const auto* s = [] {
    auto* s = new Schema<FeatureBand>("band", "");
    s->Number<double>("low_hz", &FeatureBand::low_hz, 0, "Hz", "Lower edge (inclusive).", 0, 1e9)
        .Number<double>("high_hz", &FeatureBand::high_hz, 0, "Hz", "Upper edge (exclusive).", 0, 1e9)
        .Check([](const FeatureBand& b, const YAML::Node& n, Diagnostics& d) {
          if (b.high_hz <= b.low_hz) d.Error(n, "a band's high_hz must be above its low_hz");
        });
    return s;
  }();
  return *s;
}

std::string Hz(double f) { return config::FormatNumber(f); }

}  // namespace

const Schema<FeaturesConfig>& FeaturesSchema() {
  static const auto* s = [] {
    auto* s = new Schema<FeaturesConfig>("features", "");
    WithSelectorOptions(*s)
        .Number<int64_t>("size", &FeaturesConfig::size, 1024, "readings", "Readings per window (even with bands or peaks).", 8, 1 << 20)
        .Number<int64_t>("hop", &FeaturesConfig::hop, 1024, "readings",
                         "Readings between windows (size: back to back; less: overlapping).", 1, 1 << 20)
        .Number<double>("sample_rate_hz", &FeaturesConfig::sample_rate_hz, 0, "Hz",
                        "Sample rate of the series; 0: measured from each window's timestamps.", 0, 1e9)
        .Bool("stats", &FeaturesConfig::stats, true, "Emit mean, std, rms, peak, crest, kurtosis and skewness.")
        .ObjectList("bands", &FeaturesConfig::bands, BandSchema(),
                    "Frequency bands whose spectral energy is emitted as `<metric>_band_<low>_<high>`.")
        .Number<int64_t>("peaks", &FeaturesConfig::peaks, 0, "",
                         "Dominant frequencies to emit (`<metric>_peak<i>_hz`, `<metric>_peak<i>_amp`).", 0, 32)
        .Bool("forward_readings", &FeaturesConfig::forward_readings, true, "Pass the input readings on.")
        .Check([](const FeaturesConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.hop > c.size) d.Error(n["hop"], "features: 'hop' must not exceed 'size' (readings would be skipped)");
          if (c.size % 2 != 0 && (!c.bands.empty() || c.peaks > 0))
            d.Error(n["size"], "features: 'size' must be even for bands and peaks (the real FFT takes an even length)");
          if (!c.stats && c.bands.empty() && c.peaks == 0) d.Error(n, "features: nothing to emit (stats, bands or peaks)");
        });
    return s;
  }();
  return *s;
}

Spectrum::Spectrum(size_t n) : n_(n), in_(n), window_(n), power_(n / 2 + 1), out_((n / 2 + 1) * sizeof(kiss_fft_cpx)) {
  cfg_ = kiss_fftr_alloc(static_cast<int>(n), 0, nullptr, nullptr);
  for (size_t i = 0; i < n; ++i)
    window_[i] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n));
}

Spectrum::~Spectrum() { kiss_fftr_free(cfg_); }

void Spectrum::Compute(const double* x, double fs, const std::vector<FeatureBand>& bands, size_t peaks, bool stats,
                       FeatureValues& out) {
  const double n = static_cast<double>(n_);
  double sum = 0, peak = 0;
  for (size_t i = 0; i < n_; ++i) {
    sum += x[i];
    peak = std::max(peak, std::fabs(x[i]));
  }
  const double mean = sum / n;
  if (stats) {
    double m2 = 0, m3 = 0, m4 = 0, sq = 0;
    for (size_t i = 0; i < n_; ++i) {
      const double d = x[i] - mean, d2 = d * d;
      m2 += d2;
      m3 += d2 * d;
      m4 += d2 * d2;
      sq += x[i] * x[i];
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    out.mean = mean;
    out.std = std::sqrt(m2);
    out.rms = std::sqrt(sq / n);
    out.peak = peak;
    out.crest = out.rms > 0 ? peak / out.rms : 0;
    out.skewness = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0;
    out.kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0;  // 3 for a normal distribution
  }
  out.band_energy.assign(bands.size(), 0.0);
  out.peaks.clear();
  if (bands.empty() && peaks == 0) return;
  // The mean removed, a Hann window, one real FFT; one-sided power spectrum
  // scaled so that a sine of amplitude A has a peak amplitude A.
  for (size_t i = 0; i < n_; ++i) in_[i] = static_cast<float>((x[i] - mean) * window_[i]);
  auto* spec = reinterpret_cast<kiss_fft_cpx*>(out_.data());
  kiss_fftr(cfg_, in_.data(), spec);
  const double gain = 2.0 / (0.5 * n);  // one-sided, Hann coherent gain 0.5
  for (size_t k = 0; k <= n_ / 2; ++k) {
    const double re = spec[k].r, im = spec[k].i;
    power_[k] = (re * re + im * im) * gain * gain;
  }
  const double bin_hz = fs / n;
  for (size_t b = 0; b < bands.size(); ++b) {
    double e = 0;
    for (size_t k = 1; k <= n_ / 2; ++k) {
      const double f = static_cast<double>(k) * bin_hz;
      // Mean square: a sine of amplitude A contributes A^2/2, spread by the
      // Hann window over an equivalent noise bandwidth of 1.5 bins.
      if (f >= bands[b].low_hz && f < bands[b].high_hz) e += power_[k] / 2 / 1.5;
    }
    out.band_energy[b] = e;
  }
  if (peaks > 0) {
    // Local maxima of the spectrum (DC excluded), strongest first.
    std::vector<std::pair<double, size_t>> maxima;
    for (size_t k = 1; k < n_ / 2; ++k)
      if (power_[k] > power_[k - 1] && power_[k] >= power_[k + 1]) maxima.emplace_back(power_[k], k);
    const size_t take = std::min(peaks, maxima.size());
    std::partial_sort(maxima.begin(), maxima.begin() + static_cast<std::ptrdiff_t>(take), maxima.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < take; ++i) {
      // Parabolic interpolation between the neighbouring bins for the frequency.
      const size_t k = maxima[i].second;
      const double a = std::sqrt(power_[k - 1]), b = std::sqrt(power_[k]), c = std::sqrt(power_[k + 1]);
      const double den = a - 2 * b + c;
      const double delta = den != 0 ? 0.5 * (a - c) / den : 0;
      out.peaks.emplace_back((static_cast<double>(k) + delta) * bin_hz, b);
    }
  }
}

Result<std::unique_ptr<Processor>> FeaturesProcessor::Create(const FeaturesConfig& cfg, const BuildContext&) {
  auto p = std::make_unique<FeaturesProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->spectrum_ = std::make_unique<Spectrum>(static_cast<size_t>(cfg.size));
  if (!p->spectrum_->ok() && (!cfg.bands.empty() || cfg.peaks > 0)) return Status::Invalid("features: no FFT of " + std::to_string(cfg.size) + " readings (an even size is needed)");
  p->scratch_.resize(static_cast<size_t>(cfg.size));
  return std::unique_ptr<Processor>(std::move(p));
}

void FeaturesProcessor::Emit(Series& s, const Reading& last, Batch& out) {
  const size_t n = s.values.size();
  for (size_t i = 0; i < n; ++i) scratch_[i] = s.values[(s.next + i) % n];  // oldest first
  double fs = cfg_.sample_rate_hz;
  if (fs <= 0) {
    const TimeUs first = s.ts[s.next % n], span = last.ts - first;
    fs = span > 0 ? static_cast<double>(n - 1) * 1e6 / static_cast<double>(span) : 1.0;
  }
  spectrum_->Compute(scratch_.data(), fs, cfg_.bands, static_cast<size_t>(cfg_.peaks), cfg_.stats, values_);
  size_t i = 0;
  auto emit = [&](double v) {
    Reading r = last;
    r.metric = s.names[i++];
    r.value = v;
    out.readings.push_back(r);
  };
  if (cfg_.stats) {
    for (double v : {values_.mean, values_.std, values_.rms, values_.peak, values_.crest, values_.kurtosis,
                     values_.skewness})
      emit(v);
  }
  for (double e : values_.band_energy) emit(e);
  for (int64_t k = 0; k < cfg_.peaks; ++k) {
    const bool have = static_cast<size_t>(k) < values_.peaks.size();
    emit(have ? values_.peaks[k].first : 0);
    emit(have ? values_.peaks[k].second : 0);
  }
}

void FeaturesProcessor::Process(const Batch& in, Batch& out) {
  if (cfg_.forward_readings) out.readings.insert(out.readings.end(), in.readings.begin(), in.readings.end());
  out.forward_events(in);
  const size_t size = static_cast<size_t>(cfg_.size);
  for (const Reading& r : in.readings) {
    if (r.quality != Quality::kGood || !std::isfinite(r.value) || !sel_.Matches(r.sensor, r.metric)) continue;
    auto [it, fresh] = series_.try_emplace(SeriesKey(r.sensor, r.metric));
    Series& s = it->second;
    if (fresh) {
      s.values.assign(size, 0.0);
      s.ts.assign(size, 0);
      const std::string m(SymName(r.metric));
      if (cfg_.stats)
        for (const char* f : {"mean", "std", "rms", "peak", "crest", "kurtosis", "skewness"})
          s.names.push_back(Intern(m + "_" + f));
      for (const auto& b : cfg_.bands) s.names.push_back(Intern(m + "_band_" + Hz(b.low_hz) + "_" + Hz(b.high_hz)));
      for (int64_t k = 1; k <= cfg_.peaks; ++k) {
        s.names.push_back(Intern(m + "_peak" + std::to_string(k) + "_hz"));
        s.names.push_back(Intern(m + "_peak" + std::to_string(k) + "_amp"));
      }
    }
    s.values[s.next] = r.value;
    s.ts[s.next] = r.ts;
    s.next = (s.next + 1) % size;
    s.count = std::min(s.count + 1, size);
    ++s.since;
    if (s.count == size && s.since >= static_cast<size_t>(cfg_.hop)) {
      s.since = 0;
      Emit(s, r, out);
    }
  }
}

}  // namespace edgeflow
