// The edge-ML workflow against a running node: readings exported through the
// API, a model trained on them by the cloud-side trainer (tools/), deployed
// through the API, run live by an inference stage (alert on a simulated
// bearing fault, none on the healthy machine), a second version in shadow,
// promoted, rolled back; bad models refused while the live one keeps
// serving, and a model giving NaN rolled back automatically.
#include <httplib.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "broker.h"
#include "core/base64.h"
#include "core/testing.h"
#include "process.h"
#include "store/store.h"

namespace edgeflow {
namespace {

using nlohmann::json;
using testing::Child;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;
const std::string kSrc = EDGEFLOW_SOURCE_DIR;
constexpr int kWindow = 32;

// A rotating machine's vibration: two shaft harmonics and noise; with a
// bearing fault, a third, faster component appears.
double Vibration(int i, bool fault, std::mt19937& rng) {
  std::normal_distribution<double> noise(0, 0.05);
  double v = std::sin(2 * M_PI * i / 16.0) + 0.3 * std::sin(2 * M_PI * i / 5.3) + noise(rng);
  if (fault) v += 0.8 * std::sin(2 * M_PI * i / 3.1);
  return v;
}

struct Node {
  TempDir& dir;
  std::unique_ptr<Child> daemon;
  int port = 0;
  std::string token;
  int next = 0;  // next reading index
  std::mt19937 rng{11};

  explicit Node(TempDir& d) : dir(d) {}
  void WriteConfig(bool with_inference) {
    std::ofstream c(dir / "c.yaml");
    c << "node: {id: press-7, data_dir: " << dir.path() << "}\napi: {port: " << port << ", max_body_bytes: 1048576}\n"
      << "sources: [{id: in, type: ingest}]\n";
    if (with_inference)
      c << "processors:\n  - {id: bearing, type: inference, inputs: [in], model: pump, metrics: [vibration], hop: 16, "
           "batch: 8, severity: critical}\n"
        << "sinks: [{id: db, type: sqlite, inputs: [bearing]}]\n";
    else
      c << "sinks: [{id: db, type: sqlite, inputs: [in]}]\n";
  }
  void Start() {
    port = testing::FreePort();
    WriteConfig(false);
    daemon = std::make_unique<Child>(std::vector<std::string>{kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
    ASSERT_TRUE(testing::WaitFor([&] { return daemon->err().find("API listening") != std::string::npos; }))
        << daemon->err();
    token = testing::ReadFile(dir / "api-token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_bearer_token_auth(token);
    c.set_read_timeout(std::chrono::seconds(30));
    return c;
  }
  void Ingest(int n, bool fault) {
    auto c = Client();
    for (int done = 0; done < n;) {
      json readings = json::array();
      for (int k = 0; k < 500 && done < n; ++k, ++done, ++next)
        readings.push_back({{"sensor", "pump"}, {"metric", "vibration"}, {"ts", 1767225600 + next}, {"value", Vibration(next, fault, rng)}});
      auto res = c.Post("/api/v1/ingest", json{{"readings", readings}}.dump(), "application/json");
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
    }
  }
  json Model() const { return json::parse(Client().Get("/api/v1/models/pump")->body); }
  httplib::Result Deploy(const std::string& manifest, const std::string& model, const std::string& mode = "live") {
    return Client().Put("/api/v1/models/pump?mode=" + mode,
                        json{{"manifest", manifest}, {"model_base64", Base64Encode(model)}}.dump(), "application/json");
  }
  int Alerts(const std::string& state) {
    auto s = Store::Open(dir / "edgeflow.db");
    if (!s.ok()) return 0;
    auto rows = (*s)->Alerts();
    int n = 0;
    if (rows.ok())
      for (const auto& a : *rows) n += a.rule == "bearing" && a.state == state;
    return n;
  }
};

std::string Train(TempDir& dir, const std::string& version, int components) {
  std::string out, err;
  EXPECT_EQ(testing::RunCommand({"/usr/bin/python3", kSrc + "/tools/train_autoencoder.py", "--input", dir / "export.json",
                                 "--name", "pump", "--version", version, "--window", std::to_string(kWindow),
                                 "--components", std::to_string(components), "--out", dir / ("v" + version)},
                                &out, &err, dir.path()),
            0)
      << err;
  return dir / ("v" + version);
}

// A float32 .tflite model (written by tests/peers/tflite_models.py) runs live
// through Arm NN's TfLiteParser; one with an operator Arm NN cannot parse is
// refused naming it, and a file that is no model with the parser's reason.
TEST(Ml, TfLiteModelsRunThroughArmNnAndUnsupportedOperatorsAreNamed) {
  TempDir dir;
  Node node(dir);
  ASSERT_NO_FATAL_FAILURE(node.Start());
  for (const char* kind : {"dense", "unsupported"}) {
    std::string out, err;
    ASSERT_EQ(testing::RunCommand({"/usr/bin/python3", kSrc + "/tests/peers/tflite_models.py", kind, dir / kind,
                                   std::to_string(kWindow)}, &out, &err, dir.path()), 0) << err;
  }
  // The dense model halves its input and adds 0.1: as a reconstruction of
  // zero-mean windows its error is large, so scores are high but finite.
  const std::string manifest =
      "name: pump\nversion: \"1\"\nformat: tflite\nfile: model.tflite\ninputs: 32\noutputs: 32\n"
      "output: reconstruction\nscore_scale: 0.5\nthreshold: 0.99\nlatency_budget_ms: 50\n";
  auto res = node.Deploy(std::regex_replace(manifest, std::regex("\"1\""), "\"2\""),
                         testing::ReadFile(dir / "unsupported/model.tflite"));
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("SIN"), std::string::npos) << "names the operator: " << res->body;
  res = node.Deploy(std::regex_replace(manifest, std::regex("\"1\""), "\"3\""), "not a tflite file");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("cannot load"), std::string::npos) << res->body;
  res = node.Deploy(std::regex_replace(manifest, std::regex("inputs: 32\noutputs: 32"), "inputs: 16\noutputs: 16"),
                    testing::ReadFile(dir / "dense/model.tflite"));
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("the model takes 32 values, the manifest declares 16 inputs"), std::string::npos) << res->body;
  res = node.Deploy(manifest, testing::ReadFile(dir / "dense/model.tflite"));
  ASSERT_EQ(res->status, 200) << res->body;

