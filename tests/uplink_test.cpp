// Store-and-forward fault tests: a "cloud" Mosquitto started by the test (with
// persistence, so its durable session for the receiver survives restarts),
// edgeflow with an ingest source and an uplink sink, readings posted over the
// REST API. A checker counts lost, duplicated and reordered messages by
// (stream, seq) and checks every accepted reading arrived.
#include <httplib.h>
#include <mosquitto.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "broker.h"
#include "process.h"
#include "sinks/uplink_codec.h"

namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Broker;
using testing::Child;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;

std::string CloudBrokerConf(const std::string& dir) {
  return "persistence true\npersistence_location " + dir + "/\nautosave_interval 1\n";
}

// The cloud side: a durable session (clean_session false) on its own thread,
// reconnecting by itself, subscribed to every node's streams at QoS 1.
class CloudReceiver {
 public:
  explicit CloudReceiver(int port) {
    mosquitto_lib_init();
    m_ = mosquitto_new("cloud-receiver", false, this);
    mosquitto_reconnect_delay_set(m_, 1, 1, false);
    mosquitto_connect_callback_set(m_, [](mosquitto* m, void*, int rc) {
      if (rc == 0) mosquitto_subscribe(m, nullptr, "edgeflow/+/+", 1);
    });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
      static_cast<CloudReceiver*>(self)->subscribed_ = true;
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* r = static_cast<CloudReceiver*>(self);
      std::lock_guard l(r->mu_);
      r->payloads_.emplace_back(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
    });
    mosquitto_connect(m_, "127.0.0.1", port, 30);
    mosquitto_loop_start(m_);
  }
  ~CloudReceiver() {
    Close();
    mosquitto_destroy(m_);
  }
  // Disconnects; what arrived so far stays readable.
  void Close() {
    if (closed_) return;
    closed_ = true;
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, false);
  }
  bool subscribed() const { return subscribed_; }
  std::vector<std::string> payloads() {
    std::lock_guard l(mu_);
    return payloads_;
  }

 private:
  mosquitto* m_;
  bool closed_ = false;
  std::atomic<bool> subscribed_{false};
  std::mutex mu_;
  std::vector<std::string> payloads_;
};

// A cloud broker holding the receiver's durable session, stopped: the "cloud
// is down" starting point of most tests.
std::unique_ptr<Broker> CloudDown(const std::string& dir) {
  fs::create_directories(dir);
  auto cloud = std::make_unique<Broker>(dir, CloudBrokerConf(dir));
  {
    CloudReceiver r(cloud->port());
    EXPECT_TRUE(testing::WaitFor([&] { return r.subscribed(); })) << cloud->log();
    r.Close();
  }
  cloud->Stop();
  return cloud;
}

struct Check {
  size_t messages = 0, duplicates = 0, reordered = 0, bad_duplicates = 0;
  int64_t max_seq = 0;
  std::set<int64_t> seqs;
  std::set<int64_t> values;  // reading values (the test posts distinct integers)
};

// Counts by (stream, seq): a duplicate must carry the same payload; a first
// receipt below the highest seq seen is a reordering.
Check Analyse(const std::vector<std::string>& payloads, const std::string& stream = "readings") {
  Check c;
  std::map<int64_t, std::string> first;
  for (const auto& p : payloads) {
    json j = json::parse(p, nullptr, false);
    if (j.is_discarded() || j.value("stream", "") != stream) continue;
    ++c.messages;
    const int64_t seq = j["seq"];
    auto [it, inserted] = first.emplace(seq, p);
    if (!inserted) {
      ++c.duplicates;
      if (it->second != p) ++c.bad_duplicates;
      continue;
    }
    if (seq < c.max_seq) ++c.reordered;
    c.max_seq = std::max(c.max_seq, seq);
    c.seqs.insert(seq);
    for (const auto& e : j["events"]) c.values.insert(e["value"].get<int64_t>());
  }
  return c;
}

