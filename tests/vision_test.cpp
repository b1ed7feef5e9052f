// Cameras against a running node: a video file with a face (privacy: nothing
// stored shows a detected face), a generated scene (motion to alert latency,
// the REST API's camera, event, snapshot and preview routes), an HTTP MJPEG
// stream served by a local test camera (reconnects after the stream is lost),
// clear errors for missing devices and undecodable files, and sensor
// pipelines that keep their latency while a camera pipeline is saturated.
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <sstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "broker.h"
#include "core/testing.h"
#include "process.h"
#include "vision/module/analysis.h"

namespace edgeflow {
namespace {

using nlohmann::json;
using testing::Child;
using testing::TempDir;
namespace fs = std::filesystem;
using testing::WaitFor;
using namespace std::chrono_literals;

const std::string kBin = EDGEFLOW_BINARY;
const std::string kSrc = EDGEFLOW_SOURCE_DIR;
const std::string kData = "/usr/share/doc/opencv-doc/examples/data/";

struct Node {
  TempDir& dir;
  int port = testing::FreePort();
  std::unique_ptr<Child> daemon;
  std::string token;

  explicit Node(TempDir& d) : dir(d) {}
  // `body`: sources, processors and sinks.
  void Start(const std::string& body) {
    std::ofstream(dir / "c.yaml") << "node: {id: cam-node, data_dir: " << dir.path() << "}\napi: {port: " << port
                                  << "}\n" << body;
    daemon = std::make_unique<Child>(std::vector<std::string>{kBin, "run", "-c", dir / "c.yaml"}, dir / "out",
                                     dir / "err");
    ASSERT_TRUE(WaitFor([&] { return daemon->err().find("API listening") != std::string::npos; }, 20s))
        << daemon->err();
    token = testing::ReadFile(dir / "api-token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
  }
  httplib::Client Client(bool with_token = true) const {
    httplib::Client c("127.0.0.1", port);
    if (with_token) c.set_bearer_token_auth(token);
    c.set_read_timeout(10s);
    return c;
  }
  json Get(const std::string& path) const {
    auto r = Client().Get(path);
    if (!r || r->status != 200) return json();
    return json::parse(r->body, nullptr, false);
  }
  json Camera(const std::string& id) const {
    for (const auto& c : Get("/api/v1/cameras").value("cameras", json::array()))
      if (c.value("id", "") == id) return c;
    return json();
  }
  ~Node() {
    if (daemon) {
      daemon->Signal(SIGTERM);
      daemon->Wait(20s);
    }
  }
};

// Threads of a process whose scheduling policy is SCHED_IDLE (/proc/<pid>/task/<tid>/stat, field 41).
int IdleThreads(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const std::string stat = testing::ReadFile(task.path() / "stat");
    const size_t paren = stat.rfind(')');  // the thread name may hold spaces
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    std::string f;
    for (int i = 3; i <= 41 && fields >> f; ++i)
      if (i == 41 && f == std::to_string(SCHED_IDLE)) ++n;
  }
  return n;
}

// ---- privacy ----

// A face (from opencv-doc's messi5.jpg) walks across a still room, with empty
// frames before (to learn the background) and after. Returns the face box of
// each frame (empty when none).
std::vector<cv::Rect> MakeFaceVideo(const std::string& path) {
  cv::Mat room = cv::imread(kData + "building.jpg"), messi = cv::imread(kData + "messi5.jpg");
  if (room.empty() || messi.empty()) return {};
  cv::resize(room, room, cv::Size(640, 480));
  auto faces = vision::FaceDetector::Create(vision::FacesConfig{});
  if (!faces.ok()) return {};
  const auto found = (*faces)->Detect(messi);
  if (found.empty()) return {};
  // The face with some head and shoulders around it, 150 px high.
  cv::Rect f = found[0];
  cv::Rect crop(f.x - f.width / 2, f.y - f.height / 3, f.width * 2, f.height * 2);
  crop &= cv::Rect(0, 0, messi.cols, messi.rows);
  cv::Mat patch;
  const double s = 150.0 / crop.height;
  cv::resize(messi(crop), patch, cv::Size(), s, s, cv::INTER_AREA);
  const cv::Rect face_in_patch(static_cast<int>((f.x - crop.x) * s), static_cast<int>((f.y - crop.y) * s),
                               static_cast<int>(f.width * s), static_cast<int>(f.height * s));
  cv::VideoWriter w(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, room.size());
  std::vector<cv::Rect> truth;
  for (int i = 0; i < 225; ++i) {
    cv::Mat frame = room.clone();
    cv::Rect face;
    if (i >= 50 && i < 175) {  // 5 s across the room
      const int x = 20 + (i - 50) * (640 - 40 - patch.cols) / 125;
      const cv::Rect at(x, 160, patch.cols, patch.rows);
      patch.copyTo(frame(at));
      face = cv::Rect(at.x + face_in_patch.x, at.y + face_in_patch.y, face_in_patch.width, face_in_patch.height);
    }
    w.write(frame);
    truth.push_back(face);
  }
  return truth;
}

// Mean absolute difference per channel value.
double MeanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  return cv::norm(a, b, cv::NORM_L1) / static_cast<double>(a.total() * a.channels());
}

TEST(Vision, NoStoredSnapshotOrClipFrameShowsADetectedFace) {
  TempDir dir;
  const std::string video = dir / "walk.avi";
  const auto truth = MakeFaceVideo(video);
  ASSERT_EQ(truth.size(), 225u) << "opencv-doc's example images and opencv-data's cascades are needed";
  // The raw video: frames as the camera module decodes them.
  std::vector<cv::Mat> raw;
  {
    cv::VideoCapture cap(video, cv::CAP_FFMPEG);
    for (cv::Mat f; cap.read(f);) raw.push_back(f.clone());
  }
  ASSERT_EQ(raw.size(), truth.size());
  auto faces = vision::FaceDetector::Create(vision::FacesConfig{});
  ASSERT_TRUE(faces.ok());
  size_t face_frames = 0, detected = 0;
  for (size_t i = 0; i < raw.size(); ++i)
    if (!truth[i].empty()) ++face_frames, detected += !(*faces)->Detect(raw[i]).empty();
  ASSERT_GE(detected, face_frames * 8 / 10) << "the face must be detectable in the raw video for this test to mean anything";

  Node node(dir);
  node.Start("sources:\n  - {id: door, type: camera, input: file, path: " + video +
             ", motion: {end_secs: 0.5}, faces: {enabled: true},"
             " events: {clip_before_secs: 1, clip_after_secs: 3, clip_fps: 10}}\n"
             "sinks: [{id: db, type: sqlite, inputs: [door]}]\n");
  // The file plays in real time (9 s); the event ends 0.5 s after the face leaves.
  json ev;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = node.Get("/api/v1/vision/events?camera=door");
        if (!list.is_object() || list["events"].empty()) return false;
        ev = list["events"].back();  // the first event
        return !ev["end"].is_null() && ev.value("clip", false) && ev.value("snapshot", false);
      },
      40s))
      << ev.dump() << node.daemon->err();
  EXPECT_GE(ev.value("max_faces", 0), 1) << ev.dump();

  // Everything stored: snapshots and every frame of every clip.
  std::vector<cv::Mat> stored;
  const json events = node.Get("/api/v1/vision/events?camera=door");
  ASSERT_TRUE(events.is_object());
  for (const auto& e : events["events"]) {
    const std::string id = e["id"];
    auto snap = node.Client().Get("/api/v1/vision/events/" + id + "/snapshot.jpg");
    ASSERT_TRUE(snap && snap->status == 200)
        << id << ": " << (snap ? std::to_string(snap->status) + " " + snap->body : httplib::to_string(snap.error()));
    EXPECT_EQ(snap->get_header_value("Content-Type"), "image/jpeg");
    stored.push_back(cv::imdecode(std::vector<uchar>(snap->body.begin(), snap->body.end()), cv::IMREAD_COLOR));
    if (!e.value("clip", false)) continue;
    auto clip = node.Client().Get("/api/v1/vision/events/" + id + "/clip.avi");
    ASSERT_TRUE(clip && clip->status == 200)
        << id << ": " << (clip ? std::to_string(clip->status) + " " + clip->body : httplib::to_string(clip.error()))
        << "\n" << events.dump();
    const std::string clip_path = dir / (id + ".check.avi");
    std::ofstream(clip_path, std::ios::binary) << clip->body;
    cv::VideoCapture cap(clip_path, cv::CAP_FFMPEG);
    size_t n = 0;
    for (cv::Mat f; cap.read(f); ++n) stored.push_back(f.clone());
    EXPECT_GE(n, 20u) << "a 1 s + 3 s clip at 10 fps";
  }
  size_t with_face = 0;
  for (size_t k = 0; k < stored.size(); ++k) {
    const cv::Mat& img = stored[k];
    if (getenv("VISION_DUMP"))  // to look at what was stored
      cv::imwrite(std::string(getenv("VISION_DUMP")) + "/" + std::to_string(k) + ".png", img);
    ASSERT_FALSE(img.empty());
    EXPECT_TRUE((*faces)->Detect(img).empty()) << "stored image " << k << " shows a face";
    // The raw frame it came from (the closest one), and the faces detected there.
    size_t best = 0;
    double best_diff = 1e18;
    for (size_t i = 0; i < raw.size(); ++i) {
      const double d = cv::norm(raw[i], img, cv::NORM_L1);
      if (d < best_diff) best_diff = d, best = i;
    }
    // Each face detected there is masked in the stored image: it differs from
    // the raw face far more than the rest of the image (JPEG) differs from its raw.
    const double jpeg = MeanAbsDiff(img, raw[best]);
    for (const auto& f : (*faces)->Detect(raw[best])) {
      ++with_face;
      const double d = MeanAbsDiff(img(f), raw[best](f));
      EXPECT_GT(d, std::max(8.0, 4 * jpeg)) << "stored image " << k << ": face at " << f << " unmasked";
    }
  }
  EXPECT_GE(with_face, 5u) << "stored images taken while the face was in view";
  RecordProperty("stored_images", static_cast<int>(stored.size()));
  RecordProperty("stored_images_with_masked_face", static_cast<int>(with_face));
}

