#pragma once
// `camera` source: frames from a V4L2 camera, an RTSP/HTTP stream, a video
// file or a generated scene, analysed on the node (motion, people, faces);
// only numbers and event records leave the vision threads:
//
//   readings  <camera>/motion (0/1), motion_area (fraction of the frame),
//             motion_<zone> (fraction of a named zone moving),
//             motion_regions, people, people_score, faces, objects and
//             objects_<class> (an ONNX detector),
//             fps, dropped_frames — on change and at least once a second, so
//             rules, windows, alerts, actuators and the uplink work unchanged;
//   events    one record per motion episode (start, end, boxes, counts) with
//             a JPEG snapshot and a short clip, stored under
//             <data_dir>/vision/<camera>/ and served by the REST API;
//   preview   the latest frame as JPEG for the API's MJPEG stream, encoded
//             only while somebody watches.
//
// Privacy: detected faces and configured zones are masked in the frame before
// anything is encoded (snapshot, clip, preview); raw frames never leave the
// module. The analysis runs in a separately built module
// (libedgeflow-vision.so, OpenCV) loaded only when a camera is configured.
#include <cstdint>
#include <string>
#include <vector>

#include "config/schema.h"
#include "engine/component.h"

namespace edgeflow::vision {

// A rectangle in fractions of the frame: x, y of the top-left corner, w, h.
struct Zone {
  double x = 0, y = 0, w = 1, h = 1;
  std::string name;  // required for motion.zones (the reading's name); a label elsewhere
};

enum class Input { kV4l2, kStream, kFile, kSynthetic };
enum class Mask { kBlur, kPixelate, kFill };

struct SyntheticConfig {
  int64_t width = 640;
  int64_t height = 480;
  int64_t objects = 2;       // figures in the scene at once (at most)
  int64_t seed = 1;
  double noise = 3;          // sensor noise, grey levels (sigma)
  double episode_secs = 4;   // an object crosses the scene in about this long
  double gap_secs = 3;       // empty scene between episodes
};

struct MotionConfig {
  bool enabled = true;
  double min_area = 0.002;    // fraction of the frame a region must cover
  int64_t history = 300;      // frames the background model remembers
  double var_threshold = 24;  // MOG2 squared Mahalanobis distance
  double learning_rate = -1;  // -1: automatic (1 / history)
  std::vector<Zone> regions;  // only these areas count (empty: whole frame)
  std::vector<Zone> exclude;  // never count these (trees, a road, a clock)
  std::vector<Zone> zones;    // named areas: reading motion_<name> = fraction of it moving
  double end_secs = 2;        // an event ends after this long without motion
  int64_t warmup_frames = 20; // frames used to learn the background first
};

struct PeopleConfig {
  bool enabled = false;
  bool on_motion_only = true;  // run only while there is motion (HOG is slow)
  double min_score = 0.5;      // SVM margin of a detection
  double scale = 1.0;          // detect on a frame scaled by this (speed)
  int64_t every_n_frames = 1;
};

struct FacesConfig {
  bool enabled = false;
  std::string cascade;     // "" = opencv-data's frontal face cascade
  int64_t min_size = 24;   // pixels
  int64_t min_neighbors = 4;
  double scale_factor = 1.15;  // image pyramid step (smaller: finds more, slower)
};

struct DetectorConfig {   // an ONNX object detector (vision/detector.h)
  std::string model;      // directory with manifest.yaml and the model; "" = none
  int64_t every_n_frames = 1;
  bool on_motion_only = false;
};

struct PrivacyConfig {
  bool mask_faces = true;
  std::vector<Zone> zones;   // always masked
  Mask method = Mask::kPixelate;
  double margin = 0.15;      // grow a face box by this fraction on each side
};

struct EventsConfig {
  bool snapshots = true;
  double clip_before_secs = 2;
  double clip_after_secs = 3;
  double clip_fps = 10;
  int64_t jpeg_quality = 85;
  double max_age_hours = 168;
  double max_mb = 512;
};

struct CameraConfig {
  Input input = Input::kFile;
  std::string device;   // v4l2
  std::string url;      // stream
  std::string path;     // file
  bool loop = false;    // file: start again at the end
  bool realtime = true; // file: play at the file's frame rate (else as fast as analysed)
  double fps = 0;       // frames analysed per second at most (0: every frame)
  int64_t width = 0;    // scale frames to this width (0: as captured)
  int64_t queue_frames = 4;
  double reconnect_secs = 1;      // first retry; doubles up to reconnect_max_secs
  double reconnect_max_secs = 30;
  int64_t threads = 1;            // OpenCV worker threads
  int64_t nice = 10;              // vision threads yield the CPU to sensor pipelines
  bool idle_priority = true;      // ... and run under SCHED_IDLE
  double preview_fps = 5;
  SyntheticConfig synthetic;
  MotionConfig motion;
  PeopleConfig people;
  FacesConfig faces;
  DetectorConfig detector;
  PrivacyConfig privacy;
  EventsConfig events;
};

const config::Schema<CameraConfig>& CameraSchema();

// Loads the vision module and builds the source.
Result<std::unique_ptr<Source>> CreateCamera(const CameraConfig& cfg, const BuildContext& ctx);

struct Camera {  // the registry's factory
  static Result<std::unique_ptr<Source>> Create(const CameraConfig& cfg, const BuildContext& ctx) {
    return CreateCamera(cfg, ctx);
  }
};

// The module's entry point (C linkage).
inline constexpr const char* kVisionModuleFile = "libedgeflow-vision.so";
inline constexpr const char* kVisionModuleMakeSymbol = "edgeflow_vision_make_camera";
struct MakeCameraArgs {
  const CameraConfig* config;
  const BuildContext* context;
  Result<std::unique_ptr<Source>>* out;
};
using MakeCameraFn = void (*)(const MakeCameraArgs*);

}  // namespace edgeflow::vision