struct Node {
  std::string dir;
  int api_port;
  std::unique_ptr<Child> daemon;
  std::string token;

  Node(const std::string& d, int cloud_port, const std::string& uplink_extra = "", double reconnect_secs = 0.5,
       bool with_rules = false, int batch_max = 100)
      : dir(d), api_port(testing::FreePort()) {
    fs::create_directories(dir);
    std::ofstream(dir + "/c.yaml")
        << "node: {id: n1, data_dir: " << dir << "}\n"
        << "api: {port: " << api_port << "}\n"
        << "sources: [{id: in, type: ingest, max_readings: 5000}]\n"
        << (with_rules ? "processors: [{id: hot, type: rules, inputs: [in], rules: [{id: hot, when: value > 1000000, "
                         "clear_when: value < 1000000}]}]\n"
                       : "")
        << "sinks:\n  - {id: cloud, type: uplink, inputs: [" << (with_rules ? "hot" : "in")
        << "], include: [" << (with_rules ? "alerts, " : "") << "readings], batch_max: " << batch_max << ",\n"
        << "     broker: {port: " << cloud_port << ", reconnect_min_secs: " << reconnect_secs
        << ", reconnect_max_secs: " << reconnect_secs * 1.5 << "}"
        << uplink_extra << "}\n";
  }
  bool Start() {
    daemon = std::make_unique<Child>(std::vector<std::string>{kBin, "run", "-c", dir + "/c.yaml"}, dir + "/out",
                                     dir + "/err");
    return testing::WaitFor([&] {
      if (!fs::exists(dir + "/api-token") || daemon->err().find("API listening") == std::string::npos) return false;
      token = testing::ReadFile(dir + "/api-token");
      while (!token.empty() && token.back() == '\n') token.pop_back();
      return true;
    });
  }
  // Posts readings [from, to) of sensor s; true on 200.
  bool Post(int64_t from, int64_t to) {
    json readings = json::array();
    for (int64_t v = from; v < to; ++v) readings.push_back({{"sensor", "s"}, {"metric", "m"}, {"ts", 1767225600 + v}, {"value", v}});
    httplib::Client c("127.0.0.1", api_port);
    c.set_bearer_token_auth(token);
    c.set_read_timeout(std::chrono::seconds(15));
    auto res = c.Post("/api/v1/ingest", json{{"readings", readings}}.dump(), "application/json");
    return res && res->status == 200;
  }
  json Status() {
    httplib::Client c("127.0.0.1", api_port);
    c.set_bearer_token_auth(token);
    auto res = c.Get("/api/v1/status");
    return res && res->status == 200 ? json::parse(res->body) : json();
  }
  double Metric(const std::string& name) {
    json s = Status();
    return s.is_null() ? -1 : s["components"]["cloud"]["metrics"].value(name, -1.0);
  }
  void Stop() {
    daemon->Signal(SIGTERM);
    daemon->Wait(std::chrono::seconds(20));
  }
};

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW) result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(db);
  return result;
}

bool AllValues(const Check& c, int64_t n) {
  return static_cast<int64_t>(c.values.size()) == n && *c.values.begin() == 0 && *c.values.rbegin() == n - 1;
}