  node.WriteConfig(true);
  node.daemon->Signal(SIGHUP);
  ASSERT_TRUE(testing::WaitFor([&] { return node.daemon->err().find("configuration reloaded") != std::string::npos; }))
      << node.daemon->err();
  ASSERT_NO_FATAL_FAILURE(node.Ingest(1000, false));
  ASSERT_TRUE(testing::WaitFor([&] { return node.Model()["live_stats"]["batches"].get<int>() >= 5; })) << node.Model().dump();
  const json m = node.Model();
  EXPECT_EQ(m["live"], "1");
  EXPECT_EQ(m["live_stats"]["errors"], 0) << m.dump();
  EXPECT_EQ(m["rollbacks"], 0) << m.dump();
  std::printf("# tflite inference (Arm NN): %s batches, mean %.3f ms, max %.3f ms per batch of up to 8 windows\n",
              m["live_stats"]["batches"].dump().c_str(), m["live_stats"]["mean_ms"].get<double>(),
              m["live_stats"]["max_ms"].get<double>());
}

TEST(Ml, ExportTrainDeployInferShadowPromoteRollback) {
  TempDir dir;
  Node node(dir);
  ASSERT_NO_FATAL_FAILURE(node.Start());

  // 1. The healthy machine's readings, exported from the node.
  ASSERT_NO_FATAL_FAILURE(node.Ingest(4000, false));
  auto exported = node.Client().Get("/api/v1/readings?sensor=pump&metric=vibration&from=1767225600&to=1767240000");
  ASSERT_EQ(exported->status, 200);
  std::ofstream(dir / "export.json") << exported->body;
  ASSERT_EQ(json::parse(exported->body)["points"].size(), 4000u);

  // 2. Trained in the cloud, deployed live.
  const std::string v1 = Train(dir, "1", 6);
  auto res = node.Deploy(testing::ReadFile(v1 + "/manifest.yaml"), testing::ReadFile(v1 + "/model.onnx"));
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["live"], "1");

