#include "processors/inference.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "config/selector_options.h"
#include "processors/rules.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<InferenceConfig>& InferenceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<InferenceConfig>("inference", "");
    WithSelectorOptions(*s)
        .String("model", &InferenceConfig::model, "", "The deployed model's name.", true)
        .String("models_dir", &InferenceConfig::models_dir, "", "Where models are kept; empty: <node.data_dir>/models.")
        .StringList("features", &InferenceConfig::features,
                    "Vector inputs: these metrics of one sensor at the same time, in the model's input order "
                    "(instead of windows of each series).")
        .Number<int64_t>("hop", &InferenceConfig::hop, 0, "readings",
                         "Readings between windows; 0: the model's input length (back to back).", 0, 1 << 20)
        .Number<int64_t>("batch", &InferenceConfig::batch, 16, "windows", "Windows per model run, at most.", 1, 4096)
        .Number<double>("threshold", &InferenceConfig::threshold, -1, "",
                        "Score that opens an alert; negative: the model manifest's.", -1, 1)
        .Number<double>("clear", &InferenceConfig::clear, -1, "", "Score below which it clears; negative: 0.8 x threshold.",
                        -1, 1)
        .Bool("emit_scores", &InferenceConfig::emit_scores, true, "Emit `<metric>_<model>_score` readings.")
        .Enum<Severity>("severity", &InferenceConfig::severity, Severity::kWarning, SeverityOptions(), "Severity of the alerts.")
        .Check([](const InferenceConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.features.size() > 64) d.Error(n["features"], "inference: at most 64 features");
        });
    return s;
  }();
  return *s;
}

std::string ModelsDir(const std::string& configured, const std::string& data_dir) {
  return configured.empty() ? (std::filesystem::path(data_dir) / "models").string() : configured;
}

Result<std::unique_ptr<Processor>> InferenceProcessor::Create(const InferenceConfig& cfg, const BuildContext& ctx) {
  auto p = std::make_unique<InferenceProcessor>();
  p->cfg_ = cfg;
  p->sel_ = Selector(cfg.sensors, cfg.metrics);
  p->origin_ = ctx.component;
  p->slot_ = ml::Slot(ModelsDir(cfg.models_dir, ctx.data_dir), cfg.model);
  // The model must be deployed before the pipeline starts: a stage with no
  // model would silently score nothing.
  EF_RETURN_IF_ERROR(p->slot_->EnsureLoaded());
  p->model_sym_ = Intern(cfg.model);
  for (size_t i = 0; i < cfg.features.size(); ++i) p->feature_index_[Intern(cfg.features[i])] = i;
  const int64_t inputs = p->slot_->live()->manifest.inputs;
  if (!cfg.features.empty() && inputs != static_cast<int64_t>(cfg.features.size()))
    return Status::Invalid("inference '" + ctx.component_id + "': model '" + cfg.model + "' takes " +
                           std::to_string(inputs) + " inputs, " + std::to_string(cfg.features.size()) +
                           " features are configured");
  return std::unique_ptr<Processor>(std::move(p));
}

void InferenceProcessor::Process(const Batch& in, Batch& out) {
  out.readings.insert(out.readings.end(), in.readings.begin(), in.readings.end());
  out.forward_events(in);
  auto live = slot_->live();
  if (!live) return;
  const size_t n = static_cast<size_t>(live->manifest.inputs);
  const size_t hop = cfg_.hop > 0 ? static_cast<size_t>(cfg_.hop) : n;
  for (const Reading& r : in.readings) {
    if (r.quality != Quality::kGood || !std::isfinite(r.value)) continue;
    if (!feature_index_.empty()) {
      auto f = feature_index_.find(r.metric);
      if (f != feature_index_.end() && sel_.Matches(r.sensor, kNoSymbol)) AddVector(r, f->second, out);
      continue;
    }
    if (!sel_.Matches(r.sensor, r.metric)) continue;
    auto [it, fresh] = series_.try_emplace(SeriesKey(r.sensor, r.metric));
    Series& s = it->second;
    if (fresh) s.score_metric = Intern(std::string(SymName(r.metric)) + "_" + cfg_.model + "_score");
    if (s.ring.size() != n) {  // a new model with another input length starts the windows afresh
      s.ring.assign(n, 0.0);
      s.next = s.count = s.since = 0;
    }
    s.ring[s.next] = r.value;
    s.next = (s.next + 1) % n;
    s.count = std::min(s.count + 1, n);
    ++s.since;
    if (s.count == n && s.since >= hop) {
      s.since = 0;
      // The window as it is now (the ring moves on before the batch runs), oldest first.
      raw_.resize((pending_.size() + 1) * n);
      double* w = &raw_[pending_.size() * n];
      for (size_t j = 0; j < n; ++j) w[j] = s.ring[(s.next + j) % n];
      pending_.push_back({&s, r});
      if (pending_.size() >= static_cast<size_t>(cfg_.batch)) RunBatch(out);
    }
  }
  if (!pending_.empty()) RunBatch(out);
}