// ---- generated scene: latency, API ----

TEST(Vision, MotionAlertsWithin50MsAndTheApiServesEventsAndPreview) {
  TempDir dir;
  testing::Broker broker(dir.path());
  testing::TestClient sub(broker.port(), "vision-sub");
  ASSERT_TRUE(sub.connected());
  ASSERT_TRUE(sub.Subscribe("alerts/#", 0));
  Node node(dir);
  node.Start("sources:\n  - {id: yard, type: camera, input: synthetic, fps: 25,"
             " synthetic: {objects: 1, episode_secs: 1.5, gap_secs: 1.5}, motion: {end_secs: 0.3, warmup_frames: 10,"
             " zones: [{name: gate, x: 0, y: 0, w: 0.5, h: 1}]}}\n"
             "processors:\n  - {id: rules, type: rules, inputs: [yard], rules: [{id: motion, sensors: [yard],"
             " metrics: [motion], when: value > 0.5, clear_when: value < 0.5}]}\n"
             "sinks:\n  - {id: bus, type: mqtt, inputs: [rules], include: [alerts], broker: {host: 127.0.0.1, port: " +
             std::to_string(broker.port()) + "}, topic: 'alerts/{rule}', qos: 0, ts_format: epoch_us}\n"
             "  - {id: db, type: sqlite, inputs: [rules]}\n");
  // Motion alerts: from the frame's capture to the alert on the broker.
  std::vector<double> ms;
  size_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + 25s;
  while (ms.size() < 6 && std::chrono::steady_clock::now() < deadline) {
    sub.Pump(1);
    auto msgs = sub.messages();
    const TimeUs now = SystemClock::Instance().now();
    for (; seen < msgs.size(); ++seen) {
      auto j = json::parse(msgs[seen].second, nullptr, false);
      if (j.value("state", "") == "open") ms.push_back((now - j["ts"].get<int64_t>()) / 1000.0);
    }
  }
  ASSERT_GE(ms.size(), 6u) << node.daemon->err();
  std::sort(ms.begin(), ms.end());
  std::printf("motion to alert over %zu events: median %.1f ms, max %.1f ms\n", ms.size(), ms[ms.size() / 2], ms.back());
  RecordProperty("motion_to_alert_max_ms", std::to_string(ms.back()));
  EXPECT_LE(ms.back(), 50.0);

  // The named zone is a series of its own.
  bool zone_seen = false;
  for (const auto& r : node.Get("/api/v1/sensors").value("sensors", json::array()))
    zone_seen |= r["sensor"] == "yard" && r["metric"] == "motion_gate";
  EXPECT_TRUE(zone_seen) << node.Get("/api/v1/sensors").dump();

  // The camera's state.
  const json cam = node.Camera("yard");
  ASSERT_TRUE(cam.is_object());
  EXPECT_TRUE(cam["connected"].get<bool>());
  EXPECT_GT(cam["fps"].get<double>(), 15);
  EXPECT_EQ(cam["width"], 640);
  EXPECT_GE(cam["events"].get<int>(), 3);

  // Events and their files.
  auto list = node.Get("/api/v1/vision/events?camera=yard&limit=2");
  ASSERT_TRUE(list.is_object());
  ASSERT_EQ(list["events"].size(), 2u);
  const std::string id = list["events"][0]["id"];
  EXPECT_EQ(node.Get("/api/v1/vision/events/" + id)["id"], id);
  EXPECT_FALSE(list["events"][0]["boxes"].empty());
  auto snap = node.Client().Get("/api/v1/vision/events/" + id + "/snapshot.jpg");
  ASSERT_TRUE(snap && snap->status == 200);
  ASSERT_GT(snap->body.size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>(snap->body[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(snap->body[1]), 0xD8);
  EXPECT_EQ(node.Client().Get("/api/v1/vision/events/yard-1/snapshot.jpg")->status, 404);
  EXPECT_EQ(node.Client().Get("/api/v1/vision/events?limit=0")->status, 400);
  EXPECT_EQ(node.Client().Get("/api/v1/vision/events?camera=../x")->status, 400);

  // The live preview: multipart JPEG frames.
  {
    std::string got;
    auto c = node.Client();
    auto r = c.Get("/api/v1/cameras/yard/preview.mjpg", [&](const char* data, size_t n) {
      got.append(data, n);
      size_t parts = 0;
      for (size_t p = got.find("--edgeflowframe"); p != std::string::npos; p = got.find("--edgeflowframe", p + 1)) ++parts;
      return parts < 3;  // two whole frames
    });
    EXPECT_NE(got.find("Content-Type: image/jpeg"), std::string::npos);
    EXPECT_NE(got.find("\xFF\xD8"), std::string::npos);
  }
  EXPECT_EQ(node.Client().Get("/api/v1/cameras/nope/preview.mjpg")->status, 404);
  // Without the token: nothing.
  for (const std::string& path : std::vector<std::string>{"/api/v1/cameras", "/api/v1/vision/events", "/api/v1/cameras/yard/preview.mjpg",
                                 "/api/v1/vision/events/" + id + "/snapshot.jpg"})
    EXPECT_EQ(node.Client(false).Get(path)->status, 401) << path;
}

// ---- streams from local test cameras ----

// Both kinds of network camera: an HTTP MJPEG stream and an RTSP (RTP/JPEG)
// one, each stopped and started again under a running node.
void StreamReconnects(const std::string& kind) {
  TempDir dir;
  std::filesystem::create_directories(dir / "frames");
  {
    vision::SyntheticScene scene(vision::SyntheticConfig{});
    cv::Mat f;
    for (int i = 0; i < 50; ++i) {
      scene.Render(i / 25.0, f);
      char name[32];
      std::snprintf(name, sizeof name, "%03d.jpg", i);
      cv::imwrite((std::filesystem::path(dir / "frames") / name).string(), f);
    }
  }
  const int cam_port = testing::FreePort();
  auto start_camera = [&] {
    std::vector<std::string> args = {"/usr/bin/python3"};
    if (kind == "http") args.insert(args.end(), {kSrc + "/tests/peers/mjpeg_server.py", std::to_string(cam_port), dir / "frames", "25"});
    else args.insert(args.end(), {kSrc + "/tests/peers/rtsp_server.py", std::to_string(cam_port)});
    auto c = std::make_unique<Child>(args, dir / "cam.out", dir / "cam.err");
    EXPECT_TRUE(WaitFor([&] { return testing::ReadFile(dir / "cam.out").find("listening") != std::string::npos; }, 10s))
        << testing::ReadFile(dir / "cam.err");
    return c;
  };
  const std::string url = kind == "http" ? "http://127.0.0.1:" + std::to_string(cam_port) + "/stream.mjpg"
                                         : "rtsp://127.0.0.1:" + std::to_string(cam_port) + "/cam";
  auto camera = start_camera();
  Node node(dir);
  node.Start("sources:\n  - {id: gate, type: camera, input: stream, url: '" + url +
             "', reconnect_secs: 0.2, reconnect_max_secs: 1}\n"
             "sinks: [{id: db, type: sqlite, inputs: [gate]}]\n");
  auto analysed = [&] {
    const json c = node.Camera("gate");
    return c.is_object() ? c["frames_analysed"].get<int64_t>() : 0;
  };
  ASSERT_TRUE(WaitFor([&] { return analysed() > 25; }, 20s)) << node.Camera("gate").dump() << node.daemon->err();
  EXPECT_TRUE(node.Camera("gate")["connected"].get<bool>());
  EXPECT_EQ(node.Camera("gate")["width"], kind == "http" ? 640 : 320);

  camera->Signal(SIGTERM);
  ASSERT_GE(camera->Wait(10s), 0);
  ASSERT_TRUE(WaitFor([&] { return !node.Camera("gate")["connected"].get<bool>(); }, 15s)) << node.Camera("gate").dump();
  EXPECT_GE(node.Camera("gate")["reconnects"].get<int>(), 1);
  EXPECT_TRUE(WaitFor([&] { return node.Camera("gate")["fps"].get<double>() == 0; }, 5s)) << "no frames, 0 fps";
  EXPECT_FALSE(node.Camera("gate")["error"].get<std::string>().empty());

  const int64_t before = analysed();
  camera = start_camera();
  ASSERT_TRUE(WaitFor([&] { return analysed() > before + 25; }, 20s)) << node.Camera("gate").dump();
  EXPECT_TRUE(node.Camera("gate")["connected"].get<bool>());
  EXPECT_TRUE(node.daemon->running());
}

TEST(Vision, HttpStreamCameraReconnectsAfterTheStreamIsLost) { StreamReconnects("http"); }

// A camera that sends nothing (its stream is down): viewers who left its preview must not keep the
// node's few stream slots (new viewers were refused with 503 for as long as it was down), and the
// dashboard's live updates keep a slot that previews cannot take.
TEST(Vision, PreviewsOfASilentCameraDoNotHoldTheStreamSlots) {
  TempDir dir;
  Node node(dir);
  node.Start("sources:\n  - {id: gate, type: camera, input: stream, url: 'http://127.0.0.1:" +
             std::to_string(testing::FreePort()) + "/down.mjpg', reconnect_secs: 0.2, reconnect_max_secs: 1}\n"
             "sinks: [{id: db, type: sqlite, inputs: [gate]}]\n");
  ASSERT_TRUE(WaitFor([&] { return node.Camera("gate").is_object(); }, 10s)) << node.daemon->err();
  for (int i = 0; i < 3; ++i) {  // three viewers open the preview and leave after a second
    auto c = node.Client();
    c.set_read_timeout(1s);
    auto r = c.Get("/api/v1/cameras/gate/preview.mjpg");
    EXPECT_FALSE(r) << "no frame can come";
  }
  // The status of a request, without reading its body.
  auto status_of = [&](const std::string& path) {
    auto c = node.Client();
    c.set_read_timeout(1s);
    int status = 0;
    c.Get(path, [&](const httplib::Response& r) {
      status = r.status;
      return false;  // the status is all this needs
    }, [](const char*, size_t) { return false; });
    return status;
  };
  // The live updates always have a slot of their own; a fourth preview has none ...
  EXPECT_EQ(status_of("/api/v1/events"), 200);
  EXPECT_EQ(status_of("/api/v1/cameras/gate/preview.mjpg"), 503);
  // ... until the silent previews end.
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return (status = status_of("/api/v1/cameras/gate/preview.mjpg")) == 200; }, 20s))
      << "last status " << status;
  std::printf("# slots free again after %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_TRUE(node.daemon->running());
}
TEST(Vision, RtspCameraReconnectsAfterTheStreamIsLost) { StreamReconnects("rtsp"); }