  // 3. Bad models are refused with the reason; the live one stays.
  res = node.Deploy(std::regex_replace(testing::ReadFile(v1 + "/manifest.yaml"), std::regex("version: \"1\""), "version: \"9\""),
                    "not an onnx file");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("cannot load"), std::string::npos) << res->body;
  std::string wrong_shape = std::regex_replace(testing::ReadFile(v1 + "/manifest.yaml"), std::regex("version: \"1\""), "version: \"8\"");
  wrong_shape = std::regex_replace(wrong_shape, std::regex("inputs: 32\noutputs: 32"), "inputs: 16\noutputs: 16");
  res = node.Deploy(wrong_shape, testing::ReadFile(v1 + "/model.onnx"));
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("pump 8:"), std::string::npos) << res->body;
  std::string out, err;
  ASSERT_EQ(testing::RunCommand({"/usr/bin/python3", kSrc + "/tests/peers/onnx_models.py", "unsupported", dir / "bad", "32"},
                                &out, &err, dir.path()),
            0)
      << err;
  const std::string v7 = std::regex_replace(testing::ReadFile(v1 + "/manifest.yaml"), std::regex("version: \"1\""), "version: \"7\"");
  res = node.Deploy(v7, testing::ReadFile(dir / "bad/model.onnx"));
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("Det"), std::string::npos) << "names the operator: " << res->body;
  res = node.Deploy(std::regex_replace(v7, std::regex("format: onnx"), "format: tflite"), "x");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("cannot load"), std::string::npos) << res->body;
  json m = node.Model();
  EXPECT_EQ(m["live"], "1");
  EXPECT_EQ(m["versions"], json::array({"1"})) << "refused versions leave nothing on disk";
  res = node.Deploy(testing::ReadFile(v1 + "/manifest.yaml"), testing::ReadFile(v1 + "/model.onnx"));
  EXPECT_EQ(res->status, 409) << "a version, once deployed, is never replaced: " << res->body;

  // 4. The inference stage runs it: nothing on the healthy machine, an alert on the fault.
  node.WriteConfig(true);
  node.daemon->Signal(SIGHUP);
  ASSERT_TRUE(testing::WaitFor([&] { return node.daemon->err().find("configuration reloaded") != std::string::npos; }))
      << node.daemon->err();
  ASSERT_NO_FATAL_FAILURE(node.Ingest(1500, false));
  EXPECT_EQ(node.Alerts("open"), 0);
  ASSERT_NO_FATAL_FAILURE(node.Ingest(320, true));
  ASSERT_TRUE(testing::WaitFor([&] { return node.Alerts("open") == 1; })) << node.daemon->err();
  m = node.Model();
  EXPECT_GT(m["live_stats"]["batches"].get<int>(), 10);
  EXPECT_EQ(m["live_stats"]["errors"], 0);
  std::printf("# inference: %s batches, mean %.3f ms, max %.3f ms per batch of up to 8 windows of %d\n",
              m["live_stats"]["batches"].dump().c_str(), m["live_stats"]["mean_ms"].get<double>(),
              m["live_stats"]["max_ms"].get<double>(), kWindow);
  ASSERT_NO_FATAL_FAILURE(node.Ingest(640, false));
  ASSERT_TRUE(testing::WaitFor([&] { return node.Alerts("clear") == 1; })) << "the fault went away";

  // 5. A second version in shadow: compared, not acted on; then promoted; then rolled back.
  const std::string v2 = Train(dir, "2", 4);
  res = node.Deploy(testing::ReadFile(v2 + "/manifest.yaml"), testing::ReadFile(v2 + "/model.onnx"), "shadow");
  ASSERT_EQ(res->status, 200) << res->body;
  ASSERT_NO_FATAL_FAILURE(node.Ingest(800, false));
  m = node.Model();
  EXPECT_EQ(m["live"], "1");
  EXPECT_EQ(m["shadow"], "2");
  EXPECT_GT(m["shadow_comparison"]["windows"].get<int>(), 40) << m.dump();
  EXPECT_GT(m["shadow_comparison"]["alert_agreement"].get<double>(), 0.9) << m.dump();
  res = node.Client().Post("/api/v1/models/pump/promote", "", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  m = json::parse(res->body);
  EXPECT_EQ(m["live"], "2");
  EXPECT_EQ(m["previous"], "1");
  EXPECT_EQ(testing::ReadFile(dir / "models/pump/current"), "2\n");
  res = node.Client().Post("/api/v1/models/pump/rollback", "", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["live"], "1");
  EXPECT_EQ(node.Client().Post("/api/v1/models/pump/rollback", "", "application/json")->status, 409);

  // 6. A model that loads but gives NaN is rolled back by itself.
  ASSERT_EQ(testing::RunCommand({"/usr/bin/python3", kSrc + "/tests/peers/onnx_models.py", "nan", dir / "nan", "32"},
                                &out, &err, dir.path()),
            0)
      << err;
  res = node.Deploy(std::regex_replace(testing::ReadFile(v1 + "/manifest.yaml"), std::regex("version: \"1\""), "version: \"3\""),
                    testing::ReadFile(dir / "nan/model.onnx"));
  ASSERT_EQ(res->status, 200) << res->body;
  ASSERT_NO_FATAL_FAILURE(node.Ingest(400, false));
  ASSERT_TRUE(testing::WaitFor([&] { return node.Model()["live"] == "1"; })) << node.Model().dump();
  m = node.Model();
  EXPECT_EQ(m["rollbacks"], 2);
  EXPECT_NE(m["last_rollback"].get<std::string>().find("from 3 to 1: invalid output"), std::string::npos) << m.dump();
  EXPECT_EQ(testing::ReadFile(dir / "models/pump/current"), "1\n");

  node.daemon->Signal(SIGTERM);
  EXPECT_EQ(node.daemon->Wait(std::chrono::seconds(20)), 0);
}

