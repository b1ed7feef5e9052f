// The REST API of a running daemon, over real HTTP: authentication on every
// route, status, ingest, sensors, readings, alerts, rules (validated,
// atomic, persistent), metrics, limits; and the OpenAPI document agrees with
// the routes the server answers.
#include <fmt/format.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <regex>
#include <mutex>
#include <set>
#include <thread>

#include "api/server.h"
#include "core/testing.h"
#include "store/store.h"
#include "process.h"

namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Child;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;
const std::string kSrc = EDGEFLOW_SOURCE_DIR;

std::string Config(const std::string& dir, const std::string& api_extra = "") {
  return "node: {id: api, data_dir: " + dir + "}\n"
         "api: {port: 0, max_body_bytes: 65536" + api_extra + "}\n"
         "sources:\n  - {id: in, type: ingest}\n"
         "processors:\n"
         "  - id: hot\n    type: rules\n    inputs: [in]\n"
         "    rules: [{id: hot, when: value > 80, clear_when: value < 70, severity: critical}]\n"
         "sinks:\n  - {id: db, type: sqlite, inputs: [hot], retention_secs: 0}\n";
}

// A daemon with the API on a free port; port and token read from its output.
struct Node {
  TempDir dir;
  std::unique_ptr<Child> daemon;
  int port = 0;
  std::string token;

