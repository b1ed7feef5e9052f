#include "ml/registry.h"

#include "core/files.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <regex>

namespace edgeflow::ml {

namespace fs = std::filesystem;

namespace {

constexpr int kBadBatchesForRollback = 3;

bool SafeName(const std::string& s) { return std::regex_match(s, std::regex("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")); }

}  // namespace

bool ValidModelName(const std::string& name) { return SafeName(name); }

std::shared_ptr<LoadedModel> ModelSlot::live() const {
  std::lock_guard l(mu_);
  return live_;
}

std::shared_ptr<LoadedModel> ModelSlot::shadow() const {
  std::lock_guard l(mu_);
  return shadow_;
}

Status ModelSlot::EnsureLoaded() {
  {
    std::lock_guard l(mu_);
    if (live_) return Status::Ok();
  }
  const fs::path current = fs::path(dir_) / name_ / "current";
  if (!fs::exists(current))
    return Status::NotFound("model '" + name_ + "' is not deployed (no " + current.string() +
                            "); deploy it with PUT /api/v1/models/" + name_);
  auto text = ReadWholeFile(current.string());
  if (!text.ok()) return text.status();
  std::string version = std::move(text).value();
  while (!version.empty() && (version.back() == '\n' || version.back() == ' ')) version.pop_back();
  auto m = LoadModelDir((fs::path(dir_) / name_ / version).string());
  if (!m.ok()) return m.status();
  std::lock_guard l(mu_);
  if (!live_) live_ = std::move(m).value();
  return Status::Ok();
}

Status ModelSlot::SetCurrent(const std::string& version) {
  return WriteFileAtomically((fs::path(dir_) / name_ / "current").string(), version + "\n");
}

Status ModelSlot::Deploy(const std::string& manifest_yaml, const std::string& model_bytes, bool as_shadow) {
  auto mf = ParseManifest(manifest_yaml, "manifest");
  if (!mf.ok()) return mf.status();
  if (mf->name != name_) return Status::Invalid("manifest: name is '" + mf->name + "', deployed as '" + name_ + "'");
  if (!SafeName(mf->version)) return Status::Invalid("manifest: version must be letters, digits, '.', '_' or '-'");
  if (model_bytes.empty()) return Status::Invalid("no model file");
  // Versions are immutable: what was deployed as a version stays what it was
  // (a rollback or a restart may come back to it).
  std::lock_guard change(change_mu_);
  const fs::path vdir = fs::path(dir_) / name_ / mf->version;
  std::error_code ec;
  if (fs::exists(vdir / "manifest.yaml"))
    return Status::AlreadyExists("version " + mf->version + " of '" + name_ + "' exists already; give a new version");
  fs::remove_all(vdir, ec);  // what a deployment cut short (power loss) left: never loaded, never live
  fs::create_directories(vdir, ec);
  if (ec) return Status::Io("cannot create " + vdir.string() + ": " + ec.message());
  // A refused version leaves nothing behind. The manifest is written last: a
  // version directory with a manifest holds a complete deployment.
  auto refuse = [&](Status st) {
    fs::remove_all(vdir, ec);
    return st;
  };
  if (Status st = WriteFileAtomically((vdir / mf->file).string(), model_bytes); !st.ok()) return refuse(st);
  if (Status st = WriteFileAtomically((vdir / "manifest.yaml").string(), manifest_yaml); !st.ok()) return refuse(st);
  auto loaded = LoadModelDir(vdir.string());
  if (!loaded.ok()) return refuse(loaded.status());
  std::unique_lock l(mu_);
  if (as_shadow) {
    shadow_ = std::move(loaded).value();
    shadow_windows_ = shadow_agree_ = shadow_errors_ = 0;
    shadow_abs_diff_ = shadow_ms_ = 0;
    spdlog::info("model '{}': version {} deployed as shadow", name_, mf->version);
    return Status::Ok();
  }
  l.unlock();
  if (Status st = SetCurrent(mf->version); !st.ok()) return refuse(st);
  l.lock();
  previous_ = live_;
  live_ = std::move(loaded).value();
  runs_ = errors_ = over_budget_ = bad_in_a_row_ = 0;
  last_ms_ = max_ms_ = total_ms_ = 0;
  last_error_.clear();
  spdlog::info("model '{}': version {} live{}", name_, mf->version,
               previous_ ? " (previous " + previous_->manifest.version + " kept for rollback)" : "");
  return Status::Ok();
}

Status ModelSlot::Promote() {
  std::lock_guard change(change_mu_);
  std::unique_lock l(mu_);
  if (!shadow_) return Status::FailedPrecondition("model '" + name_ + "' has no shadow to promote");
  const std::string version = shadow_->manifest.version;
  l.unlock();
  EF_RETURN_IF_ERROR(SetCurrent(version));
  l.lock();
  previous_ = live_;
  live_ = std::move(shadow_);
  shadow_.reset();
  runs_ = errors_ = over_budget_ = bad_in_a_row_ = 0;
  last_ms_ = max_ms_ = total_ms_ = 0;
  spdlog::info("model '{}': shadow version {} promoted to live", name_, version);
  return Status::Ok();
}

Status ModelSlot::Rollback(const std::string& why) {
  std::lock_guard change(change_mu_);
  return RollbackLocked(why);
}

Status ModelSlot::RollbackLocked(const std::string& why) {
  std::unique_lock l(mu_);
  if (!previous_) return Status::FailedPrecondition("model '" + name_ + "' has no previous version to roll back to");
  const std::string from = live_ ? live_->manifest.version : "", to = previous_->manifest.version;
  l.unlock();
  EF_RETURN_IF_ERROR(SetCurrent(to));
  l.lock();
  live_ = std::move(previous_);
  previous_.reset();
  ++rollbacks_;
  last_rollback_ = "from " + from + " to " + to + ": " + why;
  runs_ = errors_ = over_budget_ = bad_in_a_row_ = 0;
  last_ms_ = max_ms_ = total_ms_ = 0;
  spdlog::warn("model '{}': rolled back {}", name_, last_rollback_);
  return Status::Ok();
}

void ModelSlot::RecordLive(double ms, bool ok, const std::string& error) {
  std::unique_lock l(mu_);
  ++runs_;
  last_ms_ = ms;
  max_ms_ = std::max(max_ms_, ms);
  total_ms_ += ms;
  const bool slow = live_ && ms > live_->manifest.latency_budget_ms;
  over_budget_ += slow;
  if (!ok) {
    ++errors_;
    last_error_ = error;
  }
  bad_in_a_row_ = (!ok || slow) ? bad_in_a_row_ + 1 : 0;
  if (bad_in_a_row_ >= kBadBatchesForRollback && previous_) {
    const std::string why = !ok ? "invalid output (" + error + ")" : "over its latency budget";
    l.unlock();
    // Not while another change is under way (the pipeline does not wait for a
    // deployment): the next bad batch tries again, and that change may have
    // replaced this model already.
    std::unique_lock change(change_mu_, std::try_to_lock);
    if (change.owns_lock()) (void)RollbackLocked(why + " " + std::to_string(kBadBatchesForRollback) + " batches in a row");
  }
}

void ModelSlot::RecordShadow(double ms, bool ok, const std::vector<double>& live, const std::vector<double>& shadow) {
  std::lock_guard l(mu_);
  if (!shadow_ || !live_) return;
  shadow_ms_ += ms;
  if (!ok) {
    ++shadow_errors_;
    return;
  }
  for (size_t i = 0; i < live.size() && i < shadow.size(); ++i) {
    ++shadow_windows_;
    shadow_abs_diff_ += std::fabs(live[i] - shadow[i]);
    shadow_agree_ += (live[i] >= live_->manifest.threshold) == (shadow[i] >= shadow_->manifest.threshold);
  }
}

nlohmann::json ModelSlot::Describe() const {
  std::lock_guard l(mu_);
  nlohmann::json j;
  j["name"] = name_;
  std::vector<std::string> versions;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(dir_) / name_, ec))
    if (e.is_directory()) versions.push_back(e.path().filename().string());
  std::sort(versions.begin(), versions.end());
  j["versions"] = versions;
  j["live"] = live_ ? nlohmann::json(live_->manifest.version) : nlohmann::json(nullptr);
  j["previous"] = previous_ ? nlohmann::json(previous_->manifest.version) : nlohmann::json(nullptr);
  j["shadow"] = shadow_ ? nlohmann::json(shadow_->manifest.version) : nlohmann::json(nullptr);
  j["live_stats"] = {{"batches", runs_},
                     {"errors", errors_},
                     {"over_budget", over_budget_},
                     {"last_ms", last_ms_},
                     {"max_ms", max_ms_},
                     {"mean_ms", runs_ ? total_ms_ / static_cast<double>(runs_) : 0.0},
                     {"last_error", last_error_}};
  if (live_) j["latency_budget_ms"] = live_->manifest.latency_budget_ms;
  j["rollbacks"] = rollbacks_;
  if (!last_rollback_.empty()) j["last_rollback"] = last_rollback_;
  if (shadow_)
    j["shadow_comparison"] = {
        {"windows", shadow_windows_},
        {"errors", shadow_errors_},
        {"mean_abs_score_diff", shadow_windows_ ? shadow_abs_diff_ / static_cast<double>(shadow_windows_) : 0.0},
        {"alert_agreement", shadow_windows_ ? static_cast<double>(shadow_agree_) / static_cast<double>(shadow_windows_) : 1.0},
        {"shadow_ms_total", shadow_ms_}};
  return j;
}

std::shared_ptr<ModelSlot> Slot(const std::string& dir, const std::string& name) {
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, std::shared_ptr<ModelSlot>> slots;
  std::lock_guard l(mu);
  auto& s = slots[{dir, name}];
  if (!s) s = std::make_shared<ModelSlot>(dir, name);
  return s;
}

nlohmann::json DescribeModels(const std::string& dir) {
  nlohmann::json out = nlohmann::json::array();
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && SafeName(e.path().filename().string())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) out.push_back(Slot(dir, n)->Describe());
  return out;
}

}  // namespace edgeflow::ml
