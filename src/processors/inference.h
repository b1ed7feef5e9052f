#pragma once
// `inference`: runs a deployed model (src/ml/registry.h) on windows of each
// selected series: every `hop` readings, the last `inputs` readings (the
// model's input length) form one input; windows of all series are batched,
// up to `batch` per run. Emits the score as a reading
// `<metric>_<model>_score` and opens an alert (rule: the processor's id) when
// the score reaches the threshold (the manifest's unless configured), clears
// it below `clear`. A shadow model, when deployed, scores the same windows;
// only the comparison is kept. Per-model latency and errors are in
// GET /api/v1/models; invalid scores or a blown latency budget three batches
// in a row roll a new model back.
//
// With `features` (metric names), the model takes one vector per sensor and
// timestamp instead: the listed metrics' values at the same time (e.g. what a
// `features` stage emits for one window), in that order; the score is then
// `<model>_score` and the alert's metric the model's name.
#include <memory>
#include <unordered_map>
#include <vector>

#include "config/schema.h"
#include "core/selector.h"
#include "engine/component.h"
#include "ml/registry.h"

namespace edgeflow {

struct InferenceConfig {
  std::vector<std::string> sensors;
  std::vector<std::string> metrics;
  std::string model;
  std::string models_dir;  // "": <node.data_dir>/models
  std::vector<std::string> features;  // vector inputs: metric names, in the model's input order
  int64_t hop = 0;         // 0: the model's input length
  int64_t batch = 16;
  double threshold = -1;   // < 0: the manifest's
  double clear = -1;       // < 0: 0.8 x threshold
  bool emit_scores = true;
  Severity severity = Severity::kWarning;
};
const config::Schema<InferenceConfig>& InferenceSchema();
std::string ModelsDir(const std::string& configured, const std::string& data_dir);

class InferenceProcessor final : public Processor {
 public:
  static Result<std::unique_ptr<Processor>> Create(const InferenceConfig& cfg, const BuildContext& ctx);
  void Process(const Batch& in, Batch& out) override;
  void Flush(Batch& out) override;

 private:
  struct Series {
    std::vector<double> ring;  // window mode: the last `inputs` readings
    std::vector<double> vec;   // vector mode: this timestamp's feature values
    TimeUs vec_ts = -1;
    uint64_t have = 0;
    size_t next = 0, count = 0, since = 0;
    bool open = false;
    TimeUs opened_at = 0;
    Symbol score_metric = kNoSymbol;
  };
  struct Pending {
    Series* series;
    Reading last;
  };
  void RunBatch(Batch& out);
  void AddVector(const Reading& r, size_t feature, Batch& out);
  InferenceConfig cfg_;
  Selector sel_;
  Symbol origin_ = kNoSymbol;
  Symbol model_sym_ = kNoSymbol;
  std::unordered_map<Symbol, size_t> feature_index_;
  std::shared_ptr<ml::ModelSlot> slot_;
  std::unordered_map<uint64_t, Series> series_;
  std::vector<Pending> pending_;
  std::vector<double> raw_, scores_, shadow_scores_;
  std::vector<float> in_, out_;
};

}  // namespace edgeflow
