#include "vision/module/analysis.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <opencv2/imgproc.hpp>

#include "core/opencv_text.h"

namespace edgeflow::vision {

cv::Rect ZoneRect(const Zone& z, int w, int h) {
  const int x0 = static_cast<int>(std::lround(z.x * w)), y0 = static_cast<int>(std::lround(z.y * h));
  const int x1 = static_cast<int>(std::lround((z.x + z.w) * w)), y1 = static_cast<int>(std::lround((z.y + z.h) * h));
  return cv::Rect(x0, y0, x1 - x0, y1 - y0) & cv::Rect(0, 0, w, h);
}

double IoU(const cv::Rect& a, const cv::Rect& b) {
  const double inter = (a & b).area();
  const double uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0;
}

// ---- generated scene ----

namespace {
uint32_t Mix(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^ (c + 1) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  x *= 0xD6E8FEB86989B72Bull;
  x ^= x >> 29;
  return static_cast<uint32_t>(x);
}
}  // namespace

SyntheticScene::SyntheticScene(const SyntheticConfig& cfg) : cfg_(cfg) {
  const int w = static_cast<int>(cfg.width), h = static_cast<int>(cfg.height);
  background_.create(h, w, CV_8UC3);
  // A floor, a wall with windows and doors, some clutter: texture for the
  // background model, nothing that moves.
  for (int y = 0; y < h; ++y) {
    const double g = 90 + 60.0 * y / h;
    background_.row(y).setTo(cv::Scalar(g * 0.9, g, g * 1.05));
  }
  std::mt19937 rng(static_cast<uint32_t>(cfg.seed) * 7919u + 13);
  std::uniform_int_distribution<int> px(0, w - 1), py(0, h - 1), grey(40, 200);
  for (int i = 0; i < 25; ++i) {
    const cv::Point a(px(rng), py(rng) / 2);
    const cv::Rect r(a, cv::Size(w / 12 + px(rng) % (w / 6), h / 12 + py(rng) % (h / 5)));
    cv::rectangle(background_, r, cv::Scalar(grey(rng), grey(rng), grey(rng)), cv::FILLED);
  }
  cv::GaussianBlur(background_, background_, cv::Size(5, 5), 0);
  noise_.create(h, w, CV_8SC3);
}

SyntheticScene::Figure SyntheticScene::FigureAt(int slot, double t) const {
  Figure f;
  const double period = cfg_.episode_secs + cfg_.gap_secs;
  // Slots are offset so that figures overlap in time only sometimes.
  const double offset = cfg_.objects > 0 ? period * slot / static_cast<double>(cfg_.objects) * 1.37 : 0;
  const double ts = t - offset;
  if (ts < 0) return f;
  const auto episode = static_cast<uint64_t>(ts / period);
  const double phase = ts - static_cast<double>(episode) * period;
  if (phase >= cfg_.episode_secs) return f;  // the gap
  const uint32_t r = Mix(static_cast<uint64_t>(cfg_.seed), static_cast<uint64_t>(slot), episode);
  const int w = static_cast<int>(cfg_.width), h = static_cast<int>(cfg_.height);
  const double size = 0.30 + 0.25 * ((r & 0xff) / 255.0);  // figure height as a fraction of the frame
  const int fh = static_cast<int>(h * size), fw = std::max(8, fh * 2 / 5);
  const bool leftwards = (r >> 8) & 1;
  const double u = phase / cfg_.episode_secs;           // 0..1 across the frame
  const double x = -fw + u * (w + fw);                   // enters on one side, leaves on the other
  const int cx = static_cast<int>(leftwards ? w - x - fw : x);
  const int cy = static_cast<int>((h - fh) * (0.2 + 0.7 * (((r >> 9) & 0xff) / 255.0)));
  f.active = true;
  f.box = cv::Rect(cx, cy, fw, fh);
  const int shade = 20 + static_cast<int>((r >> 17) % 60);
  f.body = ((r >> 23) & 1) ? cv::Scalar(shade, shade, 200 + shade / 2) : cv::Scalar(200 + shade / 2, shade + 40, shade);
  f.head = cv::Scalar(120, 150, 190);
  return f;
}

std::vector<cv::Rect> SyntheticScene::Render(double t_secs, cv::Mat& out) {
  background_.copyTo(out);
  const double drift = 4.0 * std::sin(t_secs * 2 * M_PI / 60.0);  // slow lighting change
  out.convertTo(out, -1, 1.0, drift);
  std::vector<cv::Rect> truth;
  const cv::Rect frame(0, 0, out.cols, out.rows);
  for (int slot = 0; slot < cfg_.objects; ++slot) {
    const Figure f = FigureAt(slot, t_secs);
    if (!f.active) continue;
    const cv::Rect& b = f.box;
    const int head = b.width;  // a round head, a body below it
    cv::ellipse(out, cv::Point(b.x + b.width / 2, b.y + head / 2), cv::Size(head / 2 - 1, head / 2), 0, 0, 360, f.head,
                cv::FILLED, cv::LINE_AA);
    cv::rectangle(out, cv::Rect(b.x, b.y + head, b.width, b.height - head), f.body, cv::FILLED);
    const cv::Rect visible = b & frame;
    if (visible.area() >= b.area() / 4) truth.push_back(visible);
  }
  if (cfg_.noise > 0) {
    cv::randn(noise_, 0, cfg_.noise);
    cv::add(out, noise_, out, cv::noArray(), CV_8UC3);
  }
  return truth;
}

// ---- motion ----

MotionResult MotionDetector::Detect(const cv::Mat& frame) {
  MotionResult r;
  // Analysed at up to 320 pixels wide: four times fewer pixels than VGA, the
  // same boxes for anything that matters at camera distance.
  const double f = frame.cols > 320 ? 320.0 / frame.cols : 1.0;
  const cv::Mat* in = &frame;
  if (f < 1.0) {
    cv::resize(frame, small_, cv::Size(), f, f, cv::INTER_AREA);
    in = &small_;
  }
  if (mog_ && in->size() != zone_mask_.size()) {
    // The camera changed its resolution (a stream that reconnected at another
    // size): masks and background start again at the new size, warm-up included.
    mog_.reset();
    named_.clear();
    frames_ = 0;
  }
  if (!mog_) {
    mog_ = cv::createBackgroundSubtractorMOG2(static_cast<int>(cfg_.history), cfg_.var_threshold, false);
    zone_mask_ = cv::Mat(in->size(), CV_8U, cv::Scalar(cfg_.regions.empty() ? 255 : 0));
    for (const auto& z : cfg_.regions) zone_mask_(ZoneRect(z, in->cols, in->rows)).setTo(255);
    for (const auto& z : cfg_.exclude) zone_mask_(ZoneRect(z, in->cols, in->rows)).setTo(0);
    for (const auto& z : cfg_.zones) named_.push_back(ZoneRect(z, in->cols, in->rows));
    open_kernel_ = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(3, 3));
    close_kernel_ = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(9, 9));
  }
  mog_->apply(*in, fg_, cfg_.learning_rate);
  if (++frames_ <= cfg_.warmup_frames) {
    r.warming_up = true;
    return r;
  }
  cv::morphologyEx(fg_, fg_, cv::MORPH_OPEN, open_kernel_);
  cv::morphologyEx(fg_, fg_, cv::MORPH_CLOSE, close_kernel_);
  cv::bitwise_and(fg_, zone_mask_, fg_);
  const double counted = std::max(1, cv::countNonZero(zone_mask_));
  r.area = cv::countNonZero(fg_) / counted;
  for (const auto& z : named_) r.zones.push_back(z.empty() ? 0.0 : cv::countNonZero(fg_(z)) / static_cast<double>(z.area()));
  if (r.area == 0) return r;
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(fg_, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  const double min_px = cfg_.min_area * counted;
  std::vector<cv::Rect> boxes;
  for (const auto& c : contours) {
    const cv::Rect b = cv::boundingRect(c);
    if (b.area() >= min_px && cv::contourArea(c) >= min_px / 2) boxes.push_back(b);
  }
  // Join boxes that overlap (parts of one body the closing did not join).
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t i = 0; i < boxes.size() && !merged; ++i)
      for (size_t j = i + 1; j < boxes.size() && !merged; ++j)
        if ((boxes[i] & boxes[j]).area() > 0) {
          boxes[i] |= boxes[j];
          boxes.erase(boxes.begin() + static_cast<long>(j));
          merged = true;
        }
  }
  std::sort(boxes.begin(), boxes.end(), [](const cv::Rect& a, const cv::Rect& b) { return a.area() > b.area(); });
  const double back = 1.0 / f;
  for (const auto& b : boxes)
    r.boxes.push_back(cv::Rect(static_cast<int>(b.x * back), static_cast<int>(b.y * back),
                               static_cast<int>(std::ceil(b.width * back)), static_cast<int>(std::ceil(b.height * back))) &
                      cv::Rect(0, 0, frame.cols, frame.rows));
  return r;
}

