#pragma once
// What the vision module shares with the rest of the node, without OpenCV:
// the cameras' live state and preview frames (CameraHub, read by the REST
// API), and the event store on disk (records, snapshots, clips) with its
// retention. The module writes; the API reads.
//
// On disk, per camera: <data_dir>/vision/<camera>/<event id>.json (record),
// .jpg (snapshot, privacy masked), .avi (clip, MJPEG, masked). An event id is
// "<camera>-<start time in µs>"; the record is rewritten when the event ends.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace edgeflow::vision {

// One running camera, as the API sees it.
class CameraState {
 public:
  explicit CameraState(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

  std::atomic<uint64_t> frames_captured{0};
  std::atomic<uint64_t> frames_analysed{0};
  std::atomic<uint64_t> frames_dropped{0};  // oldest frames dropped from the full queue
  std::atomic<uint64_t> frames_not_written{0};  // clip, preview and snapshot frames left out (the writer was behind)
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<double> fps{0};               // analysed per second, last second
  std::atomic<double> analyse_ms{0};        // mean analysis time per frame, last second
  std::atomic<bool> connected{false};
  std::atomic<int> width{0}, height{0};
  // Seconds between two preview frames at most, when the camera delivers (from
  // preview_fps and the analysis rate limit fps): how long a silent preview is normal.
  std::atomic<double> preview_interval_secs{0.2};
  void set_error(std::string e);
  std::string error() const;
  nlohmann::json Describe() const;

  // Preview: the module publishes masked JPEG frames while viewers > 0.
  bool watched() const { return viewers_.load(std::memory_order_relaxed) > 0; }
  void Publish(std::shared_ptr<const std::string> jpeg);
  // Waits (at most `timeout_us`) for a frame newer than *seq; updates *seq.
  // nullptr on timeout or when the camera stopped.
  std::shared_ptr<const std::string> WaitFrame(uint64_t* seq, TimeUs timeout_us);
  void AddViewer() { viewers_.fetch_add(1); }
  void RemoveViewer() { viewers_.fetch_sub(1); }
  int viewers() const { return viewers_.load(); }
  void Stop();

 private:
  std::string id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string error_;
  std::shared_ptr<const std::string> frame_;
  uint64_t frame_seq_ = 0;
  bool stopped_ = false;
  std::atomic<int> viewers_{0};
};

// The process's running cameras (by id). A reload replaces the entries.
class CameraHub {
 public:
  static CameraHub& Instance();
  std::shared_ptr<CameraState> Register(const std::string& id);
  void Unregister(const std::shared_ptr<CameraState>& s);
  std::shared_ptr<CameraState> Find(const std::string& id) const;
  std::vector<std::shared_ptr<CameraState>> List() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<CameraState>> cameras_;
};

// Event store.
std::string CameraDir(const std::string& data_dir, const std::string& camera);
std::string EventId(const std::string& camera, TimeUs start);
// Camera and start time of an id; false when it is not one.
bool ParseEventId(const std::string& id, std::string* camera, TimeUs* start);
// Records, newest first, of `camera` ("" = all), started in [from, to), at most `limit`.
std::vector<nlohmann::json> ListEvents(const std::string& data_dir, const std::string& camera, TimeUs from, TimeUs to,
                                       size_t limit);
// Path of an event's "jpg" or "avi" file; NotFound when the event or file is missing.
Result<std::string> EventFile(const std::string& data_dir, const std::string& id, const std::string& ext);
Status WriteEventRecord(const std::string& data_dir, const nlohmann::json& record);
// Deletes events (all their files) older than max_age and, oldest first, until
// the camera's files take at most max_bytes. Returns the number deleted.
size_t ApplyRetention(const std::string& dir, TimeUs now, TimeUs max_age, uint64_t max_bytes);

}  // namespace edgeflow::vision