  explicit Node(const std::string& api_extra = "") {
    std::ofstream(dir / "c.yaml") << Config(dir.path(), api_extra);
    Start();
  }
  void Start() {
    daemon = std::make_unique<Child>(std::vector<std::string>{kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
    std::smatch m;
    std::string err;
    testing::WaitFor([&] {
      err = daemon->err();
      return std::regex_search(err, m, std::regex("API listening on http://127.0.0.1:(\\d+)"));
    });
    if (!m.empty()) port = std::stoi(m[1]);
    token = testing::ReadFile(dir / "api-token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
  }
  void Stop() {
    daemon->Signal(SIGTERM);
    daemon->Wait(std::chrono::seconds(20));
  }
  httplib::Client Client(bool auth = true) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(10));
    if (auth) c.set_bearer_token_auth(token);
    return c;
  }
};

TEST(Api, EveryRouteButHealthzNeedsTheToken) {
  Node node;
  ASSERT_GT(node.port, 0) << node.daemon->err();
  ASSERT_EQ(node.token.size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat((node.dir / "api-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(node.daemon->out().find("API token (saved in"), std::string::npos) << "printed once at creation";
  EXPECT_NE(node.daemon->out().find("Dashboard: http://127.0.0.1:" + std::to_string(node.port) + "/ui/"),
            std::string::npos);
  auto anon = node.Client(false);
  for (const auto& r : ApiRoutes()) {
    std::string path = std::regex_replace(r.path, std::regex("\\{id\\}"), "1");
    path = std::regex_replace(path, std::regex("\\{name\\}"), "pump");
    path = std::regex_replace(path, std::regex("\\{path\\}"), "app.js");
    SCOPED_TRACE(std::string(r.method) + " " + path);
    const std::string m = r.method;
    httplib::Result res = m == "get"      ? anon.Get(path)
                          : m == "put"    ? anon.Put(path, "{}", "application/json")
                          : m == "delete" ? anon.Delete(path)
                                          : anon.Post(path, "[]", "application/json");
    ASSERT_TRUE(res);
    if (path == "/healthz" || path == "/ui/app.js") {
      EXPECT_EQ(res->status, 200);  // health, and the dashboard's static files: no data in them
    } else if (path == "/") {
      EXPECT_EQ(res->status, 302);
      EXPECT_EQ(res->get_header_value("Location"), "/ui/");
    } else if (path == "/api/v1/session" && m == "post") {
      EXPECT_EQ(res->status, 400);  // signing in takes the token in the body
    } else {
      EXPECT_EQ(res->status, 401);
      EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer realm=\"edgeflow\"");
    }
  }
  httplib::Client wrong("127.0.0.1", node.port);
  wrong.set_bearer_token_auth(std::string(64, 'a'));
  EXPECT_EQ(wrong.Get("/api/v1/status")->status, 401);
  auto ok = node.Client();
  auto res = ok.Get("/api/v1/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["version"], "0.1.0");
  EXPECT_GE(json::parse(res->body)["process_uptime_secs"].get<double>(), 0.0);
  node.Stop();
  // A restart keeps the token and does not print it again.
  node.Start();
  EXPECT_EQ(node.daemon->out().find("API token"), std::string::npos);
  EXPECT_EQ(node.Client().Get("/api/v1/status")->status, 200);
}

TEST(Api, FailedAuthenticationIsRateLimited) {
  Node node(", auth_failures_per_minute: 3");
  httplib::Client wrong("127.0.0.1", node.port);
  wrong.set_bearer_token_auth("nope");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(wrong.Get("/api/v1/status")->status, 401);
  auto res = wrong.Get("/api/v1/status");
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("Retry-After"), "60");
  EXPECT_EQ(node.Client().Get("/api/v1/status")->status, 429) << "the address is blocked for the window";
  EXPECT_EQ(node.Client(false).Get("/healthz")->status, 200);
}

// Sends `head` and then up to `body_bytes` in 64 KiB writes (stopping when the
// server no longer reads) on a fresh connection; returns the status line.
std::string RawRequest(int port, const std::string& head, size_t body_bytes, const std::string& chunk_prefix = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "no connection";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  const std::string chunk = chunk_prefix + std::string(65536, 'x') + (chunk_prefix.empty() ? "" : "\r\n");
  for (size_t sent = 0; sent < body_bytes; sent += 65536)
    if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) break;
  char buf[256] = {};
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  const std::string reply(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return reply.substr(0, reply.find("\r\n"));
}

// The body size limit holds for every body: one sent in chunks, or without a
// length, or compressed would be read (or unpacked) whole before it, and the
// open routes are reached without a token. Those take no body at all.
TEST(Api, BodiesComeWithTheirLengthUncompressedAndOpenRoutesTakeNone) {
  Node node;  // max_body_bytes: 65536
  ASSERT_GT(node.port, 0) << node.daemon->err();
  const std::string host = "Host: 127.0.0.1\r\n";
  // 4 MiB in chunks to the sign-in route, which needs no token.
  EXPECT_EQ(RawRequest(node.port,
                       "POST /api/v1/session HTTP/1.1\r\n" + host +
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                       4 << 20, "10000\r\n"),
            "HTTP/1.1 411 Length Required");
  // Asking first (Expect: 100-continue): told at once, before sending anything.
  EXPECT_EQ(RawRequest(node.port,
                       "POST /api/v1/session HTTP/1.1\r\n" + host +
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
                       0),
            "HTTP/1.1 411 Length Required");
  // No length: read until the connection ends.
  EXPECT_EQ(RawRequest(node.port, "POST /api/v1/ingest HTTP/1.1\r\n" + host + "Authorization: Bearer " + node.token +
                                      "\r\nContent-Type: application/json\r\n\r\n",
                       1 << 20),
            "HTTP/1.1 411 Length Required");
  // Compressed: 900 KB of readings in a gzip body of 1 KB.
  EXPECT_EQ(RawRequest(node.port, "POST /api/v1/ingest HTTP/1.1\r\n" + host + "Authorization: Bearer " + node.token +
                                      "\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                                      "Content-Length: 1000\r\n\r\n" + std::string(1000, 'x'),
                       0),
            "HTTP/1.1 415 Unsupported Media Type");
  // The open routes only serve.
  EXPECT_EQ(RawRequest(node.port, "POST /healthz HTTP/1.1\r\n" + host + "Content-Length: 10\r\n\r\n0123456789", 0),
            "HTTP/1.1 405 Method Not Allowed");
  auto anon = node.Client(false);
  EXPECT_EQ(anon.Put("/ui/app.js", "x", "text/plain")->status, 405);
  EXPECT_EQ(anon.Get("/healthz")->status, 200);
  // A body with its length still goes, up to the limit.
  auto c = node.Client();
  EXPECT_EQ(c.Post("/api/v1/ingest", R"([{"sensor":"s","value":1}])", "application/json")->status, 200);
  EXPECT_EQ(c.Post("/api/v1/ingest", std::string(70000, ' '), "application/json")->status, 413);
  EXPECT_TRUE(node.daemon->running()) << node.daemon->err();
}

// The dashboard's session: signing in with the token sets an HttpOnly cookie
// that authenticates reads; changes also need the anti-forgery header; signing
// out ends it. Pages loaded without credentials do not count as failed logins.
TEST(Api, DashboardSessionsCookiesAndForgeryProtection) {
  Node node(", auth_failures_per_minute: 3");
  auto anon = node.Client(false);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(anon.Get("/api/v1/status")->status, 401) << "no credentials: not a guess";
  auto page = anon.Get("/ui/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(anon.Get("/ui/nope.js")->status, 404);
  EXPECT_EQ(anon.Get("/ui/../api-token")->status, 404);

  EXPECT_EQ(anon.Post("/api/v1/session", R"({"token":"wrong"})", "application/json")->status, 401);
  auto login = anon.Post("/api/v1/session", json{{"token", node.token}}.dump(), "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  const std::string set = login->get_header_value("Set-Cookie");
  EXPECT_NE(set.find("HttpOnly"), std::string::npos) << set;
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos) << set;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(set, m, std::regex("edgeflow_session=([0-9a-f]{64})")));
  const httplib::Headers cookie = {{"Cookie", "edgeflow_session=" + m[1].str()}};
  EXPECT_EQ(anon.Get("/api/v1/status", cookie)->status, 200);
  // A change by cookie alone (what a forged cross-site form would send) is refused.
  EXPECT_EQ(anon.Post("/api/v1/alerts/1/ack", cookie, "{}", "application/json")->status, 403);
  httplib::Headers with_header = cookie;
  with_header.emplace("X-Edgeflow-Request", "1");
  EXPECT_EQ(anon.Post("/api/v1/alerts/1/ack", with_header, "{}", "application/json")->status, 404);
  // The live stream opened with the session ends when the session does (it kept streaming).
  std::atomic<bool> streaming{false}, ended{false}, give_up{false};
  std::thread stream([&] {
    auto c = node.Client(false);
    c.Get("/api/v1/events", cookie, [&](const char*, size_t) {
      streaming = true;
      return !give_up.load();  // the test's own bound: the next chunk (every 250 ms) ends it
    });
    ended = true;
  });
  ASSERT_TRUE(testing::WaitFor([&] { return streaming.load(); }, std::chrono::seconds(10))) << "the stream did not open";
  EXPECT_EQ(anon.Delete("/api/v1/session", with_header)->status, 204);
  EXPECT_EQ(anon.Get("/api/v1/status", cookie)->status, 401) << "signed out";
  EXPECT_TRUE(testing::WaitFor([&] { return ended.load(); }, std::chrono::seconds(5))) << "the stream outlived the session";
  give_up = true;
  stream.join();
}

// Acknowledging alerts, and the live event stream the dashboard follows.
TEST(Api, AlertsAreAcknowledgedAndEventsStreamNewReadings) {
  Node node;
  auto c = node.Client();
  const double now = static_cast<double>(std::time(nullptr));
  ASSERT_EQ(c.Post("/api/v1/ingest", json{{"readings", {{{"sensor", "oven"}, {"metric", "temperature"}, {"ts", now}, {"value", 95}}}}}.dump(),
                   "application/json")->status, 200);
  json alerts;
  ASSERT_TRUE(testing::WaitFor([&] {
    alerts = json::parse(c.Get("/api/v1/alerts?state=open")->body)["alerts"];
    return alerts.size() == 1;
  }));
  const int64_t id = alerts[0]["id"];
  EXPECT_FALSE(alerts[0].contains("acknowledged_at"));
  auto res = c.Post("/api/v1/alerts/" + std::to_string(id) + "/ack", R"({"note":"door was open"})", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["acknowledged_by"], "api 127.0.0.1");
  EXPECT_EQ(c.Post("/api/v1/alerts/" + std::to_string(id) + "/ack", "", "application/json")->status, 409);
  EXPECT_EQ(c.Post("/api/v1/alerts/999999/ack", "", "application/json")->status, 404);
  EXPECT_EQ(c.Post("/api/v1/alerts/1/ack", "{\"note\": 3}", "application/json")->status, 400);
  {  // The note's limit is 1000 characters, not bytes: 600 "é" (1200 bytes) fit, 1001 "a" do not.
    std::string e;
    for (int i = 0; i < 600; ++i) e += "\xc3\xa9";
    EXPECT_EQ(c.Post("/api/v1/alerts/999999/ack", json{{"note", e}}.dump(), "application/json")->status, 404)
        << "past the length check, to the unknown id";
    EXPECT_EQ(c.Post("/api/v1/alerts/999999/ack", json{{"note", std::string(1001, 'a')}}.dump(), "application/json")->status,
              400);
  }
  alerts = json::parse(c.Get("/api/v1/alerts?acknowledged=true")->body)["alerts"];
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["note"], "door was open");
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts?acknowledged=false")->body)["alerts"].size(), 0u);
  EXPECT_EQ(c.Get("/api/v1/alerts?acknowledged=maybe")->status, 400);

  // The stream: a status snapshot, the latest readings, then each new reading.
  std::mutex mu;
  std::string stream;
  auto seen = [&](const std::string& what) {
    std::lock_guard l(mu);
    return stream.find(what) != std::string::npos;
  };
  std::thread reader([&] {
    auto sse = node.Client();
    sse.Get("/api/v1/events", [&](const char* data, size_t n) {
      std::lock_guard l(mu);
      stream.append(data, n);
      return stream.find("\"value\":42.5") == std::string::npos && stream.size() < 1'000'000;
    });
  });
  ASSERT_TRUE(testing::WaitFor([&] { return seen("event: readings"); }));
  EXPECT_TRUE(seen("event: status"));
  ASSERT_EQ(c.Post("/api/v1/ingest", json{{"readings", {{{"sensor", "oven"}, {"metric", "temperature"}, {"ts", now + 1}, {"value", 42.5}}}}}.dump(),
                   "application/json")->status, 200);
  reader.join();  // ends once the new reading arrived (bounded by the client's read timeout)
  EXPECT_TRUE(seen("\"value\":42.5")) << stream.substr(0, 2000);
  // The reading cleared the alert (stored in the same transaction): the list changed.
  EXPECT_TRUE(seen("event: alerts")) << stream.substr(0, 2000);
}

TEST(Api, ANameThatIsNotUtf8IsShownReplacedAndTheLiveStreamSurvives) {
  Node node;
  node.Stop();
  {  // A store written before names were checked: "Büro" in Latin-1.
    auto s = Store::Open(node.dir / "edgeflow.db");
    ASSERT_TRUE(s.ok()) << s.status().message();
    Batch b;
    b.readings.push_back(testing::R("B\xfc" "ro", "temperature", static_cast<TimeUs>(std::time(nullptr)) * kUsPerSec, 21.5));
    ASSERT_TRUE((*s)->Write(b, StoreWhat{}, b.readings[0].ts).ok());
  }
  node.Start();
  auto c = node.Client();
  auto sensors = c.Get("/api/v1/sensors");
  ASSERT_TRUE(sensors);
  ASSERT_EQ(sensors->status, 200) << sensors->body;  // was 500 for the whole list
  EXPECT_NE(sensors->body.find("B\xef\xbf\xbd" "ro"), std::string::npos) << sensors->body;
  // The live stream sent it as well (it ended the process: an exception while streaming).
  std::string stream;
  auto sse = node.Client();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  sse.Get("/api/v1/events", [&](const char* data, size_t n) {
    stream.append(data, n);
    return stream.find("event: readings") == std::string::npos && std::chrono::steady_clock::now() < deadline;
  });
  EXPECT_NE(stream.find("B\xef\xbf\xbd" "ro"), std::string::npos) << stream.substr(0, 500);
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(node.daemon->running()) << node.daemon->err();
}

TEST(Api, IngestSensorsReadingsAlertsAndMetrics) {
  Node node;
  auto c = node.Client();
  json batch = json::array();
  const int64_t t0 = 1767225600;  // 2026-01-01T00:00:00Z
  for (int i = 0; i < 120; ++i)
    batch.push_back({{"sensor", "oven-1"}, {"metric", "temperature"}, {"ts", t0 + i}, {"value", i < 60 ? 60 + i % 5 : 90}});
  batch.push_back({{"sensor", "hall"}, {"metric", "humidity"}, {"ts", t0}, {"value", 45.5}});
  auto res = c.Post("/api/v1/ingest", batch.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["accepted"], 121);

  res = c.Post("/api/v1/ingest", R"({"readings":[{"sensor":"hall","value":"wet"},{"sensor":"hall","metric":"humidity","ts":1767225601,"value":46}]})",
               "application/json");
  EXPECT_EQ(res->status, 207) << res->body;
  EXPECT_EQ(json::parse(res->body)["rejected"], 1);
  // Many rejected: all counted, the first 16 listed, then one entry for the rest.
  json bad = json::array();
  for (int i = 0; i < 100; ++i) bad.push_back({{"sensor", "hall"}, {"value", "wet"}});
  res = c.Post("/api/v1/ingest", bad.dump(), "application/json");
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_EQ(json::parse(res->body)["rejected"], 100) << res->body;
  EXPECT_EQ(json::parse(res->body)["errors"].size(), 17u) << res->body;
  EXPECT_TRUE(json::parse(res->body).contains("error")) << res->body;
  EXPECT_EQ(c.Post("/api/v1/ingest", "{nope", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/v1/ingest", std::string(70000, ' '), "application/json")->status, 413);

  ASSERT_TRUE(testing::WaitFor([&] {
    auto r = c.Get("/api/v1/sensors");
    return r && r->status == 200 && json::parse(r->body)["sensors"].size() == 2;
  }));
  json sensors = json::parse(c.Get("/api/v1/sensors")->body)["sensors"];
  EXPECT_EQ(sensors[0]["sensor"], "hall");
  EXPECT_EQ(sensors[0]["value"], 46);
  EXPECT_EQ(sensors[1]["sensor"], "oven-1");
  EXPECT_EQ(sensors[1]["value"], 90);
  EXPECT_EQ(sensors[1]["ts"], "2026-01-01T00:01:59Z");

  res = c.Get("/api/v1/readings?sensor=oven-1&metric=temperature&from=2026-01-01T00:00:00Z&to=2026-01-01T00:02:00Z");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["points"].size(), 120u);
  res = c.Get("/api/v1/readings?sensor=oven-1&from=1767225600&to=1767225720&step=60");
  ASSERT_EQ(res->status, 200) << res->body;
  json points = json::parse(res->body)["points"];
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0]["count"], 60);
  EXPECT_DOUBLE_EQ(points[0]["mean"].get<double>(), 62.0);  // 60..64 repeating, 12 times each
  EXPECT_EQ(points[1]["mean"], 90);
  EXPECT_EQ(c.Get("/api/v1/readings?from=1")->status, 400);
  EXPECT_EQ(c.Get("/api/v1/readings?sensor=x&step=-1")->status, 400);
  EXPECT_EQ(c.Get("/api/v1/readings?sensor=x&from=yesterday")->status, 400);
  // Ranges and steps that would read everything or overflow are refused before anything is read.
  for (const char* q : {"from=-9000000000000000000000&to=9000000000000000000000&step=0.000001",
                        "from=0&to=100000.000001&step=1",                   // 100001 buckets
                        "step=inf", "step=1e300", "step=nan"}) {
    auto r = c.Get(std::string("/api/v1/readings?sensor=oven-1&") + q);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << q << ": " << r->body.substr(0, 200);
  }
  res = c.Get("/api/v1/readings?sensor=oven-1&from=0&to=100000&step=1");  // exactly 100000 buckets
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body.substr(0, 200);
  EXPECT_EQ(c.Get("/api/v1/vision/events/cam-9223372036854775807")->status, 404);

  json open = json::parse(c.Get("/api/v1/alerts?state=open")->body)["alerts"];
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0]["rule"], "hot");
  EXPECT_EQ(open[0]["opened_at"], "2026-01-01T00:01:00Z");
  EXPECT_EQ(open[0]["severity"], "critical");
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts?state=cleared")->body)["alerts"].size(), 0u);
  EXPECT_EQ(c.Get("/api/v1/alerts?state=maybe")->status, 400);