// (a) The cloud broker is down while 100k readings flow; when it is back every
// reading arrives, per-stream order kept, duplicates identical.
TEST(Uplink, CloudDownWhileReadingsFlowThenEverythingArrives) {
  TempDir dir;
  auto cloud = CloudDown(dir / "cloud");
  Node node(dir / "node", cloud->port());
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  constexpr int64_t kN = 100000;
  for (int64_t v = 0; v < kN; v += 5000) ASSERT_TRUE(node.Post(v, v + 5000)) << "at " << v << node.daemon->err();
  EXPECT_EQ(node.Metric("outbox_events"), kN) << "everything waits in the outbox";
  EXPECT_EQ(node.Metric("connected"), 0);
  cloud->Start();
  CloudReceiver receiver(cloud->port());
  Check c;
  std::optional<std::chrono::steady_clock::time_point> t0;
  ASSERT_TRUE(testing::WaitFor([&] {
    c = Analyse(receiver.payloads());
    if (!t0 && c.messages > 0) t0 = std::chrono::steady_clock::now();
    return AllValues(c, kN);
  }, std::chrono::seconds(60))) << c.values.size() << " of " << kN << "\n" << node.daemon->err();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - *t0).count();
  // The drain rate once reconnected: first message received to the last.
  RecordProperty("drain_readings_per_sec", static_cast<int>(kN / secs));
  std::printf("drain after reconnect: %lld readings (%lld messages) in %.2f s = %.0f readings/s\n",
              static_cast<long long>(kN), static_cast<long long>(kN / 100), secs, kN / secs);
  EXPECT_EQ(c.reordered, 0u);
  EXPECT_EQ(c.bad_duplicates, 0u);
  EXPECT_EQ(c.seqs.size(), static_cast<size_t>(kN / 100));
  EXPECT_EQ(*c.seqs.rbegin(), kN / 100) << "sequence numbers have no gaps";
  EXPECT_TRUE(testing::WaitFor([&] { return node.Metric("outbox_messages") == 0; })) << "acknowledged messages are removed";
  node.Stop();
  EXPECT_EQ(IntegrityCheck(dir / "node/outbox-cloud.db"), "ok");
}

// A message larger than the bandwidth cap's bucket (64 KB or one second of
// the cap) goes when the bucket is full, and the cap is paid back after it;
// it used to wait forever, and every stream behind it with it.
TEST(Uplink, AMessageLargerThanTheBandwidthBucketStillGoes) {
  TempDir dir;
  auto cloud = CloudDown(dir / "cloud");
  cloud->Start();
  CloudReceiver receiver(cloud->port());
  Node node(dir / "node", cloud->port(), ", max_bytes_per_sec: 40000", 0.5, false, /*batch_max=*/2000);
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  ASSERT_TRUE(node.Post(0, 2000)) << node.daemon->err();  // one message of ~100 KB
  Check c;
  ASSERT_TRUE(testing::WaitFor([&] {
    c = Analyse(receiver.payloads());
    return AllValues(c, 2000);
  }, std::chrono::seconds(30))) << c.values.size() << " of 2000\n" << node.daemon->err();
  size_t biggest = 0;
  for (const auto& p : receiver.payloads()) biggest = std::max(biggest, p.size());
  EXPECT_GT(biggest, 65536u) << "the message was larger than the bucket";
  node.Stop();
}

// Switches a node's uplink (made with reconnect_secs 0.5) to MQTT 5.
bool UseMqtt5(const Node& node) {
  std::string conf = testing::ReadFile(node.dir + "/c.yaml");
  const std::string broker_end = "reconnect_max_secs: 0.75}";
  const size_t at = conf.find(broker_end);
  if (at == std::string::npos) return false;
  conf.replace(at, broker_end.size(), "reconnect_max_secs: 0.75, protocol: '5'}");
  std::ofstream(node.dir + "/c.yaml") << conf;
  return true;
}