// ---- people ----

PeopleDetector::PeopleDetector(const PeopleConfig& cfg) : cfg_(cfg) {
  hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
}

std::vector<Detection> PeopleDetector::Detect(const cv::Mat& frame) {
  const cv::Mat* in = &frame;
  if (cfg_.scale != 1.0) {
    cv::resize(frame, scaled_, cv::Size(), cfg_.scale, cfg_.scale, cv::INTER_LINEAR);
    in = &scaled_;
  }
  std::vector<cv::Rect> found;
  std::vector<double> weights;
  if (in->cols < 64 || in->rows < 128) return {};
  hog_.detectMultiScale(*in, found, weights, 0, cv::Size(8, 8), cv::Size(8, 8), 1.05, 2);
  std::vector<Detection> out;
  for (size_t i = 0; i < found.size(); ++i) {
    const double w = i < weights.size() ? weights[i] : 0;
    if (w < cfg_.min_score) continue;
    const cv::Rect& b = found[i];
    const double back = 1.0 / cfg_.scale;
    // HOG boxes have a margin around the person: keep the inner 80 % width.
    cv::Rect r(static_cast<int>((b.x + b.width * 0.1) * back), static_cast<int>((b.y + b.height * 0.05) * back),
               static_cast<int>(b.width * 0.8 * back), static_cast<int>(b.height * 0.9 * back));
    out.push_back({r & cv::Rect(0, 0, frame.cols, frame.rows), w});
  }
  return out;
}

