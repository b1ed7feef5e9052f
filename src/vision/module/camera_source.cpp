// The camera source of the vision module: a capture thread reads frames into
// a bounded queue (live inputs drop the oldest frame when it is full), the
// source's own thread analyses them (motion, then people and faces where
// configured), emits readings, keeps events with masked snapshots and clips,
// and hands frames to the event writer (below). All three threads run under
// SCHED_IDLE (or at the configured niceness), so a saturated camera takes CPU
// only that sensor pipelines leave.
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <deque>
#include <filesystem>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <random>
#include <thread>

#include "edgeflow/version.h"
#include "vision/media.h"
#include "vision/module/analysis.h"

namespace edgeflow::vision {
namespace {

namespace fs = std::filesystem;

const char* InputName(Input i) {
  switch (i) {
    case Input::kV4l2: return "v4l2";
    case Input::kStream: return "stream";
    case Input::kFile: return "file";
    case Input::kSynthetic: return "synthetic";
  }
  return "?";
}

// Lowers the calling thread's priority: SCHED_IDLE when asked (a waking
// sensor thread then preempts it at once and the kernel treats its CPU as
// free when placing that thread), and the niceness in any case (used by the
// kernel when the policy cannot be changed). Lowering needs no privilege.
void LowerThisThreadsPriority(const CameraConfig& cfg) {
  static std::atomic<bool> warned{false};
  if (cfg.nice > 0 && setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), static_cast<int>(cfg.nice)) != 0 &&
      !warned.exchange(true))
    spdlog::warn("vision threads cannot lower their priority (setpriority: {}); sensor pipelines may wait for "
                 "the CPU behind cameras", std::strerror(errno));
  if (!cfg.idle_priority) return;
  sched_param param{};
  if (const int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param); rc != 0 && !warned.exchange(true))
    spdlog::warn("vision threads cannot switch to idle scheduling ({}); they keep niceness {}", std::strerror(rc),
                 cfg.nice);
}

struct Frame {
  cv::Mat image;
  TimeUs ts = 0;
};

// Bounded frame queue between capture and analysis.
class FrameQueue {
 public:
  explicit FrameQueue(size_t cap) : cap_(cap) {}
  // Live inputs: drops the oldest when full (returns true when it dropped).
  bool PushDropOldest(Frame f) {
    bool dropped = false;
    {
      std::lock_guard lock(mu_);
      if (q_.size() >= cap_) {
        q_.pop_front();
        dropped = true;
      }
      q_.push_back(std::move(f));
    }
    cv_.notify_all();
    return dropped;
  }
  // Recorded inputs played as fast as analysed: waits for room.
  bool PushWait(Frame f, const StopToken& stop) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return q_.size() < cap_ || stop.stop_requested(); });
    if (stop.stop_requested()) return false;
    q_.push_back(std::move(f));
    lock.unlock();
    cv_.notify_all();
    return true;
  }
  bool Pop(Frame* f, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return false;
    *f = std::move(q_.front());
    q_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return true;
  }
  // Taking the lock orders the wake-up after a waiter's check of its stop
  // token: a stop requested between the check and the wait is not missed.
  void Wake() {
    { std::lock_guard lock(mu_); }
    cv_.notify_all();
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return q_.size();
  }

 private:
  size_t cap_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> q_;
};

std::vector<int> JsonBox(const cv::Rect& r) { return {r.x, r.y, r.width, r.height}; }

// Everything that leaves the camera as pixels goes through here, on a thread
// of its own: snapshots, clips and preview frames are masked (faces found on
// that very frame, privacy zones) and then encoded. The analysis thread hands
// frames over and never waits for a face detector or an encoder; when this
// thread falls behind, clip and preview frames are left out (a clip gets
// fewer frames), and so are snapshots once 8 wait (the event is still
// recorded, without a snapshot and so without a clip); nothing is ever
// written unmasked. It alone writes the event files.
class EventWriter {
 public:
  static constexpr size_t kMaxQueuedSnapshots = 8;

  EventWriter(const CameraConfig& cfg, std::string data_dir, std::string camera, Clock* clock)
      : cfg_(cfg), data_dir_(std::move(data_dir)), camera_(std::move(camera)), dir_(CameraDir(data_dir_, camera_)),
        clock_(clock) {}
  ~EventWriter() { Stop(); }
  void set_faces(std::unique_ptr<FaceDetector> f) { faces_ = std::move(f); }
  bool clips() const {
    return cfg_.events.snapshots && cfg_.events.clip_before_secs + cfg_.events.clip_after_secs > 0;
  }
  // Faces found on the last masked frame; -1 before any (or without a detector).
  double faces_seen() const { return faces_seen_.load(std::memory_order_relaxed); }