void InferenceProcessor::AddVector(const Reading& r, size_t feature, Batch& out) {
  const size_t k = feature_index_.size();
  auto [it, fresh] = series_.try_emplace(SeriesKey(r.sensor, kNoSymbol));
  Series& s = it->second;
  if (fresh) {
    s.score_metric = Intern(cfg_.model + "_score");
    s.vec.assign(k, 0.0);
  }
  if (r.ts != s.vec_ts) {  // a new time: a new vector
    s.vec_ts = r.ts;
    s.have = 0;
  }
  s.vec[feature] = r.value;
  s.have |= uint64_t{1} << feature;
  if (s.have != (k == 64 ? ~uint64_t{0} : (uint64_t{1} << k) - 1)) return;
  s.have = 0;
  raw_.insert(raw_.end(), s.vec.begin(), s.vec.end());
  Reading last = r;
  last.metric = model_sym_;
  pending_.push_back({&s, last});
  if (pending_.size() >= static_cast<size_t>(cfg_.batch)) RunBatch(out);
}

void InferenceProcessor::Flush(Batch& out) {
  if (!pending_.empty()) RunBatch(out);
}

void InferenceProcessor::RunBatch(Batch& out) {
  auto live = slot_->live();
  const size_t b = pending_.size();
  if (!live || b == 0) {
    pending_.clear();
    raw_.clear();
    return;
  }
  if (raw_.size() != b * static_cast<size_t>(live->manifest.inputs)) {  // the model changed under the windows
    pending_.clear();
    raw_.clear();
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  Status st = ml::ScoreWindows(*live, raw_, b, in_, out_, scores_);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  slot_->RecordLive(ms, st.ok(), st.ok() ? "" : st.message());
  if (auto shadow = slot_->shadow(); shadow && shadow->manifest.inputs == live->manifest.inputs) {
    t0 = std::chrono::steady_clock::now();
    Status sst = ml::ScoreWindows(*shadow, raw_, b, in_, out_, shadow_scores_);
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    static const std::vector<double> kNoScores;  // a failed live run has no scores to compare with
    slot_->RecordShadow(ms, sst.ok(), st.ok() ? scores_ : kNoScores, shadow_scores_);
  }
  if (!st.ok()) {
    spdlog::warn("inference '{}': {}", SymName(origin_), st.message());
    pending_.clear();
    raw_.clear();
    return;
  }
  const double threshold = cfg_.threshold >= 0 ? cfg_.threshold : live->manifest.threshold;
  const double clear = cfg_.clear >= 0 ? cfg_.clear : 0.8 * threshold;
  for (size_t i = 0; i < b; ++i) {
    Series& s = *pending_[i].series;
    const Reading& last = pending_[i].last;
    if (cfg_.emit_scores) {
      Reading r = last;
      r.metric = s.score_metric;
      r.value = scores_[i];
      out.readings.push_back(r);
    }
    AlertEvent a;
    a.ts = last.ts;
    a.value = scores_[i];
    a.rule = origin_;
    a.sensor = last.sensor;
    a.metric = last.metric;
    a.origin = origin_;
    a.severity = cfg_.severity;
    if (!s.open && scores_[i] >= threshold) {
      s.open = true;
      s.opened_at = last.ts;
      a.state = AlertState::kOpen;
      a.opened_at = last.ts;
      out.alerts.push_back(a);
    } else if (s.open && scores_[i] < clear) {
      s.open = false;
      a.state = AlertState::kClear;
      a.opened_at = s.opened_at;
      out.alerts.push_back(a);
    }
  }
  pending_.clear();
  raw_.clear();
}

}  // namespace edgeflow