// ---- faces ----

std::string DefaultFaceCascade() {
  for (const char* p : {"/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
                        "/usr/share/opencv/haarcascades/haarcascade_frontalface_default.xml"})
    if (std::filesystem::exists(p)) return p;
  return "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
}

Result<std::unique_ptr<FaceDetector>> FaceDetector::Create(const FacesConfig& cfg) {
  std::unique_ptr<FaceDetector> d(new FaceDetector());
  d->cfg_ = cfg;
  const std::string path = cfg.cascade.empty() ? DefaultFaceCascade() : cfg.cascade;
  try {
    if (!d->cascade_.load(path))
      return Status::NotFound("cannot load face cascade " + path +
                              (cfg.cascade.empty() ? " (install the opencv-data package)" : ""));
  } catch (const cv::Exception& e) {
    return Status::Invalid("face cascade " + path + ": " + e.what());
  }
  return d;
}

std::vector<cv::Rect> FaceDetector::Detect(const cv::Mat& frame) {
  cv::cvtColor(frame, grey_, cv::COLOR_BGR2GRAY);
  cv::equalizeHist(grey_, grey_);
  std::vector<cv::Rect> faces;
  const int s = static_cast<int>(cfg_.min_size);
  cascade_.detectMultiScale(grey_, faces, cfg_.scale_factor, static_cast<int>(cfg_.min_neighbors), 0, cv::Size(s, s));
  return faces;
}

// ---- ONNX detectors ----

Result<std::unique_ptr<OnnxDetector>> OnnxDetector::Create(const DetectorManifest& m, const std::string& dir) {
  std::unique_ptr<OnnxDetector> d(new OnnxDetector());
  d->m_ = m;
  const std::string path = (std::filesystem::path(dir) / m.file).string();
  const std::string what = m.name + " " + m.version;
  try {
    d->net_ = cv::dnn::readNetFromONNX(path);
    if (d->net_.empty()) return Status::Invalid(what + ": OpenCV DNN read no network from " + path);
    d->net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    d->net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    // A blank frame of the input size must give the declared layout.
    cv::Mat blank(static_cast<int>(m.height), static_cast<int>(m.width), CV_8UC3, cv::Scalar(0, 0, 0));
    std::vector<ObjectDetection> found;
    cv::dnn::blobFromImage(blank, d->blob_, m.scale, cv::Size(static_cast<int>(m.width), static_cast<int>(m.height)),
                           cv::Scalar::all(m.mean), m.swap_rb, false, CV_32F);
    d->net_.setInput(d->blob_);
    Status st = d->Decode(d->net_.forward(), 1, 1, found);
    if (!st.ok()) return Status::Invalid(what + ": " + st.message());
  } catch (const cv::Exception& e) {
    return Status::Invalid(what + ": cannot run " + path + ": " + CleanOpenCvError(e.what()));
  }
  return d;
}

