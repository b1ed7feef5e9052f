#include "vision/camera.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "core/module.h"
#include "vision/detector.h"

namespace edgeflow::vision {

using config::Diagnostics;
using config::Schema;

namespace {

const Schema<Zone>& ZoneSchema() {
  static const auto* s = [] {
    auto* s = new Schema<Zone>("zone", "A rectangle in fractions of the frame (0 to 1).");
    s->Number<double>("x", &Zone::x, 0, "", "Left edge.", 0, 1)
        .Number<double>("y", &Zone::y, 0, "", "Top edge.", 0, 1)
        .Number<double>("w", &Zone::w, 1, "", "Width.", 0, 1)
        .Number<double>("h", &Zone::h, 1, "", "Height.", 0, 1)
        .String("name", &Zone::name, "", "Name: required in motion.zones (letters, digits, _), a label elsewhere.")
        .Check([](const Zone& z, const YAML::Node& n, Diagnostics& d) {
          if (z.x + z.w > 1.000001 || z.y + z.h > 1.000001) d.Error(n, "zone: extends past the frame (x + w and y + h must be at most 1)");
          if (z.w <= 0 || z.h <= 0) d.Error(n, "zone: w and h must be greater than 0");
        });
    return s;
  }();
  return *s;
}

const Schema<SyntheticConfig>& SyntheticSchema() {
  static const auto* s = [] {
    auto* s = new Schema<SyntheticConfig>("synthetic", "A generated scene with known object boxes (tests, demos).");
    s->Number<int64_t>("width", &SyntheticConfig::width, 640, "px", "Frame width.", 64, 4096)
        .Number<int64_t>("height", &SyntheticConfig::height, 480, "px", "Frame height.", 48, 4096)
        .Number<int64_t>("objects", &SyntheticConfig::objects, 2, "", "Figures in the scene at once, at most.", 0, 16)
        .Number<int64_t>("seed", &SyntheticConfig::seed, 1, "", "Seed of the scene (same seed, same scene).", 0, 1 << 30)
        .Number<double>("noise", &SyntheticConfig::noise, 3, "grey levels", "Sensor noise (sigma).", 0, 50)
        .Number<double>("episode_secs", &SyntheticConfig::episode_secs, 4, "s", "Time a figure takes to cross.", 0.5, 600)
        .Number<double>("gap_secs", &SyntheticConfig::gap_secs, 3, "s", "Empty scene between episodes.", 0, 600);
    return s;
  }();
  return *s;
}

const Schema<MotionConfig>& MotionSchema() {
  static const auto* s = [] {
    auto* s = new Schema<MotionConfig>("motion", "Motion detection: background subtraction (MOG2), morphology, regions.");
    s->Bool("enabled", &MotionConfig::enabled, true, "Detect motion.")
        .Number<double>("min_area", &MotionConfig::min_area, 0.002, "fraction", "Smallest region that counts, as a fraction of the frame.", 0, 1)
        .Number<int64_t>("history", &MotionConfig::history, 300, "frames", "Frames the background model remembers.", 10, 100000)
        .Number<double>("var_threshold", &MotionConfig::var_threshold, 24, "", "How different a pixel must be from the background (squared Mahalanobis distance).", 1, 1000)
        .Number<double>("learning_rate", &MotionConfig::learning_rate, -1, "", "Background learning rate; -1 = automatic (1 / history).", -1, 1)
        .ObjectList("regions", &MotionConfig::regions, ZoneSchema(), "Only motion in these areas counts (empty: the whole frame).")
        .ObjectList("exclude", &MotionConfig::exclude, ZoneSchema(), "Motion in these areas never counts (trees, a road).")
        .ObjectList("zones", &MotionConfig::zones, ZoneSchema(),
                    "Named areas watched on their own: a reading motion_<name> gives the fraction of each that moves "
                    "(a door, a restricted area).")
        .Number<double>("end_secs", &MotionConfig::end_secs, 2, "s", "An event ends after this long without motion.", 0, 3600)
        .Number<int64_t>("warmup_frames", &MotionConfig::warmup_frames, 20, "frames", "Frames used to learn the background before motion counts.", 0, 10000)
        .Check([](const MotionConfig& c, const YAML::Node& n, Diagnostics& d) {
          std::set<std::string> seen;
          for (size_t i = 0; i < c.zones.size(); ++i) {
            const std::string& name = c.zones[i].name;
            const bool ok = !name.empty() && name.size() <= 48 &&
                            std::all_of(name.begin(), name.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
            if (!ok) d.Error(n["zones"][i], "motion.zones: every zone needs a 'name' of letters, digits and _ (it names the reading motion_<name>)");
            else if (!seen.insert(name).second) d.Error(n["zones"][i]["name"], "motion.zones: zone '" + name + "' is named twice");
          }
        });
    return s;
  }();
  return *s;
}

const Schema<PeopleConfig>& PeopleSchema() {
  static const auto* s = [] {
    auto* s = new Schema<PeopleConfig>("people", "People detection (OpenCV's HOG + linear SVM pedestrian detector).");
    s->Bool("enabled", &PeopleConfig::enabled, false, "Detect people.")
        .Bool("on_motion_only", &PeopleConfig::on_motion_only, true, "Run only on frames with motion (the detector is slow).")
        .Number<double>("min_score", &PeopleConfig::min_score, 0.5, "", "Smallest SVM margin of a detection.", -10, 10)
        .Number<double>("scale", &PeopleConfig::scale, 1.0, "", "Detect on the frame scaled by this (0.5 is 4x faster, misses small people).", 0.2, 2)
        .Number<int64_t>("every_n_frames", &PeopleConfig::every_n_frames, 1, "frames", "Run on every n-th analysed frame.", 1, 1000);
    return s;
  }();
  return *s;
}

const Schema<FacesConfig>& FacesSchema() {
  static const auto* s = [] {
    auto* s = new Schema<FacesConfig>("faces", "Face detection (cascade classifier).");
    s->Bool("enabled", &FacesConfig::enabled, false, "Detect faces (needed to mask them).")
        .String("cascade", &FacesConfig::cascade, "", "Cascade file; empty = opencv-data's haarcascade_frontalface_default.xml.")
        .Number<int64_t>("min_size", &FacesConfig::min_size, 24, "px", "Smallest face.", 8, 4096)
        .Number<double>("scale_factor", &FacesConfig::scale_factor, 1.15, "", "Step between detection scales (smaller finds more faces, slower).", 1.01, 2)
        .Number<int64_t>("min_neighbors", &FacesConfig::min_neighbors, 4, "", "Overlapping detections a face needs (higher: fewer false faces).", 1, 50)
        .Check([](const FacesConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (!c.cascade.empty() && !std::filesystem::exists(c.cascade)) d.Error(n["cascade"], "cascade file " + c.cascade + " not found");
        });
    return s;
  }();
  return *s;
}

const Schema<DetectorConfig>& DetectorSchema() {
  static const auto* s = [] {
    auto* s = new Schema<DetectorConfig>("detector", "An ONNX object detector described by a manifest (docs/vision.md).");
    s->String("model", &DetectorConfig::model, "", "Directory with manifest.yaml and the ONNX file; empty = none.")
        .Number<int64_t>("every_n_frames", &DetectorConfig::every_n_frames, 1, "frames", "Run on every n-th analysed frame.", 1, 1000)
        .Bool("on_motion_only", &DetectorConfig::on_motion_only, false, "Run only on frames with motion.")
        .Check([](const DetectorConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.model.empty()) return;
          auto m = LoadDetectorManifest(c.model);
          if (!m.ok()) d.Error(n["model"], "detector model: " + m.status().message());
        });
    return s;
  }();
  return *s;
}

const Schema<PrivacyConfig>& PrivacySchema() {
  static const auto* s = [] {
    auto* s = new Schema<PrivacyConfig>("privacy", "What is masked before a frame is stored, served or sent.");
    s->Bool("mask_faces", &PrivacyConfig::mask_faces, true, "Mask detected faces (needs faces.enabled).")
        .ObjectList("zones", &PrivacyConfig::zones, ZoneSchema(), "Areas always masked (a neighbour's window, a screen).")
        .Enum("method", &PrivacyConfig::method, Mask::kPixelate,
              {{"pixelate", Mask::kPixelate}, {"blur", Mask::kBlur}, {"fill", Mask::kFill}}, "How an area is masked.")
        .Number<double>("margin", &PrivacyConfig::margin, 0.15, "fraction", "Grow each face box by this on every side.", 0, 1);
    return s;
  }();
  return *s;
}

const Schema<EventsConfig>& EventsSchema() {
  static const auto* s = [] {
    auto* s = new Schema<EventsConfig>("events", "Motion events kept on the node: a snapshot and a clip each.");
    s->Bool("snapshots", &EventsConfig::snapshots, true, "Keep a JPEG snapshot and a clip per event.")
        .Number<double>("clip_before_secs", &EventsConfig::clip_before_secs, 2, "s", "Clip length before the event (0: no clip).", 0, 30)
        .Number<double>("clip_after_secs", &EventsConfig::clip_after_secs, 3, "s", "Clip length after the event starts.", 0, 120)
        .Number<double>("clip_fps", &EventsConfig::clip_fps, 10, "1/s", "Frame rate of clips (the frames before an event are held in memory at this rate).", 1, 60)
        .Number<int64_t>("jpeg_quality", &EventsConfig::jpeg_quality, 85, "", "JPEG quality of snapshots, clips and the preview.", 10, 100)
        .Number<double>("max_age_hours", &EventsConfig::max_age_hours, 168, "h", "Events older than this are deleted.", 0.001, 87600)
        .Number<double>("max_mb", &EventsConfig::max_mb, 512, "MB", "The camera's events take at most this much disk; oldest go first.", 1, 1e7);
    return s;
  }();
  return *s;
}

}  // namespace

const Schema<CameraConfig>& CameraSchema() {
  static const auto* s = [] {
    auto* s = new Schema<CameraConfig>("camera", "");
    s->Enum("input", &CameraConfig::input, Input::kFile,
            {{"v4l2", Input::kV4l2}, {"stream", Input::kStream}, {"file", Input::kFile}, {"synthetic", Input::kSynthetic}},
            "Where frames come from.")
        .String("device", &CameraConfig::device, "", "v4l2: the camera device, e.g. /dev/video0.")
        .String("url", &CameraConfig::url, "", "stream: rtsp://, http:// or https:// URL (FFmpeg).")
        .String("path", &CameraConfig::path, "", "file: a video file (MJPG, XVID, mp4v, H.264...).")
        .Bool("loop", &CameraConfig::loop, false, "file: start again at the end.")
        .Bool("realtime", &CameraConfig::realtime, true, "file: play at the file's frame rate (else as fast as it is analysed).")
        .Number<double>("fps", &CameraConfig::fps, 0, "1/s", "Analyse at most this many frames per second (0: every frame).", 0, 1000)
        .Number<int64_t>("width", &CameraConfig::width, 0, "px", "Scale frames to this width before analysis (0: as captured).", 0, 8192)
        .Number<int64_t>("queue_frames", &CameraConfig::queue_frames, 4, "frames", "Frames waiting for analysis; when full the oldest is dropped.", 1, 256)
        .Number<double>("reconnect_secs", &CameraConfig::reconnect_secs, 1, "s", "First retry after a lost camera or stream; doubles each time.", 0.01, 3600)
        .Number<double>("reconnect_max_secs", &CameraConfig::reconnect_max_secs, 30, "s", "Longest wait between retries.", 0.01, 3600)
        .Number<int64_t>("threads", &CameraConfig::threads, 1, "", "OpenCV worker threads for this process's vision.", 1, 64)
        .Number<int64_t>("nice", &CameraConfig::nice, 10, "", "Scheduling niceness of the vision threads (higher yields the CPU to sensor pipelines).", 0, 19)
        .Bool("idle_priority", &CameraConfig::idle_priority, true, "Run the vision threads under SCHED_IDLE: they get only CPU time no other thread wants, so sensor pipelines are never delayed by them (false: niceness alone, so cameras keep a share on a machine busy with other work).")
        .Number<double>("preview_fps", &CameraConfig::preview_fps, 5, "1/s", "Frame rate of the live MJPEG preview.", 0.1, 60)
        .Object("synthetic", &CameraConfig::synthetic, SyntheticSchema(), "synthetic: the generated scene.")
        .Object("motion", &CameraConfig::motion, MotionSchema(), "Motion detection.")
        .Object("people", &CameraConfig::people, PeopleSchema(), "People detection.")
        .Object("faces", &CameraConfig::faces, FacesSchema(), "Face detection.")
        .Object("detector", &CameraConfig::detector, DetectorSchema(), "ONNX object detector.")
        .Object("privacy", &CameraConfig::privacy, PrivacySchema(), "Privacy masking.")
        .Object("events", &CameraConfig::events, EventsSchema(), "Event snapshots and clips.")
        .Check([](const CameraConfig& c, const YAML::Node& n, Diagnostics& d) {
          switch (c.input) {
            case Input::kV4l2:
              if (c.device.empty()) d.Error(n, "camera: input v4l2 needs 'device' (e.g. /dev/video0)");
              else if (!std::filesystem::exists(c.device))
                d.Error(n["device"], "camera device " + c.device + " not found (ls /dev/video*; is the service in the video group?)");
              break;
            case Input::kStream:
              if (c.url.rfind("rtsp://", 0) != 0 && c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0)
                d.Error(n["url"] ? n["url"] : n, "camera: input stream needs 'url' starting with rtsp://, http:// or https://");
              break;
            case Input::kFile:
              if (c.path.empty()) d.Error(n, "camera: input file needs 'path'");
              else if (!std::filesystem::exists(c.path)) d.Error(n["path"], "video file " + c.path + " not found");
              break;
            case Input::kSynthetic:
              break;
          }
          if (c.reconnect_max_secs < c.reconnect_secs)
            d.Error(n["reconnect_max_secs"], "reconnect_max_secs must be at least reconnect_secs");
          // Also without snapshots: the live preview shows the frames.
          if (c.privacy.mask_faces && !c.faces.enabled && n["privacy"] && n["privacy"]["mask_faces"])
            d.Error(n["privacy"]["mask_faces"], "privacy.mask_faces needs faces.enabled: true (faces must be found to be masked)");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Source>> CreateCamera(const CameraConfig& cfg, const BuildContext& ctx) {
  auto module = LoadModule(kVisionModuleFile, "a camera source");
  if (!module.ok()) return module.status();
  auto make = reinterpret_cast<MakeCameraFn>(ModuleSymbol(*module, kVisionModuleMakeSymbol));
  if (!make) return Status::Unavailable(std::string(kVisionModuleFile) + " is not the vision module");
  Result<std::unique_ptr<Source>> out = Status::Internal("vision module returned nothing");
  const MakeCameraArgs args{&cfg, &ctx, &out};
  make(&args);
  return out;
}

}  // namespace edgeflow::vision