  void Start(std::shared_ptr<CameraState> state) {
    state_ = std::move(state);
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Open(const nlohmann::json& event, const Frame& f) {
    Push(Job{Job::kOpen, cfg_.events.snapshots ? f : Frame{}, event, {}}, false);  // no snapshot: no frame to hold
  }
  void Close(const nlohmann::json& event) { Push(Job{Job::kClose, Frame{}, event, {}}, false); }
  void ClipFrame(const Frame& f) { Push(Job{Job::kClip, f, {}, {}}, true); }
  void Preview(const Frame& f, std::vector<cv::Rect> boxes) { Push(Job{Job::kPreview, f, {}, std::move(boxes)}, true); }

 private:
  struct Job {
    enum Kind { kOpen, kClose, kClip, kPreview } kind;
    Frame frame;
    nlohmann::json event;
    std::vector<cv::Rect> boxes;
  };

  void Push(Job j, bool droppable) {
    {
      std::lock_guard lock(mu_);
      if (j.kind == Job::kOpen) {
        // Events are never dropped, but their snapshot frames are when the
        // writer is this far behind (events opening faster than it masks and
        // encodes, e.g. end_secs 0 on a flickering scene): each queued frame
        // is a full image.
        size_t frames = 0;
        for (const auto& q : jobs_) frames += q.kind == Job::kOpen && !q.frame.image.empty();
        if (frames >= kMaxQueuedSnapshots) {
          j.frame = Frame{};
          if (state_) state_->frames_not_written.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (droppable) {
        size_t same = 0;
        for (const auto& q : jobs_) same += q.kind == j.kind;
        const size_t limit =
            j.kind == Job::kPreview ? 1 : static_cast<size_t>(std::ceil(cfg_.events.clip_before_secs * cfg_.events.clip_fps)) + 4;
        if (same >= limit) {
          if (state_) state_->frames_not_written.fetch_add(1, std::memory_order_relaxed);
          return;
        }
      }
      jobs_.push_back(std::move(j));
    }
    cv_.notify_one();
  }

  void Loop() {
    LowerThisThreadsPriority(cfg_);
    TimeUs next_retention = 0;  // at start, then every minute: a camera that sees nothing still forgets
    for (;;) {
      Job j;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) {
          if (stop_) break;
          lock.unlock();
          if (clip_.isOpened() && clock_->now() > clip_until_ + kUsPerSec) FinishClip();  // no more frames came
          RetentionEveryMinute(next_retention);
          continue;
        }
        j = std::move(jobs_.front());
        jobs_.pop_front();
      }
      try {
        Handle(j);
      } catch (const cv::Exception& e) {
        spdlog::warn("camera '{}': {}", camera_, e.what());
      }
      RetentionEveryMinute(next_retention);  // the clip ring keeps this queue busy: not only when idle
    }
    FinishClip();
  }

  void Handle(Job& j) {
    switch (j.kind) {
      case Job::kOpen: {
        FinishClip();
        record_ = j.event;
        record_["snapshot"] = false;
        record_["clip"] = false;
        record_["max_faces"] = 0;
        if (cfg_.events.snapshots && !j.frame.image.empty()) {
          int faces = 0;
          const cv::Mat masked = Masked(j.frame.image, &faces);
          record_["faces_masked"] = faces;
          const std::string path = (fs::path(dir_) / (record_["id"].get<std::string>() + ".jpg")).string();
          std::error_code ec;
          fs::create_directories(dir_, ec);
          if (cv::imwrite(path + ".part.jpg", masked, {cv::IMWRITE_JPEG_QUALITY, static_cast<int>(cfg_.events.jpeg_quality)})) {
            fs::rename(path + ".part.jpg", path, ec);
            record_["snapshot"] = !ec;
          }
          if (clips()) StartClip(j.frame, masked);
        }
        WriteRecord();
        break;
      }
      case Job::kClose: {
        for (const auto& [k, v] : j.event.items())
          if (k != "snapshot" && k != "clip" && k != "max_faces" && k != "faces_masked") record_[k] = v;
        WriteRecord();
        Retention(clock_->now());
        break;
      }
      case Job::kClip:
        if (clip_.isOpened() && j.frame.ts <= clip_until_) {
          int faces = 0;
          clip_.write(Masked(j.frame.image, &faces));
          break;
        }
        if (clip_.isOpened()) FinishClip();
        ring_.push_back(std::move(j.frame));  // raw until it is written: masked then
        while (ring_.size() > static_cast<size_t>(std::ceil(cfg_.events.clip_before_secs * cfg_.events.clip_fps)))
          ring_.pop_front();
        break;
      case Job::kPreview: {
        int faces = 0;
        cv::Mat masked = Masked(j.frame.image, &faces);
        for (const auto& b : j.boxes) cv::rectangle(masked, b, cv::Scalar(0, 200, 255), 2);
        std::vector<uchar> jpeg;
        cv::imencode(".jpg", masked, jpeg, {cv::IMWRITE_JPEG_QUALITY, static_cast<int>(cfg_.events.jpeg_quality)});
        state_->Publish(std::make_shared<const std::string>(jpeg.begin(), jpeg.end()));
        break;
      }
    }
  }

  // The frame with the faces found on it and the privacy zones masked.
  cv::Mat Masked(const cv::Mat& image, int* faces_found) {
    cv::Mat out = image.clone();
    std::vector<cv::Rect> faces;
    if (faces_) {
      faces = faces_->Detect(image);
      faces_seen_ = static_cast<double>(faces.size());
      if (!record_.is_null() && record_.contains("max_faces"))
        record_["max_faces"] = std::max<size_t>(record_["max_faces"].get<size_t>(), faces.size());
    }
    *faces_found = static_cast<int>(faces.size());
    if (!cfg_.privacy.mask_faces) faces.clear();
    MaskRegions(out, faces, cfg_.privacy);
    return out;
  }

  void StartClip(const Frame& f, const cv::Mat& masked_first) {
    clip_id_ = record_["id"].get<std::string>();
    clip_path_ = (fs::path(dir_) / (clip_id_ + ".avi")).string();
    clip_.open(clip_path_ + ".part.avi", cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
               cfg_.events.clip_fps, f.image.size());
    if (!clip_.isOpened()) {
      spdlog::warn("camera '{}': cannot write clip {}", camera_, clip_path_);
      return;
    }
    clip_.set(cv::VIDEOWRITER_PROP_QUALITY, static_cast<double>(cfg_.events.jpeg_quality));
    int faces = 0;
    for (const auto& r : ring_)
      if (r.image.size() == f.image.size() && r.ts < f.ts) clip_.write(Masked(r.image, &faces));
    ring_.clear();
    clip_.write(masked_first);
    clip_until_ = f.ts + SecondsToUs(cfg_.events.clip_after_secs);
  }

  void FinishClip() {
    if (!clip_.isOpened()) return;
    clip_.release();
    std::error_code ec;
    fs::rename(clip_path_ + ".part.avi", clip_path_, ec);
    if (ec || record_.is_null() || record_.value("id", "") != clip_id_) return;
    record_["clip"] = true;
    WriteRecord();
  }

  void RetentionEveryMinute(TimeUs& next) {
    const TimeUs now = clock_->now();
    if (now < next) return;
    next = now + 60 * kUsPerSec;
    Retention(now);
  }

  void Retention(TimeUs now) {
    const size_t removed = ApplyRetention(dir_, now, SecondsToUs(cfg_.events.max_age_hours * 3600),
                                          static_cast<uint64_t>(cfg_.events.max_mb * 1024 * 1024));
    if (removed) spdlog::info("camera '{}': retention removed {} event(s)", camera_, removed);
  }

  void WriteRecord() {
    auto st = WriteEventRecord(data_dir_, record_);
    if (!st.ok()) spdlog::warn("camera '{}': {}", camera_, st.message());
  }

  const CameraConfig& cfg_;
  std::string data_dir_, camera_, dir_;
  Clock* clock_;
  std::unique_ptr<FaceDetector> faces_;
  std::shared_ptr<CameraState> state_;
  std::atomic<double> faces_seen_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread thread_;
  nlohmann::json record_;
  std::deque<Frame> ring_;
  cv::VideoWriter clip_;
  std::string clip_path_, clip_id_;
  TimeUs clip_until_ = 0;
};

class CameraSource final : public Source {
 public:
  CameraSource(const CameraConfig& cfg, const BuildContext& ctx)
      : cfg_(cfg), id_(ctx.component_id), dir_(CameraDir(ctx.data_dir, ctx.component_id)),
        clock_(ctx.clock), queue_(static_cast<size_t>(cfg.queue_frames)), motion_(cfg.motion),
        writer_(cfg_, ctx.data_dir, ctx.component_id, ctx.clock) {}