// A message the broker can never take (larger than the maximum packet size it
// announces to MQTT 5 clients) is dropped and counted: it used to be tried
// again every millisecond for ever, silently, and nothing behind it went.
TEST(Uplink, AMessageTheBrokerCannotTakeDoesNotHoldUpTheRest) {
  TempDir dir;
  fs::create_directories(dir / "cloud");
  Broker cloud(dir / "cloud", CloudBrokerConf(dir / "cloud") + "max_packet_size 20000\n");
  CloudReceiver receiver(cloud.port());
  ASSERT_TRUE(testing::WaitFor([&] { return receiver.subscribed(); })) << cloud.log();
  Node node(dir / "node", cloud.port(), "", 0.5, false, /*batch_max=*/2000);
  ASSERT_TRUE(UseMqtt5(node));
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  ASSERT_TRUE(node.Post(0, 2000)) << node.daemon->err();     // one message of ~100 KB
  ASSERT_TRUE(node.Post(2000, 2010)) << node.daemon->err();  // one of 10 readings
  Check c;
  ASSERT_TRUE(testing::WaitFor([&] {
    c = Analyse(receiver.payloads());
    return c.values.size() == 10 && node.Metric("outbox_messages") == 0;
  }, std::chrono::seconds(20))) << c.values.size() << " values arrived\n" << node.daemon->err();
  EXPECT_EQ(*c.values.begin(), 2000) << "the small message went; the big one did not";
  EXPECT_EQ(node.Metric("rejected_messages"), 1);
  EXPECT_NE(node.daemon->err().find("cannot be sent"), std::string::npos) << node.daemon->err();
  node.Stop();
}

// A broker that takes no QoS 1 message at all: nothing is dropped, the reason
// is said once, and the drain pauses between tries instead of spinning.
TEST(Uplink, ABrokerThatTakesNoQos1MessageDropsNothing) {
  TempDir dir;
  fs::create_directories(dir / "cloud");
  Broker cloud(dir / "cloud", CloudBrokerConf(dir / "cloud") + "max_qos 0\n");
  Node node(dir / "node", cloud.port());
  ASSERT_TRUE(UseMqtt5(node));
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  ASSERT_TRUE(node.Post(0, 10)) << node.daemon->err();
  ASSERT_TRUE(testing::WaitFor([&] { return node.daemon->err().find("sending again in 5 s") != std::string::npos; }))
      << node.daemon->err();
  ASSERT_TRUE(node.Post(10, 20)) << node.daemon->err();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a pause the drain must keep
  EXPECT_EQ(node.Metric("outbox_messages"), 2);
  EXPECT_EQ(node.Metric("rejected_messages"), 0);
  EXPECT_LE(node.Metric("sent_messages"), 0);
  const std::string err = node.daemon->err();
  const size_t first = err.find("sending again in 5 s");
  EXPECT_EQ(err.find("sending again in 5 s", first + 1), std::string::npos) << "said once\n" << err;
  node.Stop();
}

// A reload replaces the uplink with the next pipeline's: the old drain ends
// with its pipeline, so the broker never sees two clients with the node's id
// (they took the session from each other and sent the outbox twice).
TEST(Uplink, AReloadHandsTheSessionOverWithoutATakeover) {
  TempDir dir;
  fs::create_directories(dir / "cloud");
  Broker cloud(dir / "cloud", CloudBrokerConf(dir / "cloud"));
  CloudReceiver receiver(cloud.port());
  ASSERT_TRUE(testing::WaitFor([&] { return receiver.subscribed(); })) << cloud.log();
  Node node(dir / "node", cloud.port(), "", 0.05);
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  int64_t next = 0;
  for (int reload = 1; reload <= 3; ++reload) {
    ASSERT_TRUE(node.Post(next, next + 100)) << node.daemon->err();
    next += 100;
    Check c;
    ASSERT_TRUE(testing::WaitFor([&] {
      c = Analyse(receiver.payloads());
      return static_cast<int64_t>(c.values.size()) == next;
    })) << c.values.size() << " of " << next << "\n" << node.daemon->err();
    node.daemon->Signal(SIGHUP);
    ASSERT_TRUE(testing::WaitFor([&] {
      const std::string err = node.daemon->err();
      size_t n = 0;
      for (size_t at = err.find("configuration reloaded"); at != std::string::npos; at = err.find("configuration reloaded", at + 1)) ++n;
      return n == static_cast<size_t>(reload);
    })) << node.daemon->err();
  }
  ASSERT_TRUE(node.Post(next, next + 100)) << node.daemon->err();
  Check c;
  ASSERT_TRUE(testing::WaitFor([&] {
    c = Analyse(receiver.payloads());
    return static_cast<int64_t>(c.values.size()) == next + 100;
  })) << node.daemon->err();
  EXPECT_EQ(c.duplicates, 0u);
  EXPECT_EQ(cloud.log().find("already connected"), std::string::npos) << cloud.log();
  node.Stop();
}

