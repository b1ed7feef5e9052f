#pragma once
// Reducing processors: `deadband` (report by exception), `downsample`
// (one reading or one aggregate value per interval) and `scale` (linear
// scaling and unit conversion). Readings outside the selector pass unchanged.
#include <unordered_map>

#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"

namespace edgeflow {

struct DeadbandConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  double absolute = 0;
  double percent = 0;
  double max_silence_secs = 0;
};
const config::Schema<DeadbandConfig>& DeadbandSchema();

class DeadbandProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const DeadbandConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;

 private:
  struct Last {
    double value;
    TimeUs ts;
    Quality quality;
  };
  DeadbandConfig cfg_;
  Selector sel_;
  TimeUs max_silence_ = 0;
  std::unordered_map<uint64_t, Last> last_;
};

enum class DownsampleMode { kFirst, kLast, kMean, kMin, kMax };
struct DownsampleConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  double interval_secs = 1;
  DownsampleMode mode = DownsampleMode::kFirst;
};
const config::Schema<DownsampleConfig>& DownsampleSchema();

class DownsampleProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const DownsampleConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;
  void Flush(Batch& out) override;

 private:
  struct Bucket {
    TimeUs start = INT64_MIN;
    Reading rep;  // the reading emitted for the bucket (value replaced for mean/min/max)
    double sum = 0;
    uint64_t n = 0;
  };
  void Emit(Bucket& b, Batch& out);
  DownsampleConfig cfg_;
  Selector sel_;
  Symbol origin_ = kNoSymbol;
  TimeUs interval_ = 0;
  std::unordered_map<uint64_t, Bucket> buckets_;
};

struct ScaleConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  std::string from;
  std::string to;
  double factor = 1;
  double offset = 0;
  std::string rename_metric;
};
const config::Schema<ScaleConfig>& ScaleSchema();
// Linear unit conversion: value_to = value_from * a + b. Returns false for
// unknown units or units of different dimensions.
bool UnitConversion(const std::string& from, const std::string& to, double* a, double* b);
std::string KnownUnits();

class ScaleProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const ScaleConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;

 private:
  Selector sel_;
  double a_ = 1, b_ = 0;  // combined: unit conversion, then factor/offset
  Symbol rename_ = kNoSymbol;
};

}  // namespace edgeflow