  Status Init() {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
    cv::setNumThreads(static_cast<int>(cfg_.threads));
    if (cfg_.people.enabled) people_ = std::make_unique<PeopleDetector>(cfg_.people);
    if (cfg_.faces.enabled) {
      auto f = FaceDetector::Create(cfg_.faces);
      if (!f.ok()) return Status::Invalid("camera '" + id_ + "': " + f.status().message());
      writer_.set_faces(std::move(*f));
    }
    if (cfg_.input == Input::kFile) {  // a file that cannot be decoded is a start-up error
      cv::VideoCapture probe(cfg_.path, cv::CAP_FFMPEG);
      cv::Mat first;
      if (!probe.isOpened() || !probe.read(first) || first.empty())
        return Status::Invalid("camera '" + id_ + "': cannot decode " + cfg_.path +
                               " (not a video, or a codec FFmpeg here does not have)");
    }
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return Status::Unavailable("camera '" + id_ + "': cannot create " + dir_ + ": " + ec.message());
    for (const char* m : {"motion", "motion_area", "motion_regions", "people", "people_score", "faces", "fps",
                          "dropped_frames"})
      metrics_.push_back({Intern(m), NAN, 0});
    zone_metrics_ = metrics_.size();  // motion_<zone>, then the detector's
    for (const auto& z : cfg_.motion.zones) metrics_.push_back({Intern("motion_" + z.name), NAN, 0});
    objects_metrics_ = metrics_.size();
    if (!cfg_.detector.model.empty()) {
      auto m = LoadDetectorManifest(cfg_.detector.model);
      if (!m.ok()) return Status::Invalid("camera '" + id_ + "': detector: " + m.status().message());
      auto d = OnnxDetector::Create(*m, cfg_.detector.model);
      if (!d.ok()) return Status::Invalid("camera '" + id_ + "': detector " + d.status().message());
      detector_ = std::move(*d);
      metrics_.push_back({Intern("objects"), NAN, 0});  // then one per class
      for (const auto& c : m->classes) metrics_.push_back({Intern(ClassMetric(c)), NAN, 0});
    }
    sensor_ = Intern(id_);
    return Status::Ok();
  }