// Two nodes given the same id (a cloned SD card): each takes the broker session
// from the other, and each lost connection waits for its backoff before the
// next attempt (a new client used to reconnect at once, hundreds of times a second).
TEST(Uplink, TwinNodesBackOff) {
  TempDir dir;
  fs::create_directories(dir / "cloud");
  Broker cloud(dir / "cloud", CloudBrokerConf(dir / "cloud"));
  Node a(dir / "a", cloud.port(), "", 0.2), b(dir / "b", cloud.port(), "", 0.2);
  ASSERT_TRUE(a.Start()) << a.daemon->err();
  ASSERT_TRUE(b.Start()) << b.daemon->err();
  auto takeovers = [&] {
    const std::string log = cloud.log();
    size_t n = 0;
    for (size_t at = log.find("already connected"); at != std::string::npos; at = log.find("already connected", at + 1)) ++n;
    return n;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return takeovers() > 0; })) << cloud.log();
  const size_t first = takeovers();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until && a.daemon->running() && b.daemon->running())
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // With backoff from 0.2 s (doubling to 0.3 s), each node tries at most ~15 times in 3 s.
  EXPECT_LE(takeovers() - first, 40u) << a.daemon->err();
  a.Stop();
  b.Stop();
}

// (b) SIGKILL every ~2 s while readings are posted and the cloud is down: no
// reading that got a 200 is lost.
TEST(Uplink, KillNineDuringIngestLosesNoAcceptedReading) {
  TempDir dir;
  auto cloud = CloudDown(dir / "cloud");
  Node node(dir / "node", cloud->port());
  std::set<int64_t> accepted;
  int64_t next = 0;
  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(node.Start()) << node.daemon->err();
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1800);
    while (std::chrono::steady_clock::now() < until && next < 1'000'000) {
      if (node.Post(next, next + 500))
        for (int64_t v = next; v < next + 500; ++v) accepted.insert(v);
      next += 500;
    }
    node.daemon->Signal(SIGKILL);
    node.daemon->Wait(std::chrono::seconds(10));
    ASSERT_EQ(IntegrityCheck(dir / "node/outbox-cloud.db"), "ok") << "round " << round;
  }
  ASSERT_GT(accepted.size(), 2000u);
  cloud->Start();
  CloudReceiver receiver(cloud->port());
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  Check c;
  auto missing = [&] {
    size_t n = 0;
    for (int64_t v : accepted) n += c.values.count(v) == 0;
    return n;
  };
  EXPECT_TRUE(testing::WaitFor([&] { c = Analyse(receiver.payloads()); return missing() == 0; }, std::chrono::seconds(60)))
      << missing() << " of " << accepted.size() << " accepted readings lost\n" << node.daemon->err();
  EXPECT_EQ(c.reordered, 0u);
  EXPECT_EQ(c.bad_duplicates, 0u);
  node.Stop();
}

