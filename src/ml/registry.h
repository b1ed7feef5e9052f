#pragma once
// Deployed models and their versions. On disk, under a models folder
// (default <node.data_dir>/models):
//
//   <name>/<version>/manifest.yaml, <name>/<version>/<model file>
//   <name>/current    the live version (replaced atomically)
//
// In memory, one slot per model: the live model, an optional shadow (scored
// beside the live one on the same windows, its results only compared), and
// the previous live model for rollback. Inference stages read the slot on
// every batch, so a swap takes effect at the next batch with no gap.
//
// Deploying validates everything first (manifest, model file, a trial run);
// a model that fails is refused and the live one keeps serving. A live model
// that gives invalid scores or exceeds its latency budget three batches in a
// row is rolled back automatically when there is a previous version.
#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "ml/model.h"

namespace edgeflow::ml {

class ModelSlot {
 public:
  ModelSlot(std::string dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  std::shared_ptr<LoadedModel> live() const;
  std::shared_ptr<LoadedModel> shadow() const;

  // Loads the version in <name>/current when nothing is live yet.
  Status EnsureLoaded();
  // Writes the version's files, loads and checks it, then makes it live (or
  // the shadow). On any error nothing changes; `errors` says why.
  Status Deploy(const std::string& manifest_yaml, const std::string& model_bytes, bool as_shadow);
  Status Promote();                          // the shadow becomes live
  Status Rollback(const std::string& why);   // the previous live version returns

  // Called by inference stages after each batch.
  void RecordLive(double ms, bool ok, const std::string& error);
  void RecordShadow(double ms, bool ok, const std::vector<double>& live, const std::vector<double>& shadow);

  nlohmann::json Describe() const;

 private:
  Status SetCurrent(const std::string& version);
  Status RollbackLocked(const std::string& why);
  std::string dir_, name_;
  // Held through a whole change of versions (deploy, promote, roll back: files
  // and memory), so that two changes cannot interleave; taken before mu_.
  std::mutex change_mu_;
  mutable std::mutex mu_;
  std::shared_ptr<LoadedModel> live_, shadow_, previous_;
  // Live model health since it went live.
  int64_t runs_ = 0, errors_ = 0, over_budget_ = 0, bad_in_a_row_ = 0, rollbacks_ = 0;
  double last_ms_ = 0, max_ms_ = 0, total_ms_ = 0;
  std::string last_error_, last_rollback_;
  // Shadow against live, since the shadow was deployed.
  int64_t shadow_windows_ = 0, shadow_agree_ = 0, shadow_errors_ = 0;
  double shadow_abs_diff_ = 0, shadow_ms_ = 0;
};

// A model name: a letter or digit, then letters, digits, '.', '_' or '-' (64 at most).
// Names are directories under the models folder: nothing else may reach the disk.
bool ValidModelName(const std::string& name);

// The slot of model `name` under `dir` (one per process).
std::shared_ptr<ModelSlot> Slot(const std::string& dir, const std::string& name);
// Every slot under `dir` that is in use or has versions on disk.
nlohmann::json DescribeModels(const std::string& dir);

}  // namespace edgeflow::ml