  ~CameraSource() override {
    StopCapture();
    writer_.Stop();
  }

  Status Run(SourceContext& ctx) override {
    LowerThisThreadsPriority(cfg_);
    state_ = CameraHub::Instance().Register(id_);
    state_->preview_interval_secs =
        std::max(1.0 / cfg_.preview_fps, cfg_.fps > 0 ? 1.0 / cfg_.fps : 0.0);
    writer_.Start(state_);
    capture_ = std::thread([this] { CaptureLoop(); });
    Batch batch;
    Frame frame;
    TimeUs second_start = clock_->now();
    uint64_t second_frames = 0;
    double second_ms = 0;
    // Frames analysed per second and the mean analysis time, once a second
    // (also while no frames come: a lost stream reads 0 fps).
    auto each_second = [&](TimeUs now) {
      if (now - second_start < kUsPerSec) return;
      state_->fps = second_frames * 1e6 / static_cast<double>(now - second_start);
      state_->analyse_ms = second_frames ? second_ms / static_cast<double>(second_frames) : 0;
      Set(6, state_->fps.load());
      Set(7, static_cast<double>(state_->frames_dropped.load()));
      second_start = now;
      second_frames = 0;
      second_ms = 0;
    };
    while (!ctx.stopping()) {
      if (!queue_.Pop(&frame, std::chrono::milliseconds(100))) {
        if (capture_done_.load() && queue_.size() == 0) break;  // a file played to its end
        each_second(clock_->now());
        Housekeeping(clock_->now(), batch, ctx);
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      try {
        Analyse(frame, batch, ctx);
      } catch (const cv::Exception& e) {  // one bad frame costs that frame, not the process
        state_->set_error(std::string("frame not analysed: ") + e.what());
        spdlog::warn("camera '{}': frame not analysed: {}", id_, e.what());
      }
      second_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++second_frames;
      state_->frames_analysed.fetch_add(1, std::memory_order_relaxed);
      const TimeUs now = clock_->now();
      each_second(now);
      Flush(frame.ts, batch, ctx);
      Housekeeping(now, batch, ctx);
    }
    if (event_open_) CloseEvent(last_motion_ts_);
    StopCapture();
    writer_.Stop();  // writes what it holds
    CameraHub::Instance().Unregister(state_);
    return Status::Ok();
  }

 private:
  struct Metric {
    Symbol name;
    double last;     // last emitted
    TimeUs last_ts;  // when
    double value = NAN;
  };

  // ---- capture ----

  bool Open(cv::VideoCapture& cap) {
    const std::vector<int> timeouts = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv::CAP_PROP_READ_TIMEOUT_MSEC, 5000};
    switch (cfg_.input) {
      case Input::kV4l2: return cap.open(cfg_.device, cv::CAP_V4L2);
      case Input::kStream: return cap.open(cfg_.url, cv::CAP_FFMPEG, timeouts);
      case Input::kFile: return cap.open(cfg_.path, cv::CAP_FFMPEG);
      case Input::kSynthetic: return true;
    }
    return false;
  }