// (c) The outbox cap is reached: the oldest readings are evicted and counted,
// ingest goes on, nothing is corrupted, the rest arrives.
TEST(Uplink, OutboxCapEvictsOldestAndCountsIt) {
  TempDir dir;
  auto cloud = CloudDown(dir / "cloud");
  Node node(dir / "node", cloud->port(), ", outbox_max_bytes: 300000");
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  constexpr int64_t kN = 20000;
  for (int64_t v = 0; v < kN; v += 1000) ASSERT_TRUE(node.Post(v, v + 1000)) << node.daemon->err();
  double evicted = 0;
  // Limits are applied once a second: wait for the pass after the last post.
  double kept = 0;
  ASSERT_TRUE(testing::WaitFor([&] {
    const json m = node.Status()["components"]["cloud"]["metrics"];  // one consistent snapshot
    evicted = m.value("outbox_evicted_messages", 0.0);
    kept = m.value("outbox_messages", 0.0);
    return evicted > 0 && m.value("outbox_bytes", 1e18) <= 300000;
  })) << node.daemon->err();
  EXPECT_EQ(kept + evicted, kN / 100.0) << "every message is either kept or counted as evicted";
  EXPECT_TRUE(node.Post(kN, kN + 100)) << "ingest continues at the cap";
  cloud->Start();
  CloudReceiver receiver(cloud->port());
  Check c;
  ASSERT_TRUE(testing::WaitFor([&] { c = Analyse(receiver.payloads()); return c.values.count(kN + 99) == 1 && node.Metric("outbox_messages") == 0; },
                               std::chrono::seconds(60))) << node.daemon->err();
  EXPECT_EQ(c.seqs.size() + static_cast<size_t>(evicted), static_cast<size_t>(kN / 100 + 1));
  EXPECT_EQ(*c.seqs.begin(), static_cast<int64_t>(evicted) + 1) << "the oldest went first";
  EXPECT_EQ(c.reordered, 0u);
  node.Stop();
  EXPECT_EQ(IntegrityCheck(dir / "node/outbox-cloud.db"), "ok");
}

// (d) The broker restarts in the middle of a drain: the drain resumes, nothing is lost.
TEST(Uplink, BrokerRestartMidDrainResumesAndLosesNothing) {
  TempDir dir;
  auto cloud = CloudDown(dir / "cloud");
  // A bandwidth cap makes the drain last long enough to interrupt it.
  // The node reconnects after the receiver (which retries every second): this
  // Mosquitto dropped messages for a durable session restored from its
  // persistence file while that client was still offline.
  Node node(dir / "node", cloud->port(), ", max_bytes_per_sec: 2000000, max_inflight: 20", 2.5);
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  constexpr int64_t kN = 40000;
  for (int64_t v = 0; v < kN; v += 5000) ASSERT_TRUE(node.Post(v, v + 5000)) << node.daemon->err();
  cloud->Start();
  // The receiver keeps its session and reconnects by itself across the restart.
  CloudReceiver receiver(cloud->port());
  Check c;
  std::optional<std::chrono::steady_clock::time_point> first;
  ASSERT_TRUE(testing::WaitFor([&] {
    c = Analyse(receiver.payloads());
    if (!first && c.messages > 0) first = std::chrono::steady_clock::now();
    return c.values.size() > kN / 5;
  })) << node.daemon->err();
  ASSERT_LT(c.values.size(), static_cast<size_t>(kN)) << "the drain was already over";
  {  // The bandwidth cap holds: 2 MB/s, and a burst of at most 64 KiB.
    size_t bytes = 0;
    for (const auto& p : receiver.payloads()) bytes += p.size() + std::string("edgeflow/n1/readings").size();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - *first).count();
    EXPECT_LE(static_cast<double>(bytes), 65536 + 2000000 * (secs + 0.05) * 1.1) << bytes << " bytes in " << secs << " s";
    EXPECT_GT(bytes, 0u);
  }
  cloud->Stop();
  cloud->Start();
  ASSERT_TRUE(testing::WaitFor([&] { c = Analyse(receiver.payloads()); return AllValues(c, kN); }, std::chrono::seconds(30)))
      << c.values.size() << " of " << kN << ", outbox " << node.Metric("outbox_messages") << "\n"
      << node.daemon->err() << cloud->log();
  EXPECT_NE(node.daemon->err().find("connection to 127.0.0.1:" + std::to_string(cloud->port()) + " lost"), std::string::npos)
      << "the restart interrupted the drain";
  EXPECT_TRUE(testing::WaitFor([&] { return node.Metric("outbox_messages") == 0; }));
  EXPECT_EQ(c.bad_duplicates, 0u);
  node.Stop();
}