  res = c.Get("/metrics");
  ASSERT_EQ(res->status, 200);
  // 122 readings and 18 dead letters (1, then 16 and one that counts 84 more).
  EXPECT_NE(res->body.find("edgeflow_component_out_events_total{component=\"in\",kind=\"source\"} 140"), std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("edgeflow_created_events_total{component=\"hot\",event=\"alerts\"} 1"), std::string::npos);
  EXPECT_NE(res->body.find("# TYPE edgeflow_queue_depth gauge"), std::string::npos);
}

TEST(Api, RulesAreReplacedAtomicallyAfterValidationAndPersist) {
  Node node;
  auto c = node.Client();
  json before = json::parse(c.Get("/api/v1/rules")->body);
  ASSERT_EQ(before["hot"][0]["when"], "value > 80");

  // Every error at once; nothing changes.
  auto res = c.Put("/api/v1/rules",
                   R"({"hot": [{"id": "a", "when": "value >> 1"}, {"id": "b", "when": "value > 1", "severity": "dire"}, {"when": "value > 2"}],
                       "ghost": []})",
                   "application/json");
  ASSERT_EQ(res->status, 400) << res->body;
  json err = json::parse(res->body);
  EXPECT_EQ(err["errors"].size(), 4u) << res->body;
  EXPECT_EQ(json::parse(c.Get("/api/v1/rules")->body), before);

  // No anchors or aliases: a 1 MB body could expand to billions of strings.
  res = c.Put("/api/v1/rules", "big: &L [s1, s2, s3]\nhot:\n  - {id: a, when: value > 1, sensors: *L}\n", "application/yaml");
  ASSERT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("anchors and aliases"), std::string::npos) << res->body;
  EXPECT_EQ(json::parse(c.Get("/api/v1/rules")->body), before);

  // A rule's window must be a window stage, through the API too (it never fired).
  res = c.Put("/api/v1/rules", R"({"hot": [{"id": "x", "on": "aggregates", "window": "w1n", "when": "mean > 1"}]})",
              "application/json");
  ASSERT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("names window 'w1n', which does not exist"), std::string::npos) << res->body;
  res = c.Put("/api/v1/rules", R"({"hot": [{"id": "warm", "when": "value > 50", "severity": "info"}]})", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["hot"][0]["id"], "warm");
  res = c.Post("/api/v1/ingest", R"([{"sensor":"s","ts":1767225600,"value":60}])", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  ASSERT_TRUE(testing::WaitFor([&] { return json::parse(c.Get("/api/v1/alerts?state=open")->body)["alerts"].size() == 1; }));
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts")->body)["alerts"][0]["rule"], "warm") << "the new rule is in force";

  node.Stop();
  node.Start();
  EXPECT_EQ(json::parse(node.Client().Get("/api/v1/rules")->body)["hot"][0]["id"], "warm") << "kept across restarts";
}

