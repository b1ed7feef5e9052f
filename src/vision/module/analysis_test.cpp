#include "vision/module/analysis.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace edgeflow::vision {
namespace {

const char* kOpenCvData = "/usr/share/doc/opencv-doc/examples/data/";

TEST(SyntheticScene, SameTimeSameFrameAndBoxes) {
  SyntheticConfig cfg;
  cfg.noise = 0;
  SyntheticScene a(cfg), b(cfg);
  cv::Mat fa, fb;
  size_t with_figures = 0;
  for (double t = 0; t < 20; t += 0.5) {
    const auto ba = a.Render(t, fa);
    const auto bb = b.Render(t, fb);
    ASSERT_EQ(ba, bb) << t;
    EXPECT_EQ(cv::norm(fa, fb, cv::NORM_INF), 0) << t;
    with_figures += !ba.empty();
  }
  // Episodes and gaps alternate: some frames have figures, some do not.
  EXPECT_GT(with_figures, 10u);
  EXPECT_LT(with_figures, 40u);
}

// Matches detections to truth boxes greedily by IoU.
struct Match {
  size_t truth = 0, detected = 0, matched = 0;
  double iou_sum = 0;
};
void Score(const std::vector<cv::Rect>& truth, const std::vector<cv::Rect>& found, double min_iou, Match& m) {
  m.truth += truth.size();
  m.detected += found.size();
  std::vector<bool> used(found.size());
  for (const auto& t : truth) {
    double best = 0;
    size_t bi = 0;
    for (size_t i = 0; i < found.size(); ++i)
      if (!used[i] && IoU(t, found[i]) > best) best = IoU(t, found[i]), bi = i;
    if (best >= min_iou) {
      used[bi] = true;
      ++m.matched;
      m.iou_sum += best;
    }
  }
}

TEST(MotionDetector, FindsTheFiguresOfAGeneratedScene) {
  SyntheticConfig scfg;
  scfg.objects = 1;  // one figure at a time: every box is one figure
  SyntheticScene scene(scfg);
  MotionConfig mcfg;
  MotionDetector motion(mcfg);
  Match m;
  size_t false_frames = 0, empty_frames = 0;
  cv::Mat frame;
  for (int i = 0; i < 25 * 30; ++i) {  // 30 s at 25 fps
    const auto truth = scene.Render(i / 25.0, frame);
    const auto r = motion.Detect(frame);
    if (r.warming_up) continue;
    // Entering and leaving figures are partial; score fully visible ones.
    std::vector<cv::Rect> full;
    for (const auto& t : truth)
      if (t.x > 0 && t.x + t.width < frame.cols) full.push_back(t);
    if (truth.empty()) {
      ++empty_frames;
      false_frames += !r.boxes.empty();
    }
    if (!full.empty() && truth.size() == full.size()) Score(full, r.boxes, 0.5, m);
  }
  ASSERT_GT(m.truth, 200u);
  const double recall = static_cast<double>(m.matched) / m.truth;
  const double mean_iou = m.iou_sum / std::max<size_t>(1, m.matched);
  EXPECT_GE(recall, 0.95);
  EXPECT_GE(mean_iou, 0.75);
  ASSERT_GT(empty_frames, 100u);
  // The empty scene (noise, lighting drift) gives at most a few frames of motion
  // right after a figure left (the background relearns its place).
  EXPECT_LE(false_frames, empty_frames / 20) << false_frames << " of " << empty_frames;
}

TEST(MotionDetector, ExcludedAreasNeverCount) {
  SyntheticScene scene(SyntheticConfig{});
  MotionConfig cfg;
  cfg.exclude.push_back(Zone{0, 0, 1, 1, ""});
  MotionDetector excluded(cfg);
  MotionDetector whole(MotionConfig{});
  cv::Mat frame;
  size_t moving_whole = 0;
  for (int i = 0; i < 25 * 10; ++i) {
    scene.Render(i / 25.0, frame);
    EXPECT_TRUE(excluded.Detect(frame).boxes.empty());
    moving_whole += !whole.Detect(frame).boxes.empty();
  }
  EXPECT_GT(moving_whole, 50u);
}

// A stream that reconnects at another resolution: the detector starts again at
// the new size (the zone mask of the old size made OpenCV throw, ending the process).
TEST(MotionDetector, AResolutionChangeStartsAgainAtTheNewSize) {
  MotionConfig cfg;
  cfg.warmup_frames = 2;
  cfg.zones = {Zone{0, 0, 0.5, 1, "left"}};
  MotionDetector motion(cfg);
  cv::Mat vga(480, 640, CV_8UC3, cv::Scalar(40, 40, 40)), hd(720, 1280, CV_8UC3, cv::Scalar(40, 40, 40));
  for (int i = 0; i < 5; ++i) motion.Detect(vga);
  MotionResult r;
  ASSERT_NO_THROW(r = motion.Detect(hd));
  EXPECT_TRUE(r.warming_up) << "a new background is learnt";
  for (int i = 0; i < 3; ++i) ASSERT_NO_THROW(r = motion.Detect(hd));
  EXPECT_FALSE(r.warming_up);
  EXPECT_EQ(r.zones.size(), 1u);
  cv::rectangle(hd, cv::Rect(100, 100, 300, 400), cv::Scalar(250, 250, 250), cv::FILLED);
  ASSERT_NO_THROW(r = motion.Detect(hd));
  EXPECT_FALSE(r.boxes.empty());
  EXPECT_GT(r.zones[0], 0.01);
}

// A figure crossing the frame: the zone it is in moves, the other does not.
TEST(MotionDetector, NamedZonesReportTheirOwnMotion) {
  SyntheticConfig scfg;
  scfg.objects = 1;
  scfg.noise = 1;
  SyntheticScene scene(scfg);
  MotionConfig cfg;
  cfg.zones = {Zone{0, 0, 0.5, 1, "left"}, Zone{0.5, 0, 0.5, 1, "right"}};
  MotionDetector motion(cfg);
  cv::Mat frame;
  size_t agree = 0, checked = 0;
  for (int i = 0; i < 25 * 20; ++i) {
    const auto truth = scene.Render(i / 25.0, frame);
    const auto r = motion.Detect(frame);
    if (r.warming_up) continue;
    ASSERT_EQ(r.zones.size(), 2u);
    if (truth.size() != 1 || truth[0].width < 20) continue;
    const int cx = truth[0].x + truth[0].width / 2;
    if (std::abs(cx - frame.cols / 2) < truth[0].width) continue;  // across the border: both
    ++checked;
    const bool in_left = cx < frame.cols / 2;
    agree += in_left ? (r.zones[0] > 0.01 && r.zones[1] < 0.001) : (r.zones[1] > 0.01 && r.zones[0] < 0.001);
  }
  ASSERT_GT(checked, 100u);
  EXPECT_GE(agree, checked * 95 / 100) << agree << " of " << checked;
}

TEST(Privacy, PixelatedRegionsKeepNoDetailAndTheRestIsUnchanged) {
  cv::Mat img = cv::imread(std::string(kOpenCvData) + "baboon.jpg");
  ASSERT_FALSE(img.empty()) << "opencv-doc's example images are needed";
  for (auto method : {Mask::kPixelate, Mask::kBlur, Mask::kFill}) {
    cv::Mat m = img.clone();
    PrivacyConfig p;
    p.method = method;
    p.margin = 0;
    const cv::Rect box(100, 100, 120, 120);
    MaskRegions(m, {box}, p);
    cv::Mat grey_before, grey_after;
    cv::cvtColor(img(box), grey_before, cv::COLOR_BGR2GRAY);
    cv::cvtColor(m(box), grey_after, cv::COLOR_BGR2GRAY);
    cv::Mat lap_before, lap_after;
    cv::Laplacian(grey_before, lap_before, CV_32F);
    cv::Laplacian(grey_after, lap_after, CV_32F);
    cv::Scalar mb, sb, ma, sa;
    cv::meanStdDev(lap_before, mb, sb);
    cv::meanStdDev(lap_after, ma, sa);
    EXPECT_LT(sa[0], sb[0] * 0.35) << "detail left after masking, method " << static_cast<int>(method);
    cv::Mat outside_before = img.clone(), outside_after = m.clone();
    outside_before(box).setTo(0);
    outside_after(box).setTo(0);
    EXPECT_EQ(cv::norm(outside_before, outside_after, cv::NORM_INF), 0);
  }
}

TEST(Privacy, AMaskedFaceIsNoLongerFound) {
  cv::Mat img = cv::imread(std::string(kOpenCvData) + "messi5.jpg");
  ASSERT_FALSE(img.empty());
  auto faces = FaceDetector::Create(FacesConfig{});
  ASSERT_TRUE(faces.ok()) << faces.status().message();
  const auto found = (*faces)->Detect(img);
  ASSERT_GE(found.size(), 1u);
  PrivacyConfig p;
  MaskRegions(img, found, p);
  EXPECT_TRUE((*faces)->Detect(img).empty());
}

TEST(FaceDetector, MissingCascadeIsAClearError) {
  FacesConfig c;
  c.cascade = "/nonexistent/cascade.xml";
  auto f = FaceDetector::Create(c);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("/nonexistent/cascade.xml"), std::string::npos);
}