// "YYYY-MM-DDTHH:MM:SSZ" of `secs` since the epoch.
std::string Iso(int64_t secs) {
  char iso[32];
  std::tm tm{};
  const std::time_t t = static_cast<std::time_t>(secs);
  gmtime_r(&t, &tm);
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return iso;
}

// The pumps' alerts from `rule` in the store: pump 1 must open one after its
// defect appears (20 min) and at least half an hour before it fails (80 min);
// pump 2 never. Returns the minutes from the start to pump 1's first alert.
double CheckPumpAlerts(const std::string& db, const std::string& rule, int64_t start_s, const std::string& log) {
  auto s = Store::Open(db);
  EXPECT_TRUE(s.ok());
  if (!s.ok()) return -1;
  auto alerts = (*s)->Alerts();
  EXPECT_TRUE(alerts.ok());
  const TimeUs start = start_s * kUsPerSec, fault = start + 1200 * kUsPerSec, failure = start + 4800 * kUsPerSec;
  std::vector<TimeUs> pump1;
  for (const auto& a : *alerts) {
    if (a.rule != rule) continue;
    EXPECT_NE(a.sensor, "pump-2") << "the healthy pump raised an alert at " << (a.ts - start) / kUsPerSec << " s";
    if (a.sensor == "pump-1" && a.state == "open") pump1.push_back(a.ts);
  }
  EXPECT_FALSE(pump1.empty()) << log;
  if (pump1.empty()) return -1;
  EXPECT_GT(pump1.front(), fault) << "no alert before the defect exists";
  EXPECT_LT(pump1.front(), failure - 30 * 60 * kUsPerSec) << "at least half an hour of warning";
  return static_cast<double>(pump1.front() - start) / 60e6;
}

// The worked example: features -> anomaly detector -> alert, on simulated
// pumps; 90 simulated minutes at full speed.
TEST(Ml, PredictiveMaintenanceExampleAlertsBeforeTheFailureAndNotOnTheHealthyPump) {
  TempDir dir;
  // Starting now: the store's retention keeps what is recent.
  const int64_t start_s = std::time(nullptr);
  ::setenv("PDM_SPEED", "0", 1);
  ::setenv("PDM_DURATION", "5400", 1);
  ::setenv("PDM_START", Iso(start_s).c_str(), 1);
  Child c({kBin, "run", "-c", kSrc + "/examples/predictive-maintenance.yaml"}, dir / "out", dir / "err", dir.path());
  ::unsetenv("PDM_SPEED");
  ::unsetenv("PDM_DURATION");
  ::unsetenv("PDM_START");
  ASSERT_EQ(c.Wait(std::chrono::seconds(120)), 0) << c.err();
  const double at = CheckPumpAlerts(dir / "data/edgeflow.db", "bearing_watch", start_s, c.err());
  std::printf("# pump-1: defect at 20 min, alert at %.1f min, failure at 80 min\n", at);
}