// Valid rules whose pipeline cannot start (its database became a directory
// under it): refused, and the rules file keeps the rules in force, so the next
// start does not bring the refused ones back. It kept the refused rules.
TEST(Api, RulesThatCannotStartAreNotKept) {
  Node node;
  auto c = node.Client();
  ASSERT_EQ(c.Put("/api/v1/rules", R"({"hot": [{"id": "warm", "when": "value > 50"}]})", "application/json")->status, 200);
  const std::string kept = testing::ReadFile(node.dir / "rules-override.json");
  ASSERT_NE(kept.find("warm"), std::string::npos) << kept;
  fs::rename(node.dir / "edgeflow.db", node.dir / "moved.db");
  fs::create_directory(node.dir / "edgeflow.db");
  auto res = c.Put("/api/v1/rules", R"({"hot": [{"id": "refused", "when": "value > 60"}]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_GE(res->status, 500) << res->body;
  EXPECT_EQ(testing::ReadFile(node.dir / "rules-override.json"), kept);
  node.Stop();
}

TEST(Api, ConcurrentRuleChangesAreAllKeptAndIngestRunsThroughThem) {
  Node node;
  node.Stop();
  {
    std::string cfg = Config(node.dir.path());
    cfg.replace(cfg.find("sinks:"), 0,
                "  - id: cold\n    type: rules\n    inputs: [in]\n    rules: [{id: cold, when: value < 0}]\n");
    cfg.replace(cfg.find("inputs: [hot]"), 13, "inputs: [hot, cold]");
    std::ofstream(node.dir / "c.yaml") << cfg;
  }
  node.Start();
  // Readings posted all along: each request is answered (200, or 503 while a pipeline is
  // being replaced), and a request in flight during a replacement does not touch the old one's memory.
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, odd{0};
  std::thread poster([&] {
    auto c = node.Client();
    for (int i = 0; i < 100000 && !stop; ++i) {
      auto r = c.Post("/api/v1/ingest", "[{\"sensor\":\"s\",\"value\":" + std::to_string(i % 50) + "}]",
                      "application/json");
      if (!r || (r->status != 200 && r->status != 503)) ++odd;
      ++answered;
    }
  });
  struct StopAndJoin {  // also when an assertion returns early
    std::atomic<bool>& stop;
    std::thread& t;
    ~StopAndJoin() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } guard{stop, poster};
  for (int round = 0; round < 4; ++round) {
    const std::string n = std::to_string(round);
    std::atomic<int> ready{0};
    auto put = [&](const std::string& body) {
      auto c = node.Client();
      ++ready;
      while (ready < 2) std::this_thread::yield();  // both requests leave together
      auto r = c.Put("/api/v1/rules", body, "application/json");
      return r ? r->status : -1;
    };
    auto a = std::async(std::launch::async, put, R"({"hot": [{"id": "hot)" + n + R"(", "when": "value > 80"}]})");
    auto b = std::async(std::launch::async, put, R"({"cold": [{"id": "cold)" + n + R"(", "when": "value < 0"}]})");
    ASSERT_EQ(a.get(), 200);
    ASSERT_EQ(b.get(), 200);
    // Each change started from the other's result: both are in force and persisted.
    const json rules = json::parse(node.Client().Get("/api/v1/rules")->body);
    EXPECT_EQ(rules["hot"][0]["id"], "hot" + n) << rules;
    EXPECT_EQ(rules["cold"][0]["id"], "cold" + n) << rules;
    const json saved = json::parse(testing::ReadFile(node.dir / "rules-override.json"));
    EXPECT_EQ(saved["hot"][0]["id"], "hot" + n) << saved;
    EXPECT_EQ(saved["cold"][0]["id"], "cold" + n) << saved;
  }
  stop = true;
  poster.join();
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(odd.load(), 0);
  EXPECT_TRUE(node.daemon->running()) << node.daemon->err();
}

TEST(Api, OneOffAlertEventsAreListedAsEventsNotAsOpenAlerts) {
  Node node;
  auto c = node.Client();
  auto res = c.Put("/api/v1/rules", R"({"hot": [{"id": "spike", "when": "value > 80", "emit": "every"}]})", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  res = c.Post("/api/v1/ingest", R"([{"sensor":"s","ts":1767225600,"value":90},{"sensor":"s","ts":1767225601,"value":95}])",
               "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  json all;
  ASSERT_TRUE(testing::WaitFor([&] {
    all = json::parse(c.Get("/api/v1/alerts")->body)["alerts"];
    return all.size() == 2;
  })) << all;
  for (const auto& a : all) EXPECT_EQ(a["state"], "event") << a;
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts?state=event")->body)["alerts"].size(), 2u);
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts?state=open")->body)["alerts"].size(), 0u) << "they never clear: never open";
  EXPECT_EQ(c.Get("/api/v1/alerts?state=closed")->status, 400);
}

TEST(Api, AlertsAreListedNewestFirstAFewAtATimeWithTheirCounts) {
  Node node;
  auto c = node.Client();
  auto res = c.Put("/api/v1/rules", R"({"hot": [{"id": "hot", "when": "value > 80", "clear_when": "value < 70"}]})",
                   "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  // 30 sensors, each opens an alert (a second apart); the first 10 clear.
  json batch = json::array();
  for (int i = 0; i < 30; ++i) batch.push_back({{"sensor", fmt::format("s{}", i)}, {"ts", 1767225600 + i}, {"value", 90}});
  for (int i = 0; i < 10; ++i) batch.push_back({{"sensor", fmt::format("s{}", i)}, {"ts", 1767225700 + i}, {"value", 50}});
  ASSERT_EQ(c.Post("/api/v1/ingest", batch.dump(), "application/json")->status, 200);
  json all;
  ASSERT_TRUE(testing::WaitFor([&] {
    all = json::parse(c.Get("/api/v1/alerts?state=cleared")->body);
    return all["alerts"].size() == 10;
  })) << all;
  EXPECT_EQ(all["total"], 10);
  EXPECT_EQ(all["counts"], (json{{"open", 20}, {"cleared", 10}, {"event", 0}}));
  const json page = json::parse(c.Get("/api/v1/alerts?limit=5")->body);
  ASSERT_EQ(page["alerts"].size(), 5u) << page;
  EXPECT_EQ(page["total"], 30);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(page["alerts"][i]["sensor"], fmt::format("s{}", 29 - i)) << "newest first";
  const json open = json::parse(c.Get("/api/v1/alerts?state=open&limit=100000")->body);
  EXPECT_EQ(open["alerts"].size(), 20u);
  EXPECT_FALSE(open.contains("next")) << "nothing follows";
  // Pages of 7 with before=next: every alert once, newest first.
  std::vector<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    const json p = json::parse(c.Get("/api/v1/alerts?limit=7" + cursor)->body);
    for (const auto& a : p["alerts"]) seen.push_back(a["sensor"]);
    EXPECT_EQ(p["total"], 30);
    if (!p.contains("next")) break;
    cursor = "&before=" + std::to_string(p["next"].get<int64_t>());
  }
  ASSERT_EQ(seen.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], fmt::format("s{}", 29 - i));
  // Text: rule, sensor or metric, any case.
  const json text = json::parse(c.Get("/api/v1/alerts?q=S2")->body);
  EXPECT_EQ(text["total"], 11) << "s2 and s20-s29";
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts?q=HOT")->body)["total"], 30);
  EXPECT_EQ(c.Get("/api/v1/alerts?before=999999")->status, 400);
  EXPECT_EQ(c.Get("/api/v1/alerts?before=x")->status, 400);
  EXPECT_EQ(c.Get("/api/v1/alerts?q=" + std::string(201, 'a'))->status, 400);
  EXPECT_EQ(json::parse(c.Get("/api/v1/alerts")->body)["alerts"].size(), 30u) << "1000 by default";
  for (const char* bad : {"0", "100001", "-1", "ten", "", "1e3"}) {
    auto r = c.Get(std::string("/api/v1/alerts?limit=") + bad);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("'limit' must be a number from 1 to 100000"), std::string::npos) << r->body;
  }
}

TEST(Api, ReadOnlyRefusesChanges) {
  Node node(", read_only: true");
  auto c = node.Client();
  EXPECT_EQ(c.Put("/api/v1/rules", "{}", "application/json")->status, 403);
  EXPECT_EQ(c.Post("/api/v1/ingest", "[]", "application/json")->status, 403);
  EXPECT_EQ(c.Get("/api/v1/rules")->status, 200);
}

TEST(Api, OpenApiDocumentMatchesTheRoutes) {
  YAML::Node doc = YAML::LoadFile(kSrc + "/docs/api/openapi.yaml");
  std::set<std::pair<std::string, std::string>> documented, served;
  for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p)
    for (auto m = p->second.begin(); m != p->second.end(); ++m) documented.insert({m->first.Scalar(), p->first.Scalar()});
  for (const auto& r : ApiRoutes()) served.insert({r.method, r.path});
  EXPECT_EQ(documented, served);
}

