#pragma once
// The vision module's analysis stages (OpenCV), each usable on its own: the
// camera source chains them, the quality/speed tool and the tests measure
// them one by one.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/video/background_segm.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "vision/camera.h"
#include "vision/detector.h"

namespace edgeflow::vision {

// A zone in pixels of a w x h frame.
cv::Rect ZoneRect(const Zone& z, int w, int h);
// Intersection over union of two boxes.
double IoU(const cv::Rect& a, const cv::Rect& b);

// Generated scene: a textured background with sensor noise and slow lighting
// drift; person-like figures (head and body) cross it in episodes separated
// by empty gaps. The scene at time t is a pure function of (config, t), so
// the boxes of every figure are known exactly (ground truth).
class SyntheticScene {
 public:
  explicit SyntheticScene(const SyntheticConfig& cfg);
  // Draws the frame at `t_secs` into `out` and returns the visible figures' boxes.
  std::vector<cv::Rect> Render(double t_secs, cv::Mat& out);
  int width() const { return cfg_.width; }
  int height() const { return cfg_.height; }

 private:
  struct Figure {
    bool active = false;
    cv::Rect box;
    cv::Scalar body, head;
  };
  Figure FigureAt(int slot, double t) const;
  SyntheticConfig cfg_;
  cv::Mat background_;
  cv::Mat noise_;
};

struct MotionResult {
  std::vector<cv::Rect> boxes;  // moving regions, largest first
  double area = 0;              // fraction of the (counted part of the) frame moving
  std::vector<double> zones;    // fraction of each named zone (MotionConfig::zones) moving
  bool warming_up = false;
};

// Background subtraction (MOG2, no shadow detection), opening to remove
// noise, closing to join a figure's parts, regions and exclusions applied,
// boxes of connected regions at least min_area large.
class MotionDetector {
 public:
  explicit MotionDetector(const MotionConfig& cfg) : cfg_(cfg) {}
  MotionResult Detect(const cv::Mat& frame);
  const cv::Mat& foreground() const { return fg_; }

 private:
  MotionConfig cfg_;
  cv::Ptr<cv::BackgroundSubtractorMOG2> mog_;
  cv::Mat small_, fg_, zone_mask_, open_kernel_, close_kernel_;
  std::vector<cv::Rect> named_;  // the named zones at the analysed size
  int64_t frames_ = 0;
};

struct Detection {
  cv::Rect box;
  double score = 0;
};

// OpenCV's HOG pedestrian detector (64x128 window, its default linear SVM).
class PeopleDetector {
 public:
  explicit PeopleDetector(const PeopleConfig& cfg);
  std::vector<Detection> Detect(const cv::Mat& frame);

 private:
  PeopleConfig cfg_;
  cv::HOGDescriptor hog_;
  cv::Mat scaled_;
};

// A cascade classifier (Haar or LBP) for faces.
class FaceDetector {
 public:
  static Result<std::unique_ptr<FaceDetector>> Create(const FacesConfig& cfg);
  std::vector<cv::Rect> Detect(const cv::Mat& frame);

 private:
  FacesConfig cfg_;
  cv::CascadeClassifier cascade_;
  cv::Mat grey_;
};

struct ObjectDetection {
  cv::Rect box;
  double score = 0;
  int cls = 0;
};

// An ONNX detector (vision/detector.h) through OpenCV's DNN engine: the frame
// is scaled to the network's input, the output decoded per the manifest's
// layout, boxes below the score threshold dropped, non-maximum suppression
// per class, boxes scaled back to the frame.
class OnnxDetector {
 public:
  // Loads <dir>/<manifest.file> and checks the output on a blank frame.
  static Result<std::unique_ptr<OnnxDetector>> Create(const DetectorManifest& m, const std::string& dir);
  std::vector<ObjectDetection> Detect(const cv::Mat& frame);
  const DetectorManifest& manifest() const { return m_; }

 private:
  Status Decode(const cv::Mat& out, double sx, double sy, std::vector<ObjectDetection>& found) const;
  DetectorManifest m_;
  cv::dnn::Net net_;
  cv::Mat blob_;
};

// The face cascade opencv-data installs.
std::string DefaultFaceCascade();

// Masks `boxes` (grown by `margin` on each side) and the privacy zones in place.
void MaskRegions(cv::Mat& frame, const std::vector<cv::Rect>& boxes, const PrivacyConfig& cfg);

}  // namespace edgeflow::vision