// Retention ran only when an event closed: a camera that sees nothing kept its old snapshots for ever.
TEST(Vision, OldEventsGoAlsoWhenNothingMoves) {
  TempDir dir;
  const std::string cam_dir = dir / "vision/still";
  fs::create_directories(cam_dir);
  std::ofstream(cam_dir + "/still-1000000.json") << R"({"id": "still-1000000", "camera": "still", "start": 1000000})";
  std::ofstream(cam_dir + "/still-1000000.jpg") << "jpeg";
  Node node(dir);
  node.Start("sources:\n  - {id: still, type: camera, input: synthetic, synthetic: {objects: 0},"
             " events: {max_age_hours: 24}}\n"
             "sinks: [{id: db, type: sqlite, inputs: [still]}]\n");
  EXPECT_TRUE(WaitFor([&] { return !fs::exists(cam_dir + "/still-1000000.jpg"); }, 10s)) << "a 1970 snapshot stayed";
  EXPECT_FALSE(fs::exists(cam_dir + "/still-1000000.json"));
  EXPECT_TRUE(node.daemon->running()) << node.daemon->err();
}

// ---- clear errors ----

TEST(Vision, MissingDevicesAndUndecodableFilesAreClearErrors) {
  TempDir dir;
  auto check = [&](const std::string& source, int* code) {
    std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path() << "}\nsources:\n  - " << source
                                  << "\nsinks: [{id: db, type: sqlite, inputs: [cam]}]\n";
    std::string out, err;
    *code = testing::RunCommand({kBin, "run", "-c", dir / "c.yaml"}, &out, &err, dir.path());
    return out + err;
  };
  int code = 0;
  std::string msg = check("{id: cam, type: camera, input: v4l2, device: /dev/video97}", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("camera device /dev/video97 not found"), std::string::npos) << msg;
  msg = check("{id: cam, type: camera, input: stream, url: 'ftp://10.0.0.1/x'}", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("starting with rtsp://, http:// or https://"), std::string::npos) << msg;
  std::ofstream(dir / "not-a-video.avi") << "this is text, not a video\n";
  msg = check("{id: cam, type: camera, input: file, path: " + (dir / "not-a-video.avi") + "}", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("cannot decode " + (dir / "not-a-video.avi")), std::string::npos) << msg;
  msg = check("{id: cam, type: camera, input: synthetic, faces: {cascade: /nope.xml}, privacy: {zones: [{x: 0.5, w: 0.6}]},"
              " motion: {zones: [{name: door, w: 0.2}, {name: door, x: 0.5, w: 0.2}, {name: 'a b'}]}}",
              &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("cascade file /nope.xml not found"), std::string::npos) << msg;
  EXPECT_NE(msg.find("extends past the frame"), std::string::npos) << msg;  // all errors at once
  EXPECT_NE(msg.find("zone 'door' is named twice"), std::string::npos) << msg;
  EXPECT_NE(msg.find("every zone needs a 'name' of letters, digits and _"), std::string::npos) << msg;
  // Masking faces without finding them, snapshots off: the live preview would show them unmasked.
  msg = check("{id: cam, type: camera, input: synthetic, privacy: {mask_faces: true}, events: {snapshots: false}}", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("privacy.mask_faces needs faces.enabled: true"), std::string::npos) << msg;
}