Status OnnxDetector::Decode(const cv::Mat& out, double sx, double sy, std::vector<ObjectDetection>& found) const {
  const int classes = static_cast<int>(m_.classes.size());
  const bool v8 = m_.output == DetectorOutput::kYoloV8;
  const int per = v8 ? 4 + classes : 5 + classes;
  if (out.dims != 3 || out.size[0] != 1 || (v8 ? out.size[1] : out.size[2]) != per)
    return Status::Invalid(std::string("output shape is not ") + (v8 ? "[1, 4 + classes, N]" : "[1, N, 5 + classes]") +
                           " for " + std::to_string(classes) + " classes (yolo" + (v8 ? "v8" : "v5") + ")");
  const int n = v8 ? out.size[2] : out.size[1];
  const float* data = out.ptr<float>();
  auto at = [&](int row, int k) { return v8 ? data[static_cast<size_t>(k) * n + row] : data[static_cast<size_t>(row) * per + k]; };
  std::vector<std::vector<cv::Rect>> boxes(static_cast<size_t>(classes));
  std::vector<std::vector<float>> scores(static_cast<size_t>(classes));
  for (int i = 0; i < n; ++i) {
    const float obj = v8 ? 1.0f : at(i, 4);
    int best = 0;
    float best_score = -1;
    for (int c = 0; c < classes; ++c) {
      const float sc = at(i, (v8 ? 4 : 5) + c);
      if (sc > best_score) best_score = sc, best = c;
    }
    const float score = obj * best_score;
    if (!(score >= m_.score_threshold)) continue;  // NaN never passes
    const double cx = at(i, 0), cy = at(i, 1), w = at(i, 2), h = at(i, 3);
    boxes[static_cast<size_t>(best)].emplace_back(static_cast<int>((cx - w / 2) * sx), static_cast<int>((cy - h / 2) * sy),
                                                  static_cast<int>(w * sx), static_cast<int>(h * sy));
    scores[static_cast<size_t>(best)].push_back(score);
  }
  for (int c = 0; c < classes; ++c) {
    std::vector<int> keep;
    cv::dnn::NMSBoxes(boxes[static_cast<size_t>(c)], scores[static_cast<size_t>(c)], static_cast<float>(m_.score_threshold),
                      static_cast<float>(m_.nms_threshold), keep);
    for (int k : keep)
      found.push_back({boxes[static_cast<size_t>(c)][static_cast<size_t>(k)], scores[static_cast<size_t>(c)][static_cast<size_t>(k)], c});
  }
  return Status::Ok();
}

std::vector<ObjectDetection> OnnxDetector::Detect(const cv::Mat& frame) {
  cv::dnn::blobFromImage(frame, blob_, m_.scale, cv::Size(static_cast<int>(m_.width), static_cast<int>(m_.height)),
                         cv::Scalar::all(m_.mean), m_.swap_rb, false, CV_32F);
  net_.setInput(blob_);
  std::vector<ObjectDetection> found;
  const double sx = static_cast<double>(frame.cols) / m_.width, sy = static_cast<double>(frame.rows) / m_.height;
  (void)Decode(net_.forward(), sx, sy, found);  // the layout was checked at load
  for (auto& f : found) f.box &= cv::Rect(0, 0, frame.cols, frame.rows);
  return found;
}

// ---- privacy ----

void MaskRegions(cv::Mat& frame, const std::vector<cv::Rect>& boxes, const PrivacyConfig& cfg) {
  const cv::Rect all(0, 0, frame.cols, frame.rows);
  auto mask = [&](cv::Rect r) {
    r &= all;
    if (r.empty()) return;
    cv::Mat roi = frame(r);
    switch (cfg.method) {
      case Mask::kFill:
        roi.setTo(cv::Scalar(64, 64, 64));
        break;
      case Mask::kBlur: {
        const int k = (std::max(r.width, r.height) / 2) | 1;
        cv::GaussianBlur(roi, roi, cv::Size(k, k), 0);
        cv::GaussianBlur(roi, roi, cv::Size(k, k), 0);
        break;
      }
      case Mask::kPixelate: {
        // Blocks of about 1/6 of the region: a face becomes 6 x 6 cells.
        cv::Mat small;
        cv::resize(roi, small, cv::Size(std::max(1, r.width / std::max(8, r.width / 6)),
                                        std::max(1, r.height / std::max(8, r.height / 6))), 0, 0, cv::INTER_AREA);
        cv::resize(small, roi, roi.size(), 0, 0, cv::INTER_NEAREST);
        break;
      }
    }
  };
  for (const auto& b : boxes) {
    const int mx = static_cast<int>(b.width * cfg.margin), my = static_cast<int>(b.height * cfg.margin);
    mask(cv::Rect(b.x - mx, b.y - my, b.width + 2 * mx, b.height + 2 * my));
  }
  for (const auto& z : cfg.zones) mask(ZoneRect(z, frame.cols, frame.rows));
}

}  // namespace edgeflow::vision
