// edgeflow_vision: quality and speed of the vision stages, on one core.
//
//   edgeflow_vision [--seconds 60] [--video vtest.avi] [--markdown]
//
// Motion on generated scenes (known boxes): per-frame box recall and
// precision (IoU >= 0.5), mean IoU of matched boxes, and event-level recall
// and precision (an episode with figures is found when a motion event
// overlaps it; a motion event is false when no episode does). Speed: motion
// frames per second at 640x480 (frames generated beforehand, not timed).
// People (HOG) and faces (cascade) on a real street video: detections and
// frames per second.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "vision/module/analysis.h"

using namespace edgeflow::vision;
using Clock = std::chrono::steady_clock;

namespace {

struct Span {
  int first, last;  // frame indices, inclusive
};

// Runs of frames where `on[i]`, joined across gaps shorter than `join` frames.
std::vector<Span> Runs(const std::vector<bool>& on, int join) {
  std::vector<Span> out;
  for (int i = 0; i < static_cast<int>(on.size()); ++i) {
    if (!on[i]) continue;
    if (!out.empty() && i - out.back().last <= join) out.back().last = i;
    else out.push_back({i, i});
  }
  return out;
}

bool Overlaps(const Span& a, const Span& b) { return a.first <= b.last && b.first <= a.last; }

struct Quality {
  size_t truth = 0, detected = 0, matched = 0;
  double iou = 0;
  size_t episodes = 0, episodes_found = 0, events = 0, events_true = 0;
};

void MotionQuality(const SyntheticConfig& scfg, double seconds, double fps, Quality& q) {
  SyntheticScene scene(scfg);
  MotionConfig mcfg;
  MotionDetector motion(mcfg);
  const int n = static_cast<int>(seconds * fps);
  std::vector<bool> truth_on(n), motion_on(n);
  cv::Mat frame;
  for (int i = 0; i < n; ++i) {
    const auto truth = scene.Render(i / fps, frame);
    const auto r = motion.Detect(frame);
    if (r.warming_up) continue;
    truth_on[i] = !truth.empty();
    motion_on[i] = !r.boxes.empty();
    q.truth += truth.size();
    q.detected += r.boxes.size();
    std::vector<bool> used(r.boxes.size());
    for (const auto& t : truth) {
      double best = 0;
      size_t bi = 0;
      for (size_t k = 0; k < r.boxes.size(); ++k)
        if (!used[k] && IoU(t, r.boxes[k]) > best) best = IoU(t, r.boxes[k]), bi = k;
      if (best >= 0.5) {
        used[bi] = true;
        ++q.matched;
        q.iou += best;
      }
    }
  }
  const int join = static_cast<int>(mcfg.end_secs * fps);
  const auto episodes = Runs(truth_on, 1), events = Runs(motion_on, join);
  q.episodes += episodes.size();
  q.events += events.size();
  for (const auto& e : episodes)
    for (const auto& d : events)
      if (Overlaps(e, d)) {
        ++q.episodes_found;
        break;
      }
  for (const auto& d : events)
    for (const auto& e : episodes)
      if (Overlaps(e, d)) {
        ++q.events_true;
        break;
      }
}

double Ratio(size_t a, size_t b) { return b ? static_cast<double>(a) / b : 0; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Quality and speed of edgeflow's vision stages"};
  double seconds = 60;
  std::string video = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
  app.add_option("--seconds", seconds, "Length of each generated scene");
  app.add_option("--video", video, "Street video for people and face detection");
  bool quick = false;
  app.add_flag("--quick", quick, "One seed per scene (a quick check)");
  CLI11_PARSE(app, argc, argv);
  cv::setNumThreads(1);

  std::printf("## Motion on generated scenes (640x480, 25 fps, %.0f s each)\n\n", seconds);
  std::printf("| figures at once | seeds | box recall | box precision | mean IoU | episodes found | false events |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int objects : {1, 2, 3}) {
    Quality q;
    for (int seed = 1; seed <= (quick ? 1 : 5); ++seed) {
      SyntheticConfig s;
      s.objects = objects;
      s.seed = seed;
      MotionQuality(s, seconds, 25, q);
    }
    std::printf("| %d | %s | %.3f | %.3f | %.3f | %zu / %zu (%.3f) | %zu / %zu (precision %.3f) |\n", objects, quick ? "1" : "1-5",
                Ratio(q.matched, q.truth), Ratio(q.matched, q.detected), q.matched ? q.iou / q.matched : 0,
                q.episodes_found, q.episodes, Ratio(q.episodes_found, q.episodes), q.events - q.events_true, q.events,
                Ratio(q.events_true, q.events));
  }

  // Speed: frames generated first.
  std::vector<cv::Mat> frames(250);
  {
    SyntheticScene scene(SyntheticConfig{});
    for (size_t i = 0; i < frames.size(); ++i) scene.Render(i / 25.0, frames[i]);
  }
  auto time_per_frame = [&](auto&& fn, int reps) {
    const auto t0 = Clock::now();
    size_t n = 0;
    for (int r = 0; r < reps; ++r)
      for (auto& f : frames) fn(f), ++n;
    return std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(n);
  };
  std::printf("\n## Speed on one core (640x480)\n\n| stage | ms per frame | frames per second |\n|---|---|---|\n");
  {
    MotionDetector m(MotionConfig{});
    const double s = time_per_frame([&](cv::Mat& f) { m.Detect(f); }, 4);
    std::printf("| motion (MOG2, morphology, boxes) | %.2f | %.0f |\n", s * 1e3, 1 / s);
  }
  {
    PrivacyConfig p;
    cv::Mat copy;
    const double s = time_per_frame([&](cv::Mat& f) { f.copyTo(copy); MaskRegions(copy, {cv::Rect(200, 100, 80, 80)}, p); }, 4);
    std::printf("| privacy mask (copy, pixelate one face) | %.2f | %.0f |\n", s * 1e3, 1 / s);
  }

  cv::VideoCapture cap(video, cv::CAP_FFMPEG);
  if (!cap.isOpened()) {
    std::printf("\n(no %s: people and face detection not measured)\n", video.c_str());
    return 0;
  }
  {
    // The whole motion pipeline of a camera on one core: decode, scale to
    // 640x480, motion (what the capture and analysis threads do per frame).
    cv::VideoCapture again(video, cv::CAP_FFMPEG);
    MotionDetector m(MotionConfig{});
    cv::Mat f, scaled;
    size_t n = 0;
    const auto t0 = Clock::now();
    while (again.read(f)) {
      cv::resize(f, scaled, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
      m.Detect(scaled);
      ++n;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("\n## Motion pipeline on a real video (decode %s, scale to 640x480, motion), one core\n\n"
                "%zu frames in %.2f s: **%.0f frames per second** (%.2f ms per frame)\n",
                video.substr(video.rfind('/') + 1).c_str(), n, secs, n / secs, secs / n * 1e3);
  }
  std::vector<cv::Mat> street;
  for (cv::Mat f; street.size() < 795 && cap.read(f);) street.push_back(f.clone());
  const int w = street.empty() ? 0 : street[0].cols, h = street.empty() ? 0 : street[0].rows;
  std::printf("\n## People and faces on vtest.avi (%dx%d, %zu frames, every 10th analysed)\n\n", w, h, street.size());
  std::printf("| detector | frames | frames with detections | detections per frame (mean / max) | ms per frame | fps |\n");
  std::printf("|---|---|---|---|---|---|\n");
  auto run = [&](const char* name, auto&& detect) {
    size_t frames = 0, with = 0, total = 0, most = 0;
    double secs = 0;
    for (size_t i = 0; i < street.size(); i += 10) {
      const auto t0 = Clock::now();
      const size_t k = detect(street[i]);
      secs += std::chrono::duration<double>(Clock::now() - t0).count();
      ++frames;
      with += k > 0;
      total += k;
      most = std::max(most, k);
    }
    std::printf("| %s | %zu | %zu | %.2f / %zu | %.1f | %.1f |\n", name, frames, with, Ratio(total, frames), most,
                secs / frames * 1e3, frames / secs);
  };
  for (double scale : {1.0, 0.75}) {
    PeopleConfig pc;
    pc.scale = scale;
    PeopleDetector people(pc);
    const std::string name = "people, HOG, scale " + std::to_string(scale).substr(0, 4);
    run(name.c_str(), [&](const cv::Mat& f) { return people.Detect(f).size(); });
  }
  {
    MotionConfig mc;
    mc.warmup_frames = 0;
    MotionDetector m(mc);
    // Motion needs consecutive frames: every frame runs, every 10th is reported.
    size_t frames = 0, with = 0, total = 0, most = 0;
    const auto t0 = Clock::now();
    for (size_t i = 0; i < street.size(); ++i) {
      const auto r = m.Detect(street[i]);
      if (i % 10 || i < 20) continue;
      ++frames;
      with += !r.boxes.empty();
      total += r.boxes.size();
      most = std::max(most, r.boxes.size());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("| motion regions (every frame) | %zu | %zu | %.2f / %zu | %.1f | %.0f |\n", frames, with,
                Ratio(total, frames), most, secs / street.size() * 1e3, street.size() / secs);
  }
  for (const char* cascade : {"", "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml"}) {
    FacesConfig fc;
    fc.cascade = cascade;
    auto faces = FaceDetector::Create(fc);
    if (!faces.ok()) continue;
    const std::string name = std::string("faces, ") + (*cascade ? "LBP cascade" : "Haar cascade (default)");
    run(name.c_str(), [&](const cv::Mat& f) { return (*faces)->Detect(f).size(); });
  }
  return 0;
}