// ---- ONNX detectors ----

// Grey frames (640x480) with red squares on the detector's 80-pixel grid.
cv::Mat SquaresFrame(const std::vector<cv::Rect>& squares) {
  cv::Mat f(480, 640, CV_8UC3, cv::Scalar(128, 128, 128));
  for (const auto& r : squares) f(r).setTo(cv::Scalar(0, 0, 230));
  return f;
}

void MakeDetector(const std::string& dir, const std::string& layout, int classes = 1) {
  ASSERT_EQ(std::system(("/usr/bin/python3 " + kSrc + "/tests/peers/detector_model.py " + dir + " " + layout + " " +
                         std::to_string(classes)).c_str()), 0);
}

TEST(Vision, OnnxDetectorsDecodeBothLayoutsWithNonMaximumSuppression) {
  TempDir dir;
  const std::vector<cv::Rect> squares = {cv::Rect(160, 80, 80, 80), cv::Rect(400, 240, 80, 80)};
  const cv::Mat frame = SquaresFrame(squares);
  for (const std::string layout : {"yolov5", "yolov8"}) {
    MakeDetector(dir / layout, layout);
    auto m = vision::LoadDetectorManifest(dir / layout);
    ASSERT_TRUE(m.ok()) << m.status().message();
    auto det = vision::OnnxDetector::Create(*m, dir / layout);
    ASSERT_TRUE(det.ok()) << det.status().message();
    auto found = (*det)->Detect(frame);
    // Every cell is reported twice: without NMS there would be four boxes.
    ASSERT_EQ(found.size(), 2u) << layout;
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.box.x < b.box.x; });
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_GE(vision::IoU(found[i].box, squares[i]), 0.9) << layout << " " << found[i].box;
      EXPECT_GT(found[i].score, 0.9);
      EXPECT_EQ(found[i].cls, 0);
    }
    EXPECT_TRUE((*det)->Detect(SquaresFrame({})).empty()) << layout;
  }
  // A manifest that declares more classes than the network scores.
  MakeDetector(dir / "three", "yolov5", 3);
  auto m = vision::LoadDetectorManifest(dir / "three");
  ASSERT_TRUE(m.ok());
  auto bad = vision::OnnxDetector::Create(*m, dir / "three");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("output shape is not [1, N, 5 + classes] for 3 classes"), std::string::npos)
      << bad.status().message();
}