TEST(Api, PortInUseIsAClearStartupError) {
  Node first;
  TempDir dir;
  std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path() << "}\napi: {port: " << first.port
                                << "}\nsources: [{id: in, type: ingest}]\nsinks: [{id: o, type: file, inputs: [in]}]\n";
  std::string out, err;
  EXPECT_EQ(testing::RunCommand({kBin, "run", "-c", dir / "c.yaml"}, &out, &err, dir.path()), 1);
  EXPECT_NE(err.find("cannot listen on 127.0.0.1:" + std::to_string(first.port)), std::string::npos) << err;
}

// The HTTP server and its library (which initialises OpenSSL's tables when
// loaded) are a module: a node without an api section never maps them.
// A start-up step after the API fails (a remote-control key others can read):
// the API server, stopped moments after it started, ends, and so does the
// daemon. Its stop did nothing before its loop ran, and the daemon hung.
TEST(Api, AStartThatFailsRightAfterTheApiEnds) {
  TempDir dir;
  std::ofstream(dir / "key") << "0123456789abcdef0123456789abcdef\n";
  ::chmod((dir / "key").c_str(), 0644);
  std::ofstream(dir / "c.yaml") << Config(dir.path())
                                << "remote: {key_file: " << (dir / "key") << ", broker: {port: 1}}\n";
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
    ASSERT_EQ(daemon.Wait(std::chrono::seconds(10)), 1) << daemon.err();
    EXPECT_NE(daemon.err().find("chmod 600"), std::string::npos) << daemon.err();
  }
}