TEST(PeopleDetector, FindsPedestriansInTheStreetVideo) {
  cv::VideoCapture cap(std::string(kOpenCvData) + "vtest.avi", cv::CAP_FFMPEG);
  ASSERT_TRUE(cap.isOpened());
  PeopleDetector people(PeopleConfig{});
  cv::Mat frame;
  size_t frames = 0, with_people = 0;
  for (int i = 0; i < 60 && cap.read(frame); ++i) {
    if (i % 20) continue;
    ++frames;
    with_people += !people.Detect(frame).empty();
  }
  EXPECT_EQ(frames, 3u);
  EXPECT_EQ(with_people, frames);  // the street is never empty in its first seconds
}

TEST(Zones, FractionsToPixels) {
  EXPECT_EQ(ZoneRect(Zone{0.5, 0.25, 0.5, 0.5, ""}, 640, 480), cv::Rect(320, 120, 320, 240));
  EXPECT_EQ(ZoneRect(Zone{0, 0, 1, 1, ""}, 64, 48), cv::Rect(0, 0, 64, 48));
  EXPECT_DOUBLE_EQ(IoU(cv::Rect(0, 0, 10, 10), cv::Rect(5, 0, 10, 10)), 50.0 / 150.0);
}

}  // namespace
}  // namespace edgeflow::vision
