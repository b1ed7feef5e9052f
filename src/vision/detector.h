#pragma once
// An ONNX object detector for camera frames, described by a manifest beside
// the model (<dir>/manifest.yaml):
//
//   name: figures
//   version: "1"
//   file: model.onnx
//   input: {width: 256, height: 192, scale: 0.0039215686, mean: 0, swap_rb: true}
//   output: yolov5        # yolov5: [1, N, 5 + classes] rows cx, cy, w, h, objectness, class scores
//                         # yolov8: [1, 4 + classes, N]  columns cx, cy, w, h, class scores
//                         # (box coordinates in input pixels)
//   classes: [person, car]
//   score_threshold: 0.5  # objectness x class score
//   nms_threshold: 0.45   # IoU above which the weaker of two boxes of a class is dropped
//
// The camera runs it through OpenCV's DNN engine in the vision module and
// emits `objects` and `objects_<class>` readings; boxes go to event records.
#include <string>
#include <vector>

#include "config/schema.h"
#include "core/status.h"

namespace edgeflow::vision {

enum class DetectorOutput { kYoloV5, kYoloV8 };

struct DetectorManifest {
  std::string name;
  std::string version;
  std::string file;
  int64_t width = 640;
  int64_t height = 640;
  double scale = 1.0 / 255;
  double mean = 0;
  bool swap_rb = true;
  DetectorOutput output = DetectorOutput::kYoloV5;
  std::vector<std::string> classes;
  double score_threshold = 0.5;
  double nms_threshold = 0.45;
};

const config::Schema<DetectorManifest>& DetectorManifestSchema();
// Reads and validates <dir>/manifest.yaml; every error with its line.
Result<DetectorManifest> LoadDetectorManifest(const std::string& dir);
// A class name as a metric name: objects_<name> with anything but [A-Za-z0-9_] as '_'.
std::string ClassMetric(const std::string& cls);

}  // namespace edgeflow::vision