TEST(Vision, ACameraWithAnOnnxDetectorCountsObjectsAndRecordsTheirBoxes) {
  TempDir dir;
  MakeDetector(dir / "model", "yolov5");
  // 2 s of an empty grey scene, then two red squares appear (a motion event).
  const std::string video = dir / "squares.avi";
  {
    cv::VideoWriter w(video, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, cv::Size(640, 480));
    for (int i = 0; i < 150; ++i)
      w.write(i < 50 ? SquaresFrame({}) : SquaresFrame({cv::Rect(160, 80, 80, 80), cv::Rect(400, 240, 80, 80)}));
  }
  Node node(dir);
  node.Start("sources:\n  - {id: cam, type: camera, input: file, path: " + video + ", loop: true,"
             " fps: 0, motion: {end_secs: 0.5}, detector: {model: " + (dir / "model") + "}}\n"
             "sinks: [{id: db, type: sqlite, inputs: [cam]}]\n");
  auto latest = [&](const std::string& metric) {
    for (const auto& r : node.Get("/api/v1/sensors").value("sensors", json::array()))
      if (r["sensor"] == "cam" && r["metric"] == metric) return r["value"].get<double>();
    return -1.0;
  };
  ASSERT_TRUE(WaitFor([&] { return latest("objects") == 2 && latest("objects_red") == 2; }, 20s))
      << node.Get("/api/v1/sensors").dump();
  json ev;
  ASSERT_TRUE(WaitFor([&] {
    auto list = node.Get("/api/v1/vision/events?camera=cam");
    if (!list.is_object() || list["events"].empty()) return false;
    ev = list["events"].back();
    return ev.contains("objects");
  }, 20s)) << ev.dump();
  ASSERT_EQ(ev["objects"].size(), 2u) << ev.dump();
  for (const auto& o : ev["objects"]) {
    EXPECT_EQ(o["class"], "red");
    const cv::Rect b(o["box"][0], o["box"][1], o["box"][2], o["box"][3]);
    EXPECT_GE(std::max(vision::IoU(b, cv::Rect(160, 80, 80, 80)), vision::IoU(b, cv::Rect(400, 240, 80, 80))), 0.9) << b;
  }
  // The file loops: more frames than it has.
  ASSERT_TRUE(WaitFor([&] { return node.Camera("cam").value("frames_captured", 0) > 160; }, 30s)) << node.Camera("cam").dump();
  EXPECT_TRUE(node.Camera("cam")["connected"].get<bool>());
}

