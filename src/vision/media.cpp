#include "vision/media.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/files.h"
#include "engine/pipeline_config.h"

namespace edgeflow::vision {

namespace fs = std::filesystem;

void CameraState::set_error(std::string e) {
  std::lock_guard lock(mu_);
  error_ = std::move(e);
}

std::string CameraState::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

nlohmann::json CameraState::Describe() const {
  return {{"id", id_},
          {"connected", connected.load()},
          {"error", error()},
          {"width", width.load()},
          {"height", height.load()},
          {"fps", fps.load()},
          {"analyse_ms", analyse_ms.load()},
          {"frames_captured", frames_captured.load()},
          {"frames_analysed", frames_analysed.load()},
          {"frames_dropped", frames_dropped.load()},
          {"frames_not_written", frames_not_written.load()},
          {"events", events.load()},
          {"reconnects", reconnects.load()},
          {"viewers", viewers()}};
}

void CameraState::Publish(std::shared_ptr<const std::string> jpeg) {
  {
    std::lock_guard lock(mu_);
    frame_ = std::move(jpeg);
    ++frame_seq_;
  }
  cv_.notify_all();
}

std::shared_ptr<const std::string> CameraState::WaitFrame(uint64_t* seq, TimeUs timeout_us) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::microseconds(timeout_us), [&] { return stopped_ || frame_seq_ > *seq; });
  if (stopped_ || frame_seq_ <= *seq || !frame_) return nullptr;
  *seq = frame_seq_;
  return frame_;
}

void CameraState::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    connected = false;
  }
  cv_.notify_all();
}

CameraHub& CameraHub::Instance() {
  static CameraHub* hub = new CameraHub();
  return *hub;
}

std::shared_ptr<CameraState> CameraHub::Register(const std::string& id) {
  auto s = std::make_shared<CameraState>(id);
  std::lock_guard lock(mu_);
  cameras_[id] = s;
  return s;
}

void CameraHub::Unregister(const std::shared_ptr<CameraState>& s) {
  s->Stop();
  std::lock_guard lock(mu_);
  auto it = cameras_.find(s->id());
  if (it != cameras_.end() && it->second == s) cameras_.erase(it);
}

std::shared_ptr<CameraState> CameraHub::Find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = cameras_.find(id);
  return it == cameras_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<CameraState>> CameraHub::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<CameraState>> out;
  for (const auto& [id, s] : cameras_) out.push_back(s);
  return out;
}

std::string CameraDir(const std::string& data_dir, const std::string& camera) {
  return (fs::path(data_dir) / "vision" / camera).string();
}

std::string EventId(const std::string& camera, TimeUs start) { return camera + "-" + std::to_string(start); }

bool ParseEventId(const std::string& id, std::string* camera, TimeUs* start) {
  // <component id: [A-Za-z0-9_.-]{1,64}>-<digits, at most 19>
  const size_t dash = id.rfind('-');
  if (dash == std::string::npos || dash == 0 || dash > 64 || id.size() - dash - 1 < 1 || id.size() - dash - 1 > 19)
    return false;
  const std::string cam = id.substr(0, dash);
  if (!IsComponentId(cam) || cam == "." || cam == "..") return false;  // it names a directory
  TimeUs t = 0;
  const char* b = id.data() + dash + 1;
  const char* e = id.data() + id.size();
  auto r = std::from_chars(b, e, t);
  if (r.ec != std::errc() || r.ptr != e || *b == '+' || *b == '-') return false;
  *camera = cam;
  *start = t;
  return true;
}

namespace {

std::vector<std::string> CameraDirs(const std::string& data_dir, const std::string& camera) {
  std::vector<std::string> dirs;
  if (!camera.empty()) {
    dirs.push_back(CameraDir(data_dir, camera));
    return dirs;
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(data_dir) / "vision", ec))
    if (e.is_directory()) dirs.push_back(e.path().string());
  return dirs;
}

struct EventFiles {
  TimeUs start = 0;
  std::vector<fs::path> files;
  uint64_t bytes = 0;
};

// Events of one camera directory by id.
std::map<std::string, EventFiles> ScanEvents(const std::string& dir) {
  std::map<std::string, EventFiles> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string cam;
    TimeUs start = 0;
    const std::string stem = e.path().stem().string();
    if (!ParseEventId(stem, &cam, &start)) continue;
    auto& ev = out[stem];
    ev.start = start;
    ev.files.push_back(e.path());
    std::error_code size_ec;
    const auto size = e.file_size(size_ec);
    if (!size_ec) ev.bytes += size;
  }
  return out;
}

}  // namespace

std::vector<nlohmann::json> ListEvents(const std::string& data_dir, const std::string& camera, TimeUs from, TimeUs to,
                                       size_t limit) {
  std::vector<std::pair<TimeUs, fs::path>> records;
  for (const auto& dir : CameraDirs(data_dir, camera)) {
    for (const auto& [id, ev] : ScanEvents(dir)) {
      if (ev.start < from || ev.start >= to) continue;
      records.emplace_back(ev.start, fs::path(dir) / (id + ".json"));
    }
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<nlohmann::json> out;
  for (const auto& [start, path] : records) {
    if (out.size() >= limit) break;
    auto text = ReadWholeFile(path.string());
    if (!text.ok()) continue;  // an event being written or removed
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

Result<std::string> EventFile(const std::string& data_dir, const std::string& id, const std::string& ext) {
  std::string camera;
  TimeUs start = 0;
  if (!ParseEventId(id, &camera, &start)) return Status::NotFound("no event '" + id + "'");
  const fs::path p = fs::path(CameraDir(data_dir, camera)) / (id + "." + ext);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return Status::NotFound("event '" + id + "' has no " + ext + " file");
  return p.string();
}

Status WriteEventRecord(const std::string& data_dir, const nlohmann::json& record) {
  const std::string dir = CameraDir(data_dir, record.at("camera").get<std::string>());
  std::error_code ec;
  fs::create_directories(dir, ec);
  return WriteFileAtomically((fs::path(dir) / (record.at("id").get<std::string>() + ".json")).string(),
                             record.dump());
}

size_t ApplyRetention(const std::string& dir, TimeUs now, TimeUs max_age, uint64_t max_bytes) {
  // What a write cut short left (power loss, a crash): a snapshot or clip not
  // renamed yet, a record's temporary file. Untouched for ten minutes, nothing
  // is writing it any more (a clip being recorded is written every frame).
  std::error_code ec;
  const auto stale = fs::file_time_type::clock::now() - std::chrono::minutes(10);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    auto ends = [&](const char* suffix) { return name.size() > std::strlen(suffix) && name.ends_with(suffix); };
    if (!e.is_regular_file() || !(ends(".part.avi") || ends(".part.jpg") || ends(".json.tmp"))) continue;
    std::error_code time_ec;
    if (e.last_write_time(time_ec) < stale && !time_ec) fs::remove(e.path(), time_ec);
  }
  auto events = ScanEvents(dir);
  std::vector<std::pair<TimeUs, std::string>> order;
  uint64_t total = 0;
  for (const auto& [id, ev] : events) {
    order.emplace_back(ev.start, id);
    total += ev.bytes;
  }
  std::sort(order.begin(), order.end());
  size_t deleted = 0;
  for (const auto& [start, id] : order) {
    if (start >= now - max_age && total <= max_bytes) break;
    const auto& ev = events[id];
    for (const auto& f : ev.files) fs::remove(f, ec);
    total -= std::min(total, ev.bytes);
    ++deleted;
  }
  return deleted;
}

}  // namespace edgeflow::vision