  bool live() const {
    return cfg_.input == Input::kV4l2 || cfg_.input == Input::kStream || cfg_.realtime;
  }

  void CaptureLoop() {
    LowerThisThreadsPriority(cfg_);
    cv::VideoCapture cap;
    std::unique_ptr<SyntheticScene> scene;
    if (cfg_.input == Input::kSynthetic) scene = std::make_unique<SyntheticScene>(cfg_.synthetic);
    const double synth_fps = cfg_.fps > 0 ? cfg_.fps : 25;
    double backoff = cfg_.reconnect_secs;
    std::mt19937 jitter(std::random_device{}());
    bool open = false;
    uint64_t n = 0;
    const TimeUs start = clock_->now();
    TimeUs next_due = start;        // pacing of realtime playback
    TimeUs last_accepted = 0;       // fps limit
    double frame_secs = 0;          // recorded: time between frames
    cv::Mat image;
    while (!capture_stop_.stop_requested()) {
      if (!open) {
        open = Open(cap);
        if (!open) {
          const std::string what = cfg_.input == Input::kV4l2 ? cfg_.device : cfg_.url.empty() ? cfg_.path : cfg_.url;
          state_->set_error(std::string("cannot open ") + InputName(cfg_.input) + " " + what);
          state_->connected = false;
          if (cfg_.input == Input::kFile) break;  // checked at start; gone since
          const double wait = backoff * std::uniform_real_distribution<double>(0.8, 1.2)(jitter);
          backoff = std::min(backoff * 2, cfg_.reconnect_max_secs);
          clock_->sleep_until(clock_->now() + SecondsToUs(wait), capture_stop_);
          continue;
        }
        state_->connected = true;
        state_->set_error("");
        if (cfg_.input != Input::kSynthetic) {
          const double fps = cap.get(cv::CAP_PROP_FPS);
          frame_secs = fps > 0 && fps < 1000 ? 1.0 / fps : 0.04;
        } else {
          frame_secs = 1.0 / synth_fps;
        }
      }
      TimeUs ts = clock_->now();
      bool got;
      if (scene) {
        got = true;
        const double t = live() ? static_cast<double>(ts - start) / 1e6 : static_cast<double>(n) / synth_fps;
        image.create(scene->height(), scene->width(), CV_8UC3);
        scene->Render(t, image);
      } else {
        image = cv::Mat();  // a new buffer: the previous one may still be queued
        got = cap.read(image) && !image.empty();
        // A camera's frame is stamped when it arrived, not when the (blocking) read began.
        if (cfg_.input == Input::kV4l2 || cfg_.input == Input::kStream) ts = clock_->now();
      }
      if (!got) {
        if (cfg_.input == Input::kFile) {
          if (!cfg_.loop) break;
          cap.release();
          open = false;
          continue;
        }
        state_->connected = false;
        state_->reconnects.fetch_add(1);
        state_->set_error("stream lost; reconnecting");
        cap.release();
        open = false;
        continue;
      }
      backoff = cfg_.reconnect_secs;
      ++n;
      state_->frames_captured.fetch_add(1, std::memory_order_relaxed);
      if (live() && cfg_.input != Input::kV4l2 && cfg_.input != Input::kStream) {
        // A file or a scene played in real time: one frame per frame period.
        next_due += SecondsToUs(frame_secs);
        if (next_due > ts) {
          clock_->sleep_until(next_due, capture_stop_);
          ts = clock_->now();
        } else if (ts - next_due > kUsPerSec) {
          next_due = ts;  // far behind (a pause): do not rush to catch up
        }
      }
      if (cfg_.fps > 0 && last_accepted && ts - last_accepted < SecondsToUs(1.0 / cfg_.fps) * 95 / 100) continue;
      last_accepted = ts;
      if (cfg_.width > 0 && image.cols != cfg_.width) {
        cv::Mat scaled;
        const double f = static_cast<double>(cfg_.width) / image.cols;
        cv::resize(image, scaled, cv::Size(), f, f, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        image = scaled;
      }
      state_->width = image.cols;
      state_->height = image.rows;
      Frame f{scene ? image.clone() : image, ts};
      if (live()) {
        if (queue_.PushDropOldest(std::move(f))) state_->frames_dropped.fetch_add(1, std::memory_order_relaxed);
      } else if (!queue_.PushWait(std::move(f), capture_stop_)) {
        break;
      }
    }
    state_->connected = false;
    capture_done_ = true;
    queue_.Wake();
  }

  void StopCapture() {
    capture_stop_.request_stop();
    queue_.Wake();
    if (capture_.joinable()) capture_.join();
  }

  // ---- analysis ----

  void Set(size_t i, double v) { metrics_[i].value = v; }

  void Analyse(Frame& frame, Batch& batch, SourceContext& ctx) {
    last_frame_at_ = clock_->now();
    const TimeUs ts = frame.ts;
    MotionResult m;
    if (cfg_.motion.enabled) m = motion_.Detect(frame.image);
    const bool moving = !m.boxes.empty();
    ++analysed_;
    std::vector<Detection> people;
    if (people_ && (moving || !cfg_.people.on_motion_only) && analysed_ % cfg_.people.every_n_frames == 0) {
      people = people_->Detect(frame.image);
      double best = 0;
      for (const auto& p : people) best = std::max(best, p.score);
      Set(3, static_cast<double>(people.size()));
      Set(4, best);
    } else if (people_ && !moving) {
      Set(3, 0);
      Set(4, 0);
    }
    if (writer_.faces_seen() >= 0) Set(5, writer_.faces_seen());
    std::vector<ObjectDetection> objects;
    if (detector_ && (moving || !cfg_.detector.on_motion_only) && analysed_ % cfg_.detector.every_n_frames == 0) {
      objects = detector_->Detect(frame.image);
      const size_t classes = detector_->manifest().classes.size();
      std::vector<size_t> per(classes);
      for (const auto& o : objects) ++per[static_cast<size_t>(o.cls)];
      Set(objects_metrics_, static_cast<double>(objects.size()));
      for (size_t c = 0; c < classes; ++c) Set(objects_metrics_ + 1 + c, static_cast<double>(per[c]));
    } else if (detector_ && !moving && cfg_.detector.on_motion_only) {
      for (size_t i = objects_metrics_; i < metrics_.size(); ++i) Set(i, 0);
    }
    if (!m.warming_up && cfg_.motion.enabled) {
      Set(0, moving ? 1 : 0);
      Set(1, m.area);
      Set(2, static_cast<double>(m.boxes.size()));
      for (size_t z = 0; z < m.zones.size(); ++z) Set(zone_metrics_ + z, m.zones[z]);
    }
    // The numbers go first: rules see a detection before anything is written.
    Flush(ts, batch, ctx);

    // Events: opened on motion, ended after end_secs without.
    if (moving) {
      last_motion_ts_ = ts;
      if (!event_open_) {
        event_open_ = true;
        event_ = {{"id", EventId(id_, ts)},
                  {"camera", id_},
                  {"kind", "motion"},
                  {"start", ts},
                  {"end", nullptr},
                  {"width", frame.image.cols},
                  {"height", frame.image.rows},
                  {"boxes", nlohmann::json::array()},
                  {"people_boxes", nlohmann::json::array()},
                  {"max_area", 0},
                  {"max_people", 0}};
        for (const auto& b : m.boxes) event_["boxes"].push_back(JsonBox(b));
        for (const auto& p : people) event_["people_boxes"].push_back(JsonBox(p.box));
        if (detector_) {
          event_["objects"] = nlohmann::json::array();
          for (const auto& o : objects)
            event_["objects"].push_back({{"class", detector_->manifest().classes[static_cast<size_t>(o.cls)]},
                                         {"score", o.score}, {"box", JsonBox(o.box)}});
        }
        state_->events.fetch_add(1);
        writer_.Open(event_, frame);
        last_clip_frame_ = ts;
      }
      event_["max_area"] = std::max(event_["max_area"].get<double>(), m.area);
      event_["max_people"] = std::max(event_["max_people"].get<size_t>(), people.size());
    } else if (event_open_ && ts - last_motion_ts_ >= SecondsToUs(cfg_.motion.end_secs)) {
      CloseEvent(last_motion_ts_);
    }
    // Clip frames at clip_fps: held before an event, written during one.
    if (writer_.clips() && ts - last_clip_frame_ >= SecondsToUs(1.0 / cfg_.events.clip_fps) * 9 / 10) {
      last_clip_frame_ = ts;
      writer_.ClipFrame(frame);
    }
    // Preview, while somebody watches.
    if (state_->watched() && ts - last_preview_ >= SecondsToUs(1.0 / cfg_.preview_fps)) {
      last_preview_ = ts;
      std::vector<cv::Rect> boxes = m.boxes;
      for (const auto& p : people) boxes.push_back(p.box);
      for (const auto& o : objects) boxes.push_back(o.box);
      writer_.Preview(frame, std::move(boxes));
    }
  }

  void CloseEvent(TimeUs end) {
    event_open_ = false;
    event_["end"] = end;
    writer_.Close(event_);
  }

  void Housekeeping(TimeUs now, Batch& batch, SourceContext& ctx) {
    // No frames come (a stream lost, a file ended): end the event.
    if (event_open_ && now - last_frame_at_ >= kUsPerSec && now - last_motion_ts_ >= SecondsToUs(cfg_.motion.end_secs))
      CloseEvent(last_motion_ts_);
    Flush(now, batch, ctx);
  }

  // Emits metrics that changed, and every metric at least once a second.
  void Flush(TimeUs ts, Batch& batch, SourceContext& ctx) {
    for (auto& m : metrics_) {
      if (std::isnan(m.value)) continue;
      if (m.value == m.last && ts - m.last_ts < kUsPerSec) continue;
      Reading r;
      r.ts = ts;
      r.value = m.value;
      r.seq = ++seq_;
      r.sensor = sensor_;
      r.metric = m.name;
      batch.readings.push_back(r);
      m.last = m.value;
      m.last_ts = ts;
    }
    if (!batch.empty()) ctx.emit(batch);
  }

  CameraConfig cfg_;
  std::string id_, dir_;
  Clock* clock_;
  FrameQueue queue_;
  MotionDetector motion_;
  std::unique_ptr<PeopleDetector> people_;
  std::unique_ptr<OnnxDetector> detector_;
  size_t zone_metrics_ = 0, objects_metrics_ = 0;  // where their metrics start
  std::shared_ptr<CameraState> state_;
  std::thread capture_;
  std::atomic<bool> capture_done_{false};
  StopToken capture_stop_;

  Symbol sensor_ = kNoSymbol;
  std::vector<Metric> metrics_;
  uint64_t seq_ = 0;
  uint64_t analysed_ = 0;
  EventWriter writer_;
  bool event_open_ = false;
  nlohmann::json event_;
  TimeUs last_motion_ts_ = 0;
  TimeUs last_frame_at_ = 0;  // when the last frame was analysed (processing time)
  TimeUs last_clip_frame_ = 0, last_preview_ = 0;
};

}  // namespace
}  // namespace edgeflow::vision

extern "C" {
__attribute__((visibility("default"))) const char* edgeflow_module_version() { return edgeflow::kVersion; }
__attribute__((visibility("default"))) void edgeflow_vision_make_camera(const edgeflow::vision::MakeCameraArgs* a) {
  using namespace edgeflow;
  try {
    auto s = std::make_unique<vision::CameraSource>(*a->config, *a->context);
    Status st = s->Init();
    if (!st.ok()) {
      *a->out = st;
      return;
    }
    *a->out = std::unique_ptr<Source>(std::move(s));
  } catch (const cv::Exception& e) {
    *a->out = Status::Invalid("camera '" + a->context->component_id + "': " + e.what());
  }
}
}
