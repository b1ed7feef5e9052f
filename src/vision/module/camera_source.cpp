// The camera source of the vision module: a capture thread reads frames into
// a bounded queue (live inputs drop the oldest frame when it is full), the
// source's own thread analyses them (motion, then people and faces where
// configured), emits readings, keeps events with masked snapshots and clips,
// and feeds the preview. Both threads run at the configured niceness, so a
// saturated camera takes CPU only that sensor pipelines leave.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
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

void NiceThisThread(int nice) {
  if (nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
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
  bool PushWait(Frame f, const std::atomic<bool>& stop) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return q_.size() < cap_ || stop.load(); });
    if (stop.load()) return false;
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
  void Wake() { cv_.notify_all(); }
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

class CameraSource final : public Source {
 public:
  CameraSource(const CameraConfig& cfg, const BuildContext& ctx)
      : cfg_(cfg), id_(ctx.component_id), data_dir_(ctx.data_dir), dir_(CameraDir(ctx.data_dir, ctx.component_id)),
        clock_(ctx.clock), queue_(static_cast<size_t>(cfg.queue_frames)), motion_(cfg.motion) {}

  Status Init() {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
    cv::setNumThreads(static_cast<int>(cfg_.threads));
    if (cfg_.people.enabled) people_ = std::make_unique<PeopleDetector>(cfg_.people);
    if (cfg_.faces.enabled) {
      auto f = FaceDetector::Create(cfg_.faces);
      if (!f.ok()) return Status::Invalid("camera '" + id_ + "': " + f.status().message());
      faces_ = std::move(*f);
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
    sensor_ = Intern(id_);
    return Status::Ok();
  }

  ~CameraSource() override { StopCapture(); }

  Status Run(SourceContext& ctx) override {
    NiceThisThread(static_cast<int>(cfg_.nice));
    state_ = CameraHub::Instance().Register(id_);
    capture_ = std::thread([this] { CaptureLoop(); });
    Batch batch;
    Frame frame;
    TimeUs second_start = clock_->now();
    uint64_t second_frames = 0;
    double second_ms = 0;
    while (!ctx.stopping()) {
      if (!queue_.Pop(&frame, std::chrono::milliseconds(100))) {
        if (capture_done_.load() && queue_.size() == 0) break;  // a file played to its end
        Housekeeping(clock_->now(), batch, ctx);
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      Analyse(frame, batch);
      second_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++second_frames;
      state_->frames_analysed.fetch_add(1, std::memory_order_relaxed);
      const TimeUs now = clock_->now();
      if (now - second_start >= kUsPerSec) {
        state_->fps = second_frames * 1e6 / static_cast<double>(now - second_start);
        state_->analyse_ms = second_frames ? second_ms / static_cast<double>(second_frames) : 0;
        Set(6, state_->fps.load(), frame.ts);
        Set(7, static_cast<double>(state_->frames_dropped.load()), frame.ts);
        second_start = now;
        second_frames = 0;
        second_ms = 0;
      }
      Flush(frame.ts, batch, ctx);
      Housekeeping(now, batch, ctx);
    }
    if (event_open_) CloseEvent(last_motion_ts_);
    FinishClip();
    StopCapture();
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
    NiceThisThread(static_cast<int>(cfg_.nice));
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
    while (!stop_capture_.load()) {
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
      } else if (!queue_.PushWait(std::move(f), stop_capture_)) {
        break;
      }
    }
    state_->connected = false;
    capture_done_ = true;
    queue_.Wake();
  }

  void StopCapture() {
    stop_capture_ = true;
    capture_stop_.request_stop();
    queue_.Wake();
    if (capture_.joinable()) capture_.join();
  }

  // ---- analysis ----

  void Set(size_t i, double v, TimeUs ts) {
    metrics_[i].value = v;
    (void)ts;
  }

  void Analyse(Frame& frame, Batch& /*batch*/) {
    const TimeUs ts = frame.ts;
    MotionResult m;
    if (cfg_.motion.enabled) m = motion_.Detect(frame.image);
    const bool moving = !m.boxes.empty();
    current_faces_.clear();
    faces_known_ = false;
    ++analysed_;
    std::vector<Detection> people;
    if (people_ && (moving || !cfg_.people.on_motion_only) && analysed_ % cfg_.people.every_n_frames == 0) {
      people = people_->Detect(frame.image);
      double best = 0;
      for (const auto& p : people) best = std::max(best, p.score);
      Set(3, static_cast<double>(people.size()), ts);
      Set(4, best, ts);
    } else if (people_ && !moving) {
      Set(3, 0, ts);
      Set(4, 0, ts);
    }
    if (faces_ && moving) DetectFaces(frame.image);
    if (faces_) Set(5, static_cast<double>(current_faces_.size()), ts);
    if (!m.warming_up && cfg_.motion.enabled) {
      Set(0, moving ? 1 : 0, ts);
      Set(1, m.area, ts);
      Set(2, static_cast<double>(m.boxes.size()), ts);
    }
    // Events.
    if (moving) {
      last_motion_ts_ = ts;
      if (!event_open_) OpenEvent(frame, m, people);
      event_max_area_ = std::max(event_max_area_, m.area);
      event_max_people_ = std::max(event_max_people_, people.size());
      event_max_faces_ = std::max(event_max_faces_, current_faces_.size());
    } else if (event_open_ && ts - last_motion_ts_ >= SecondsToUs(cfg_.motion.end_secs)) {
      CloseEvent(last_motion_ts_);
    }
    // Clip frames: held before an event, written during one.
    const bool clips = cfg_.events.snapshots && cfg_.events.clip_before_secs + cfg_.events.clip_after_secs > 0;
    if (clips && ts - last_clip_frame_ >= SecondsToUs(1.0 / cfg_.events.clip_fps) * 9 / 10) {
      last_clip_frame_ = ts;
      if (clip_.isOpened() && ts <= clip_until_) {
        cv::Mat masked = Masked(frame.image);
        clip_.write(masked);
      } else {
        if (clip_.isOpened()) FinishClip();
        ring_.push_back(Frame{frame.image, ts});
        const auto keep = static_cast<size_t>(std::ceil(cfg_.events.clip_before_secs * cfg_.events.clip_fps));
        while (ring_.size() > keep) ring_.pop_front();
      }
    }
    // Preview.
    if (state_->watched() && ts - last_preview_ >= SecondsToUs(1.0 / cfg_.preview_fps)) {
      last_preview_ = ts;
      cv::Mat masked = Masked(frame.image);
      if (!m.boxes.empty())
        for (const auto& b : m.boxes) cv::rectangle(masked, b, cv::Scalar(0, 200, 255), 2);
      for (const auto& p : people) cv::rectangle(masked, p.box, cv::Scalar(0, 255, 0), 2);
      std::vector<uchar> jpeg;
      cv::imencode(".jpg", masked, jpeg, {cv::IMWRITE_JPEG_QUALITY, static_cast<int>(cfg_.events.jpeg_quality)});
      state_->Publish(std::make_shared<const std::string>(jpeg.begin(), jpeg.end()));
    }
  }

  void DetectFaces(const cv::Mat& image) {
    if (faces_known_ || !faces_) return;
    current_faces_ = faces_->Detect(image);
    faces_known_ = true;
  }

  // A copy of `image` with faces and privacy zones masked: the only form in
  // which a frame leaves this class.
  cv::Mat Masked(const cv::Mat& image, bool current = true) {
    cv::Mat out = image.clone();
    std::vector<cv::Rect> faces;
    if (faces_ && cfg_.privacy.mask_faces) {
      if (current) {
        DetectFaces(image);
        faces = current_faces_;
      } else {
        faces = faces_->Detect(image);
      }
    }
    MaskRegions(out, faces, cfg_.privacy);
    return out;
  }

  void OpenEvent(const Frame& frame, const MotionResult& m, const std::vector<Detection>& people) {
    event_open_ = true;
    event_start_ = frame.ts;
    event_max_area_ = m.area;
    event_max_people_ = people.size();
    event_max_faces_ = current_faces_.size();
    event_id_ = EventId(id_, frame.ts);
    state_->events.fetch_add(1);
    event_ = {{"id", event_id_},
              {"camera", id_},
              {"kind", "motion"},
              {"start", frame.ts},
              {"end", nullptr},
              {"width", frame.image.cols},
              {"height", frame.image.rows},
              {"boxes", nlohmann::json::array()},
              {"people_boxes", nlohmann::json::array()},
              {"snapshot", false},
              {"clip", false}};
    for (const auto& b : m.boxes) event_["boxes"].push_back(JsonBox(b));
    for (const auto& p : people) event_["people_boxes"].push_back(JsonBox(p.box));
    if (cfg_.events.snapshots) {
      const cv::Mat masked = Masked(frame.image);
      event_["faces_masked"] = current_faces_.size();
      const std::string path = (fs::path(dir_) / (event_id_ + ".jpg")).string();
      if (cv::imwrite(path + ".part.jpg", masked, {cv::IMWRITE_JPEG_QUALITY, static_cast<int>(cfg_.events.jpeg_quality)})) {
        std::error_code ec;
        fs::rename(path + ".part.jpg", path, ec);
        event_["snapshot"] = !ec;
      }
      if (cfg_.events.clip_before_secs + cfg_.events.clip_after_secs > 0) StartClip(frame);
    }
    UpdateRecord();
  }

  void StartClip(const Frame& frame) {
    FinishClip();
    clip_path_ = (fs::path(dir_) / (event_id_ + ".avi")).string();
    clip_.open(clip_path_ + ".part", cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
               cfg_.events.clip_fps, frame.image.size());
    if (!clip_.isOpened()) {
      spdlog::warn("camera '{}': cannot write clip {}", id_, clip_path_);
      return;
    }
    clip_.set(cv::VIDEOWRITER_PROP_QUALITY, static_cast<double>(cfg_.events.jpeg_quality));
    for (const auto& f : ring_)
      if (f.image.size() == frame.image.size()) clip_.write(Masked(f.image, false));
    ring_.clear();
    clip_.write(Masked(frame.image));
    clip_until_ = frame.ts + SecondsToUs(cfg_.events.clip_after_secs);
    clip_event_ = event_id_;
  }

  void FinishClip() {
    if (!clip_.isOpened()) return;
    clip_.release();
    std::error_code ec;
    fs::rename(clip_path_ + ".part", clip_path_, ec);
    if (!ec && clip_event_ == event_id_ && event_open_) {
      event_["clip"] = true;
      UpdateRecord();
    } else if (!ec) {
      // The event already ended: mark its stored record.
      auto records = ListEvents(data_dir_, id_, 0, std::numeric_limits<TimeUs>::max(), 64);
      for (auto& r : records)
        if (r.value("id", "") == clip_event_) {
          r["clip"] = true;
          (void)WriteEventRecord(data_dir_, r);
        }
    }
  }

  void CloseEvent(TimeUs end) {
    event_open_ = false;
    event_["end"] = end;
    event_["max_area"] = event_max_area_;
    event_["max_people"] = event_max_people_;
    event_["max_faces"] = event_max_faces_;
    UpdateRecord();
    const auto max_bytes = static_cast<uint64_t>(cfg_.events.max_mb * 1024 * 1024);
    const size_t removed =
        ApplyRetention(dir_, clock_->now(), SecondsToUs(cfg_.events.max_age_hours * 3600), max_bytes);
    if (removed) spdlog::info("camera '{}': retention removed {} event(s)", id_, removed);
  }

  void UpdateRecord() {
    event_["max_area"] = event_max_area_;
    event_["max_people"] = event_max_people_;
    event_["max_faces"] = event_max_faces_;
    auto st = WriteEventRecord(data_dir_, event_);
    if (!st.ok()) spdlog::warn("camera '{}': {}", id_, st.message());
  }

  void Housekeeping(TimeUs now, Batch& batch, SourceContext& ctx) {
    if (clip_.isOpened() && now > clip_until_ + kUsPerSec) FinishClip();  // no frames came to end it
    if (event_open_ && now - last_motion_ts_ >= SecondsToUs(cfg_.motion.end_secs) + kUsPerSec) CloseEvent(last_motion_ts_);
    if (now - last_retention_ >= 60 * kUsPerSec) {
      last_retention_ = now;
      ApplyRetention(dir_, now, SecondsToUs(cfg_.events.max_age_hours * 3600),
                     static_cast<uint64_t>(cfg_.events.max_mb * 1024 * 1024));
    }
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
  std::string id_, data_dir_, dir_;
  Clock* clock_;
  FrameQueue queue_;
  MotionDetector motion_;
  std::unique_ptr<PeopleDetector> people_;
  std::unique_ptr<FaceDetector> faces_;
  std::shared_ptr<CameraState> state_;
  std::thread capture_;
  std::atomic<bool> stop_capture_{false}, capture_done_{false};
  StopToken capture_stop_;

  Symbol sensor_ = kNoSymbol;
  std::vector<Metric> metrics_;
  uint64_t seq_ = 0;
  uint64_t analysed_ = 0;
  std::vector<cv::Rect> current_faces_;
  bool faces_known_ = false;

  bool event_open_ = false;
  std::string event_id_;
  nlohmann::json event_;
  TimeUs event_start_ = 0, last_motion_ts_ = 0;
  double event_max_area_ = 0;
  size_t event_max_people_ = 0, event_max_faces_ = 0;

  std::deque<Frame> ring_;
  cv::VideoWriter clip_;
  std::string clip_path_, clip_event_;
  TimeUs clip_until_ = 0, last_clip_frame_ = 0, last_preview_ = 0, last_retention_ = 0;
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