// Alerts drain before a backlog of raw readings (priorities).
TEST(Uplink, AlertsOvertakeTheReadingsBacklog) {
  TempDir dir;
  auto cloud = CloudDown(dir / "cloud");
  Node node(dir / "node", cloud->port(), ", max_inflight: 10", 0.5, /*with_rules=*/true);
  ASSERT_TRUE(node.Start()) << node.daemon->err();
  // Posted in order: readings first; every 5000th value opens an alert, the next clears it.
  constexpr int64_t kN = 20000;
  for (int64_t v = 0; v < kN; v += 5000) {
    ASSERT_TRUE(node.Post(v, v + 4999)) << node.daemon->err();
    ASSERT_TRUE(node.Post(2000000, 2000001)) << node.daemon->err();  // opens an alert
    ASSERT_TRUE(node.Post(v + 4999, v + 5000)) << node.daemon->err();  // clears it
  }
  cloud->Start();
  CloudReceiver receiver(cloud->port());
  std::vector<std::string> streams;
  ASSERT_TRUE(testing::WaitFor([&] {
    const auto payloads = receiver.payloads();
    streams.clear();
    for (const auto& p : payloads) streams.push_back(json::parse(p).value("stream", ""));
    return Analyse(payloads).values.size() == static_cast<size_t>(kN) + 1;  // 0..kN-1 and the alert value
  }, std::chrono::seconds(30))) << node.daemon->err();
  const size_t last_alert = std::find(streams.rbegin(), streams.rend(), "alerts").base() - streams.begin();
  const size_t first_reading = std::find(streams.begin(), streams.end(), "readings") - streams.begin();
  ASSERT_GT(last_alert, 0u) << "alerts arrived";
  EXPECT_LT(last_alert - 1, first_reading) << "every alert message before the first readings message";
  EXPECT_GT(streams.size() - first_reading, 100u) << "a real backlog of readings";
  node.Stop();
}

// The shipped example, against a real broker: its compressed binary readings
// arrive from the node's namespace and decode.
TEST(Uplink, CloudExampleSendsDecodableCompressedData) {
  TempDir dir;
  fs::create_directories(dir / "cloud");
  Broker cloud(dir / "cloud", CloudBrokerConf(dir / "cloud"));
  CloudReceiver receiver(cloud.port());
  ASSERT_TRUE(testing::WaitFor([&] { return receiver.subscribed(); }));
  ::setenv("CLOUD_PORT", std::to_string(cloud.port()).c_str(), 1);
  Child node({kBin, "run", "-c", std::string(EDGEFLOW_SOURCE_DIR) + "/examples/cloud-uplink.yaml"}, dir / "out", dir / "err",
             dir.path());
  ::unsetenv("CLOUD_PORT");
  size_t readings = 0;
  std::set<std::string> streams;
  ASSERT_TRUE(testing::WaitFor([&] {
    readings = 0;
    for (const auto& p : receiver.payloads()) {
      DecodedMessage m;
      if (!DecodeUplinkPayload(p, &m).ok()) return false;
      streams.insert(m.header["stream"].get<std::string>());
      EXPECT_EQ(m.header["node"], "gw-7");
      if (m.header["stream"] == "readings") {
        EXPECT_EQ(m.header["encoding"], "binary");
        EXPECT_EQ(m.header["compression"], "zstd");
      }
      readings += m.readings.size();
    }
    return readings > 50;
  }, std::chrono::seconds(30))) << node.err();
  EXPECT_EQ(streams.count("readings"), 1u);
  node.Signal(SIGTERM);
  EXPECT_EQ(node.Wait(std::chrono::seconds(20)), 0) << node.err();
  EXPECT_EQ(node.err().find(" error "), std::string::npos) << node.err();
}

}  // namespace
}  // namespace edgeflow