TEST(Vision, BadDetectorsAreRefusedWithTheReason) {
  TempDir dir;
  auto run = [&](const std::string& model, int* code) {
    std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path() << "}\nsources:\n  - {id: cam, type: camera,"
                                  << " input: synthetic, detector: {model: " << model << "}}\n"
                                  << "sinks: [{id: db, type: sqlite, inputs: [cam]}]\n";
    std::string out, err;
    *code = testing::RunCommand({kBin, "run", "-c", dir / "c.yaml"}, &out, &err, dir.path(), 30s);
    return out + err;
  };
  int code = 0;
  std::string msg = run(dir / "none", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("no manifest.yaml in " + (dir / "none")), std::string::npos) << msg;
  MakeDetector(dir / "three", "yolov5", 3);
  msg = run(dir / "three", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("output shape is not [1, N, 5 + classes] for 3 classes"), std::string::npos) << msg;
  MakeDetector(dir / "noclass", "yolov5");
  std::ofstream(dir / "noclass/manifest.yaml") << "name: x\nversion: \"1\"\nfile: model.onnx\noutput: yolov9\n";
  msg = run(dir / "noclass", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("'output' must be one of yolov5, yolov8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("classes"), std::string::npos) << msg;  // both errors at once
  std::ofstream(dir / "corrupt.onnx") << "not a model";
  MakeDetector(dir / "corrupt", "yolov5");
  std::filesystem::copy_file(dir / "corrupt.onnx", dir / "corrupt/model.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  msg = run(dir / "corrupt", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(msg.find("cannot run " + (dir / "corrupt/model.onnx")), std::string::npos) << msg;
}

// ---- sensors first ----

// Sensor round trips (MQTT in, rule, MQTT out) at 100 readings/s; every reading
// changes the alert state, so each one gives an alert to time.
std::vector<double> SensorLatencies(int broker_port, int n) {
  testing::TestClient pub(broker_port, "sensor-pub"), sub(broker_port, "sensor-sub");
  EXPECT_TRUE(pub.connected() && sub.connected());
  EXPECT_TRUE(sub.Subscribe("alerts/#", 0));
  std::vector<std::chrono::steady_clock::time_point> sent;
  std::vector<double> ms;
  size_t seen = 0;
  auto drain = [&] {  // times what has arrived
    sub.Pump(0);
    auto msgs = sub.messages();
    const auto now = std::chrono::steady_clock::now();
    for (; seen < msgs.size() && seen < sent.size(); ++seen)
      ms.push_back(std::chrono::duration<double, std::milli>(now - sent[seen]).count());
    return seen >= sent.size();
  };
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    const auto due = start + std::chrono::milliseconds(10 * i);
    while (std::chrono::steady_clock::now() < due) drain();
    sent.push_back(std::chrono::steady_clock::now());
    pub.Publish("sensors/s1/temperature", i % 2 ? "10" : "90", 0);
    pub.Pump(0);
    drain();
  }
  WaitFor(drain, 10s);
  std::sort(ms.begin(), ms.end());
  return ms;
}

TEST(Vision, ASaturatedCameraDoesNotSlowSensorPipelines) {
  TempDir dir;
  testing::Broker broker(dir.path());
  const std::string sensors =
      "  - {id: plant, type: mqtt, broker: {host: 127.0.0.1, port: " + std::to_string(broker.port()) +
      "}, topics: ['sensors/+/temperature'], topic_map: 'sensors/{sensor}/{metric}'}\n";
  const std::string rest =
      "processors:\n  - {id: rules, type: rules, inputs: [plant], rules: [{id: hot, when: value > 80, clear_when: value < 80}]}\n"
      "sinks:\n  - {id: bus, type: mqtt, inputs: [rules], include: [alerts], broker: {host: 127.0.0.1, port: " +
      std::to_string(broker.port()) + "}, topic: 'alerts/{sensor}', qos: 0}\n";
  const int n = 400;
  const auto p = [](const std::vector<double>& v, double q) { return v[static_cast<size_t>(q * (v.size() - 1))]; };
  // A round measures the sensors alone, then beside a camera analysing as fast
  // as it can (people detection on every frame, faces masked on clip and
  // preview frames). A camera that slows the sensors does so in every round;
  // a burst of other work on this machine lands in one, so the test passes on
  // the first round within bounds and fails only when all three are not.
  bool within = false;
  for (int round = 1; round <= 3 && !within; ++round) {
    std::vector<double> alone, beside;
    {
      TempDir d;
      Node node(d);
      node.Start("sources:\n" + sensors + rest);
      alone = SensorLatencies(broker.port(), n);
    }
    TempDir d;
    Node node(d);
    node.Start("sources:\n" + sensors +
               "  - {id: cam, type: camera, input: synthetic, realtime: false, synthetic: {objects: 3},"
               " people: {enabled: true, on_motion_only: false}, faces: {enabled: true}}\n" + rest +
               "  - {id: db, type: sqlite, inputs: [cam]}\n");
    ASSERT_TRUE(WaitFor([&] { const json c = node.Camera("cam"); return c.is_object() && c["frames_analysed"] > 5; }, 20s));
    const int64_t frames_before = node.Camera("cam")["frames_analysed"];
    beside = SensorLatencies(broker.port(), n);
    const json cam = node.Camera("cam");
    ASSERT_EQ(alone.size(), static_cast<size_t>(n));
    ASSERT_EQ(beside.size(), static_cast<size_t>(n));
    std::printf("round %d: sensor alert latency alone: p50 %.2f p99 %.2f max %.2f ms; beside a saturated camera "
                "(%.0f ms per frame, %lld frames): p50 %.2f p99 %.2f max %.2f ms\n",
                round, p(alone, 0.5), p(alone, 0.99), alone.back(), cam["analyse_ms"].get<double>(),
                static_cast<long long>(cam["frames_analysed"].get<int64_t>() - frames_before), p(beside, 0.5),
                p(beside, 0.99), beside.back());
    RecordProperty("sensor_p99_alone_ms", std::to_string(p(alone, 0.99)));
    RecordProperty("sensor_p99_beside_camera_ms", std::to_string(p(beside, 0.99)));
    EXPECT_TRUE(cam.contains("frames_not_written"));
    // Capture, analysis and the event writer run under SCHED_IDLE; the node's other threads do not.
    EXPECT_EQ(IdleThreads(node.daemon->pid()), 3);
    // The camera was busy the whole time (HOG takes tens of ms per frame) ...
    EXPECT_GT(cam["analyse_ms"].get<double>(), 20.0);
    EXPECT_GE(cam["frames_analysed"].get<int64_t>() - frames_before, 8);
    // ... and the sensors did not notice beyond noise.
    within = p(beside, 0.5) <= std::max(2 * p(alone, 0.5), p(alone, 0.5) + 1.0) &&
             p(beside, 0.99) <= std::max(2 * p(alone, 0.99), p(alone, 0.99) + 5.0);
  }
  EXPECT_TRUE(within) << "the sensors were slower beside the camera in every round";
}

}  // namespace
}  // namespace edgeflow