TEST(Api, HttpModuleIsLoadedOnlyWithAnApiSection) {
  Node with_api;
  ASSERT_GT(with_api.port, 0) << with_api.daemon->err();
  const std::string maps = testing::ReadFile("/proc/" + std::to_string(with_api.daemon->pid()) + "/maps");
  EXPECT_NE(maps.find("libedgeflow-api.so"), std::string::npos);
  EXPECT_NE(maps.find("libcpp-httplib"), std::string::npos);

  TempDir dir;
  std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path()
                                << "}\nsources: [{id: in, type: ingest}]\nsinks: [{id: o, type: file, inputs: [in]}]\n";
  Child plain({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  ASSERT_TRUE(testing::WaitFor([&] { return plain.err().find("pipeline started") != std::string::npos; }))
      << plain.err();
  const std::string plain_maps = testing::ReadFile("/proc/" + std::to_string(plain.pid()) + "/maps");
  EXPECT_FALSE(plain_maps.empty());
  EXPECT_EQ(plain_maps.find("libedgeflow-api.so"), std::string::npos);
  EXPECT_EQ(plain_maps.find("libcpp-httplib"), std::string::npos);
  plain.Signal(SIGTERM);
  EXPECT_EQ(plain.Wait(std::chrono::seconds(20)), 0);
}

TEST(Api, MissingModuleIsAClearStartupError) {
  TempDir dir;
  fs::create_directories(dir / "bin");
  fs::copy_file(kBin, dir / "bin/edgeflow");
  std::ofstream(dir / "c.yaml") << Config(dir.path());
  std::string err;
  EXPECT_EQ(testing::RunCommand({dir / "bin/edgeflow", "run", "-c", dir / "c.yaml"}, nullptr, &err, dir.path()), 1);
  EXPECT_NE(err.find("needs libedgeflow-api.so, not found in: " + dir / "bin"), std::string::npos) << err;
  EXPECT_NE(err.find("EDGEFLOW_MODULE_DIR"), std::string::npos) << err;
}

}  // namespace
}  // namespace edgeflow