// The same pumps with a model trained on the healthy machine's features:
// record, export, train, deploy, run; the alert comes before the failure.
TEST(Ml, PredictiveMaintenanceWithATrainedModel) {
  TempDir dir;
  const int64_t start_s = std::time(nullptr) - 7200;  // recent enough for the store's retention
  ::setenv("PDM_SPEED", "0", 1);
  ::setenv("PDM_START", Iso(start_s).c_str(), 1);
  // 1. The healthy machine: the first 20 minutes, features stored.
  ::setenv("PDM_DURATION", "1200", 1);
  Child record({kBin, "run", "-c", kSrc + "/examples/predictive-maintenance.yaml"}, dir / "rec.out", dir / "rec.err",
               dir.path());
  ASSERT_EQ(record.Wait(std::chrono::seconds(60)), 0) << record.err();
  // 2. Exported through the API of a node on the same data.
  const int port = testing::FreePort();
  std::ofstream(dir / "api.yaml") << "node: {id: pump-station, data_dir: " << (dir / "data")
                                  << "}\napi: {port: " << port << ", max_body_bytes: 1048576}\n"
                                  << "sources: [{id: in, type: ingest}]\nsinks: [{id: store, type: sqlite, inputs: [in]}]\n";
  {
    Child api({kBin, "run", "-c", dir / "api.yaml"}, dir / "api.out", dir / "api.err", dir.path());
    ASSERT_TRUE(testing::WaitFor([&] { return api.err().find("API listening") != std::string::npos; })) << api.err();
    std::string token = testing::ReadFile(dir / "data/api-token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    httplib::Client c("127.0.0.1", port);
    c.set_bearer_token_auth(token);
    c.set_read_timeout(std::chrono::seconds(30));
    auto res = c.Get("/api/v1/readings?sensor=pump-1&from=" + std::to_string(start_s) + "&to=" + std::to_string(start_s + 1300));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    std::ofstream(dir / "export.json") << res->body;
    // 3. Trained on the features, 4. deployed.
    std::string out, err;
    ASSERT_EQ(testing::RunCommand({"/usr/bin/python3", kSrc + "/tools/train_autoencoder.py", "--input", dir / "export.json",
                                   "--name", "bearing", "--version", "1", "--features",
                                   "acceleration_rms,acceleration_kurtosis,acceleration_crest,acceleration_band_20_30,"
                                   "acceleration_band_80_100",
                                   "--components", "2", "--out", dir / "bearing-1"},
                                  &out, &err, dir.path()),
              0)
        << err;
    res = c.Put("/api/v1/models/bearing",
                json{{"manifest", testing::ReadFile(dir / "bearing-1/manifest.yaml")},
                     {"model_base64", Base64Encode(testing::ReadFile(dir / "bearing-1/model.onnx"))}}
                    .dump(),
                "application/json");
    ASSERT_EQ(res->status, 200) << res->body;
    api.Signal(SIGTERM);
    ASSERT_EQ(api.Wait(std::chrono::seconds(20)), 0);
  }
  // 5. The whole 90 minutes with the model.
  ::setenv("PDM_DURATION", "5400", 1);
  Child run({kBin, "run", "-c", kSrc + "/examples/predictive-maintenance-model.yaml"}, dir / "run.out", dir / "run.err",
            dir.path());
  ::unsetenv("PDM_SPEED");
  ::unsetenv("PDM_DURATION");
  ::unsetenv("PDM_START");
  ASSERT_EQ(run.Wait(std::chrono::seconds(120)), 0) << run.err();
  const double at = CheckPumpAlerts(dir / "data/edgeflow.db", "bearing_model", start_s, run.err());
  std::printf("# pump-1 (trained model): defect at 20 min, alert at %.1f min, failure at 80 min\n", at);
}

}  // namespace
}  // namespace edgeflow
