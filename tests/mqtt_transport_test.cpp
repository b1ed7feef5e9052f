// The MQTT transport against a real broker, in process: the read buffer under
// libmosquitto (many messages per read() system call, nothing lost or
// reordered, messages larger than the buffer) and the source's pauses under
// load (many messages per wake-up at high rates, none at low rates).
#include <gtest/gtest.h>
#include <mosquitto.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker.h"
#include "process.h"
#include "sinks/mqtt_sink.h"
#include "sources/mqtt_source.h"
#include "transport/mqtt.h"

namespace edgeflow {
namespace {

using testing::Broker;
using testing::TempDir;
using testing::WaitFor;

// A plain publisher: QoS 0 messages written straight to the socket.
class Publisher {
 public:
  explicit Publisher(int port) {
    mosquitto_lib_init();
    m_ = mosquitto_new(nullptr, true, nullptr);
    mosquitto_int_option(m_, MOSQ_OPT_TCP_NODELAY, 1);
    ok_ = mosquitto_connect(m_, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS;
  }
  ~Publisher() {
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  bool ok() const { return ok_; }
  bool Publish(const std::string& topic, const std::string& payload) {
    return mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 0, false) ==
           MOSQ_ERR_SUCCESS;
  }
  // Writes out whatever the socket did not take at once.
  void Flush() {
    for (int i = 0; i < 1000 && mosquitto_want_write(m_); ++i) mosquitto_loop(m_, 1, 1);
  }

 private:
  mosquitto* m_;
  bool ok_ = false;
};

// "m" + std::to_string(i) trips GCC 12's -Wrestrict.
std::string Numbered(const char* prefix, int64_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

MqttBrokerConfig BrokerAt(int port, int64_t read_buffer_kb) {
  MqttBrokerConfig cfg;
  MqttBrokerSchema().SetDefaults(cfg);
  cfg.host = "127.0.0.1";
  cfg.port = port;
  cfg.read_buffer_kb = read_buffer_kb;
  return cfg;
}

// Subscribes `c` to t/# and returns once a probe message comes back.
bool Subscribed(MqttConnection& c, Publisher& pub, const std::vector<std::string>& got, StopToken& stop) {
  return WaitFor([&] {
    pub.Publish("t/probe", "probe");
    c.Loop(20, stop);
    return std::find(got.begin(), got.end(), "probe") != got.end();
  });
}

// Publishes `n` messages (one larger than any read buffer among them) while
// the connection is not reading, so they pile up in its socket, then reads
// them all. Returns what arrived after the probes.
std::vector<std::string> Burst(MqttConnection& c, Publisher& pub, std::vector<std::string>& got, StopToken& stop, int n,
                               const std::string& big) {
  got.clear();
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(pub.Publish("t/x", i == n / 2 ? big : Numbered("m", i)));
    if (i % 500 == 0) pub.Flush();
  }
  pub.Flush();
  // As the source does: wait for data, then read without waiting while
  // messages keep coming.
  WaitFor([&] {
    c.Loop(10, stop);
    for (size_t before = 0; got.size() != before;) {
      before = got.size();
      c.Loop(0, stop);
    }
    return got.size() >= static_cast<size_t>(n) && got.back() == Numbered("m", n - 1);
  }, std::chrono::seconds(20));
  std::vector<std::string> out;
  for (auto& s : got)
    if (s != "probe") out.push_back(s);
  return out;
}

TEST(MqttTransport, ReadBufferTakesManyMessagesPerSystemCallAndLosesNothing) {
  TempDir dir;
  Broker broker(dir.path());
  Publisher pub(broker.port());
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE(SocketReadBuffer::Interposed()) << "read() of this executable is not the one libmosquitto calls";
  const std::string big(200 * 1024, 'b');  // larger than the 16 KiB buffer: read straight into the message
  constexpr int kN = 5000;

  for (int64_t kb : {16, 0}) {
    SCOPED_TRACE(Numbered("read_buffer_kb ", kb));
    StopToken stop;
    auto conn = MqttConnection::Create(BrokerAt(broker.port(), kb), Numbered("rb-", kb), SystemClock::Instance());
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    MqttConnection& c = **conn;
    EXPECT_EQ(c.read_buffered(), kb > 0);
    std::vector<std::string> got;
    c.on_message([&](const mosquitto_message& m) {
      got.emplace_back(static_cast<const char*>(m.payload), static_cast<size_t>(m.payloadlen));
    });
    c.on_connect([](MqttConnection& cc) { EXPECT_TRUE(cc.Subscribe("t/#", 0).ok()); });
    ASSERT_TRUE(Subscribed(c, pub, got, stop));
    const uint64_t reads_before = c.socket_reads();

    std::vector<std::string> msgs = Burst(c, pub, got, stop, kN, big);
    ASSERT_EQ(msgs.size(), static_cast<size_t>(kN));
    for (int i = 0; i < kN; ++i) {
      if (i == kN / 2) {
        EXPECT_EQ(msgs[i], big);
      } else {
        ASSERT_EQ(msgs[i], Numbered("m", i));
      }
    }
    const uint64_t reads = c.socket_reads() - reads_before;
    std::printf("read_buffer_kb %lld: %llu read() calls for %d messages\n", static_cast<long long>(kb),
                static_cast<unsigned long long>(reads), kN);
    if (kb > 0) {
      // ~10 bytes a message: hundreds of messages per read() at full speed;
      // libmosquitto alone makes three calls for each.
      EXPECT_LT(reads, static_cast<uint64_t>(kN / 20)) << reads << " reads for " << kN << " messages";
      EXPECT_GT(reads, 0u);
    } else {
      EXPECT_EQ(reads, 0u);
    }
  }
}

TEST(MqttTransport, ARefusedConnectionIsOneFailedAttemptWithItsReason) {
  // A wrong password: the broker answers CONNACK "not authorised". That is
  // one failed attempt (the backoff doubles once), and the reason stays the
  // broker's.
  TempDir dir;
  std::string out, err;
  ASSERT_EQ(testing::RunCommand({"/usr/bin/mosquitto_passwd", "-b", "-c", dir / "passwd", "device", "s3cret"}, &out,
                                &err, dir.path()),
            0)
      << err;
  std::filesystem::permissions(dir / "passwd", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                                   std::filesystem::perms::others_read);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                               std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                               std::filesystem::perms::others_exec);
  Broker broker(dir.path(), "password_file " + (dir / "passwd") + "\nallow_anonymous false\n");
  StopToken stop;
  MqttBrokerConfig cfg = BrokerAt(broker.port(), 16);
  cfg.username = "device";
  cfg.password = "wrong";
  cfg.reconnect_min_secs = 60;  // one attempt in this test
  cfg.reconnect_max_secs = 60;
  auto conn = MqttConnection::Create(cfg, "refused", SystemClock::Instance());
  ASSERT_TRUE(conn.ok());
  MqttConnection& c = **conn;
  ASSERT_TRUE(WaitFor([&] {
    c.Loop(10, stop);
    return c.counters().failed_attempts > 0;
  }));
  for (int i = 0; i < 20; ++i) c.Loop(5, stop);  // whatever the library reports after the CONNACK
  EXPECT_EQ(c.counters().failed_attempts, 1u);
  EXPECT_NE(c.last_error().find("broker refused the connection"), std::string::npos) << c.last_error();
  EXPECT_FALSE(c.connected());
}

// Two nodes cloned with the same client id take the broker's session from
// each other: every connection is accepted, then dropped when the twin
// connects. Such losses must not reset the backoff (it starts again only
// after a connection lasted), or the twins reconnect every 0.1 s for ever;
// with MQTT 5 the broker's DISCONNECT (reason 142) must wait its backoff too
// (it was followed by an immediate attempt).
TEST(MqttTransport, TwinsSharingAClientIdBackOffInsteadOfFlapping) {
  TempDir dir;
  Broker broker(dir.path());
  for (MqttProtocol protocol : {MqttProtocol::kV311, MqttProtocol::kV5}) {
    StopToken stop;
    MqttBrokerConfig cfg = BrokerAt(broker.port(), 16);
    cfg.protocol = protocol;
    cfg.reconnect_min_secs = 0.1;
    cfg.reconnect_max_secs = 30;
    const std::string id = protocol == MqttProtocol::kV5 ? "twin-5" : "twin-311";
    auto a = MqttConnection::Create(cfg, id, SystemClock::Instance());
    auto b = MqttConnection::Create(cfg, id, SystemClock::Instance());
    ASSERT_TRUE(a.ok() && b.ok());
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < end) {
      (*a)->Loop(5, stop);
      (*b)->Loop(5, stop);
    }
    const uint64_t connects = (*a)->counters().connects + (*b)->counters().connects;
    const uint64_t losses = (*a)->counters().connection_losses + (*b)->counters().connection_losses;
    // Delays of 0.1, 0.2, 0.4, 0.8, 1.6 s (±25%) allow about 5 connects each
    // in 3 s; a backoff reset by every loss allows 30 or more.
    EXPECT_GE(connects, 3u) << "the twins did take each other's session";
    EXPECT_LE(connects, 14u) << "protocol " << (protocol == MqttProtocol::kV5 ? "5" : "3.1.1");
    EXPECT_GE(losses, 2u);
  }
}

// The plugin that comes with the broker, wherever the architecture puts it.
std::string DynsecPlugin() {
  std::error_code ec;
  for (const char* lib : {"/usr/lib", "/usr/lib64"}) {
    if (std::filesystem::exists(std::string(lib) + "/mosquitto_dynamic_security.so", ec))
      return std::string(lib) + "/mosquitto_dynamic_security.so";
    for (const auto& d : std::filesystem::directory_iterator(lib, ec))
      if (std::filesystem::exists(d.path() / "mosquitto_dynamic_security.so", ec)) return d.path() / "mosquitto_dynamic_security.so";
  }
  return "";
}

// A topic filter the broker refuses (its access control: the dynamic-security
// plugin answers the SUBACK with 128, or 135 "not authorized" in MQTT 5) is
// reported, logged and counted, not left silently without messages; the
// allowed filter of the same connection still works.
TEST(MqttTransport, ARefusedSubscriptionIsCountedAndTheOthersWork) {
  TempDir dir;
  const std::string plugin = DynsecPlugin();
  ASSERT_FALSE(plugin.empty()) << "mosquitto_dynamic_security.so not found";
  std::string out, err;
  ASSERT_EQ(testing::RunCommand({"/usr/bin/mosquitto_ctrl", "dynsec", "init", dir / "dynsec.json", "device", "s3cret"}, &out,
                                &err, dir.path()),
            0)
      << err;
  // One role: subscribe and publish under allowed/ only.
  auto j = nlohmann::json::parse(testing::ReadFile(dir / "dynsec.json"));
  for (auto& role : j["roles"])
    role["acls"] = nlohmann::json::array({{{"acltype", "subscribePattern"}, {"topic", "allowed/#"}, {"allow", true}},
                                           {{"acltype", "publishClientSend"}, {"topic", "allowed/#"}, {"allow", true}}});
  std::ofstream(dir / "dynsec.json") << j.dump();
  // The broker drops root for its own user, which must be able to read the file.
  std::filesystem::permissions(dir / "dynsec.json", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                                        std::filesystem::perms::others_read);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::others_read |
                                               std::filesystem::perms::others_exec);
  Broker broker(dir.path(), "plugin " + plugin + "\nplugin_opt_config_file " + (dir / "dynsec.json") + "\n");
  for (MqttProtocol protocol : {MqttProtocol::kV311, MqttProtocol::kV5}) {
    const char* name = protocol == MqttProtocol::kV5 ? "5" : "3.1.1";
    StopToken stop;
    MqttBrokerConfig cfg = BrokerAt(broker.port(), 16);
    cfg.protocol = protocol;
    cfg.username = "device";
    cfg.password = "s3cret";
    auto conn = MqttConnection::Create(cfg, Numbered("acl-", protocol == MqttProtocol::kV5 ? 5 : 3), SystemClock::Instance());
    ASSERT_TRUE(conn.ok());
    MqttConnection& c = **conn;
    std::vector<std::string> got;
    c.on_message([&](const mosquitto_message& m) {
      got.emplace_back(static_cast<const char*>(m.payload), static_cast<size_t>(m.payloadlen));
    });
    c.on_connect([](MqttConnection& cc) {
      EXPECT_TRUE(cc.Subscribe("denied/#", 0).ok());
      EXPECT_TRUE(cc.Subscribe("allowed/#", 0).ok());
    });
    ASSERT_TRUE(WaitFor([&] {
      c.Loop(10, stop);
      return c.counters().subscriptions_refused > 0;
    })) << "protocol " << name;
    ASSERT_TRUE(WaitFor([&] {
      if (c.connected()) {
        EXPECT_TRUE(c.Publish("allowed/x", "yes", 3, 0, false).ok());
      }
      c.Loop(20, stop);
      return !got.empty();
    })) << "protocol " << name;
    EXPECT_EQ(c.counters().subscriptions_refused, 1u) << "protocol " << name;
  }
}

double MetricOf(const Sink& s, const std::string& name) {
  std::vector<std::pair<std::string, double>> m;
  s.Metrics(m);
  for (auto& [k, v] : m)
    if (k == name) return v;
  ADD_FAILURE() << "no metric " << name;
  return -1;
}

Batch Alerts(int n, int first) {
  Batch b;
  for (int i = 0; i < n; ++i) {
    AlertEvent a;
    a.ts = a.opened_at = testing::kT0 + (first + i);
    a.value = first + i;
    a.rule = Intern("hot");
    a.sensor = Intern("s1");
    a.metric = Intern("t");
    b.alerts.push_back(a);
  }
  return b;
}

// A QoS 1 mqtt sink publishing alerts to alerts/{sensor} on the broker at `port`.
MqttSinkConfig Qos1Sink(int port) {
  MqttSinkConfig cfg;
  MqttSinkSchema().SetDefaults(cfg);
  cfg.broker = BrokerAt(port, 16);
  cfg.qos = 1;
  cfg.topic = "alerts/{sensor}";
  return cfg;
}

std::unique_ptr<Sink> MakeSink(const MqttSinkConfig& cfg, const std::string& id) {
  BuildContext ctx;
  ctx.component_id = id;
  auto made = MqttSink::Create(cfg, ctx);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return made.ok() ? std::move(made).value() : nullptr;
}

// Serves the sink's connection until the broker has confirmed everything.
bool AllConfirmed(Sink& sink) {
  return WaitFor([&] {
    (void)sink.Tick(0);
    return MetricOf(sink, "unconfirmed") == 0;
  });
}

// libmosquitto accepts publishes without limit while the broker takes
// nothing (QoS 1 beyond the in-flight window). The sink refuses, retryably,
// once 1000 are unacknowledged, so that its own bounded queue and when_full
// policy apply; what the broker never acknowledged by the end of a shutdown
// is counted as lost (it used to be counted as written).
TEST(MqttTransport, SinkBacklogIsBoundedAndUnacknowledgedMessagesAreCountedLostAtStop) {
  TempDir dir;
  Broker broker(dir.path());
  testing::TestClient sub(broker.port(), "backlog-sub");
  ASSERT_TRUE(sub.Subscribe("alerts/#"));
  MqttSinkConfig cfg = Qos1Sink(broker.port());
  cfg.broker.max_inflight = 100;
  auto made = MakeSink(cfg, "backlog");
  ASSERT_NE(made, nullptr);
  Sink& sink = *made;
  ASSERT_TRUE(sink.Write(Alerts(10, 0)).ok());
  ASSERT_TRUE(AllConfirmed(sink));

  broker.Pause();
  int64_t published = 10;
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    Status st = sink.Write(Alerts(100, static_cast<int>(published)));
    if (st.ok()) {
      published += 100;
    } else {
      refused = true;
      EXPECT_TRUE(st.retryable()) << st.ToString();
      EXPECT_NE(st.message().find("not keeping up"), std::string::npos) << st.ToString();
    }
  }
  EXPECT_TRUE(refused) << "wrote " << published << " events to a frozen broker";
  EXPECT_LE(MetricOf(sink, "unconfirmed"), 1100);
  EXPECT_FALSE(sink.CanWriteDirectly()) << "no direct write while the backlog is full";

  broker.Resume();
  ASSERT_TRUE(AllConfirmed(sink));
  EXPECT_TRUE(sink.Write(Alerts(1, static_cast<int>(published))).ok());
  ++published;
  ASSERT_TRUE(WaitFor([&] {
    (void)sink.Tick(0);
    sub.Pump();
    return static_cast<int64_t>(sub.messages().size()) >= published;
  }, std::chrono::seconds(20)));
  EXPECT_EQ(static_cast<int64_t>(sub.messages().size()), published);
  EXPECT_EQ(MetricOf(sink, "lost_in_transit"), 0);

  // Frozen again: five published, never acknowledged. Flush waits (5 s),
  // then counts them lost.
  broker.Pause();
  ASSERT_TRUE(sink.Write(Alerts(5, 0)).ok());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(sink.Flush().ok());
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 4.5);
  EXPECT_LT(waited, 8);
  EXPECT_EQ(MetricOf(sink, "lost_in_transit"), 5);
  EXPECT_EQ(MetricOf(sink, "unconfirmed"), 0);
  broker.Resume();
}

// A QoS 1 message whose send fails on a lost connection stays with
// libmosquitto, which sends it again after the reconnect: it must stay in
// the sink's unconfirmed count until its PUBACK (it was also subtracted on
// the error, and the count ended below zero, hiding later losses).
TEST(MqttTransport, SinkCountsAQos1MessageCaughtByADisconnectUntilItsAcknowledgement) {
  TempDir dir;
  Broker broker(dir.path());
  MqttSinkConfig cfg = Qos1Sink(broker.port());
  cfg.broker.reconnect_min_secs = 0.05;
  cfg.broker.reconnect_max_secs = 0.2;
  auto made = MakeSink(cfg, "midsend");
  ASSERT_NE(made, nullptr);
  Sink& sink = *made;
  ASSERT_TRUE(sink.Write(Alerts(1, 0)).ok());
  ASSERT_TRUE(AllConfirmed(sink));
  // The broker goes away; the sink does not notice until a send fails: the
  // first message of the batch goes into the closed socket, a later one
  // fails in the middle of the batch.
  broker.Stop();
  Status st = sink.Write(Alerts(50, 1));
  ASSERT_FALSE(st.ok()) << "no send failed on a closed connection";
  EXPECT_TRUE(st.retryable()) << st.ToString();
  const double held = MetricOf(sink, "unconfirmed");
  EXPECT_GE(held, 2) << "the message whose send failed is still the library's, as those before it";
  broker.Start();
  testing::TestClient sub(broker.port(), "midsend-sub");
  ASSERT_TRUE(sub.Subscribe("alerts/#"));
  // Reconnected: the library sends what it holds again, and each PUBACK
  // confirms one.
  ASSERT_TRUE(WaitFor([&] {
    (void)sink.Tick(0);
    sub.Pump();
    return MetricOf(sink, "unconfirmed") <= 0 && MetricOf(sink, "connected") == 1;
  }, std::chrono::seconds(20)));
  for (int i = 0; i < 20; ++i) {
    (void)sink.Tick(0);
    sub.Pump();
  }
  EXPECT_EQ(MetricOf(sink, "unconfirmed"), 0) << "held " << held;
  EXPECT_EQ(static_cast<double>(sub.messages().size()), held) << "every held message arrives after the reconnect";
  EXPECT_TRUE(sink.Flush().ok());
  EXPECT_EQ(MetricOf(sink, "lost_in_transit"), 0);
}

// With a persistent session the broker keeps the subscription of a client
// that is away (a restart, a reload, a network cut) and delivers the QoS 1
// messages sent meanwhile when it is back; with the default clean session
// they are gone.
TEST(MqttTransport, APersistentSessionGetsTheQos1MessagesSentWhileItWasAway) {
  TempDir dir;
  Broker broker(dir.path());
  testing::TestClient device(broker.port(), "device");
  ASSERT_TRUE(device.connected());
  for (bool persistent : {true, false}) {
    const std::string name = persistent ? "persistent" : "clean";
    StopToken stop;
    MqttBrokerConfig cfg = BrokerAt(broker.port(), 16);
    cfg.persistent_session = persistent;
    std::vector<std::string> got;
    auto open = [&] {
      auto conn = MqttConnection::Create(cfg, "session-" + name, SystemClock::Instance());
      EXPECT_TRUE(conn.ok());
      (*conn)->on_message([&](const mosquitto_message& m) {
        got.emplace_back(static_cast<const char*>(m.payload), static_cast<size_t>(m.payloadlen));
      });
      (*conn)->on_connect([](MqttConnection& cc) { EXPECT_TRUE(cc.Subscribe("t/#", 1).ok()); });
      return std::move(conn).value();
    };
    // Up, subscribed (a probe comes back), then away.
    auto Probe = [&](MqttConnection& c, const std::string& probe) {
      return WaitFor([&] {
        if (c.connected()) {
          EXPECT_TRUE(device.Publish("t/probe", probe));
        }
        c.Loop(20, stop);
        return std::find(got.begin(), got.end(), probe) != got.end();
      });
    };
    {
      auto c = open();
      ASSERT_TRUE(Probe(*c, "probe-1")) << name;
    }
    got.clear();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(device.Publish("t/x", Numbered("m", i)));
    auto c = open();
    ASSERT_TRUE(Probe(*c, "probe-2")) << name;
    std::vector<std::string> missed;
    for (auto& m : got)
      if (m.rfind("m", 0) == 0) missed.push_back(m);
    if (persistent) {
      EXPECT_EQ(missed, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));
    } else {
      EXPECT_TRUE(missed.empty()) << missed.size();
    }
  }
  MqttBrokerConfig v5 = BrokerAt(broker.port(), 16);
  v5.protocol = MqttProtocol::kV5;
  v5.persistent_session = true;
  EXPECT_FALSE(MqttConnection::Create(v5, "session-5", SystemClock::Instance()).ok());
}

TEST(MqttTransport, ReadBufferStartsCleanAfterTheBrokerRestarts) {
  TempDir dir;
  Broker broker(dir.path());
  StopToken stop;
  MqttBrokerConfig cfg = BrokerAt(broker.port(), 16);
  cfg.reconnect_min_secs = 0.05;
  cfg.reconnect_max_secs = 0.2;
  auto conn = MqttConnection::Create(cfg, "rb-restart", SystemClock::Instance());
  ASSERT_TRUE(conn.ok());
  MqttConnection& c = **conn;
  std::vector<std::string> got;
  c.on_message([&](const mosquitto_message& m) {
    got.emplace_back(static_cast<const char*>(m.payload), static_cast<size_t>(m.payloadlen));
  });
  c.on_connect([](MqttConnection& cc) { EXPECT_TRUE(cc.Subscribe("t/#", 0).ok()); });
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(Numbered("round ", round));
    Publisher pub(broker.port());
    ASSERT_TRUE(pub.ok());
    got.clear();
    ASSERT_TRUE(Subscribed(c, pub, got, stop));
    std::vector<std::string> msgs = Burst(c, pub, got, stop, 2000, std::string(40000, 'r'));
    ASSERT_EQ(msgs.size(), 2000u) << (msgs.empty() ? "" : msgs.front() + " .. " + msgs.back());
    for (int i = 0; i < 2000; ++i) {
      if (i != 1000) {
        ASSERT_EQ(msgs[i], Numbered("m", i));
      }
    }
    // Stop the broker with bytes still on their way, then start it again:
    // nothing of the old connection may be read as part of the new one.
    for (int i = 0; i < 500; ++i) pub.Publish("t/x", Numbered("stale", i));
    pub.Flush();
    c.Loop(0, stop);
    const uint64_t connects = c.counters().connects;
    broker.Stop();
    broker.Start();
    ASSERT_TRUE(WaitFor([&] {
      c.Loop(20, stop);
      return c.counters().connects > connects;
    }, std::chrono::seconds(10)));
  }
  EXPECT_GE(c.counters().connects, 3u);
}

// Drives an mqtt source at `rate` messages/s for `seconds` and returns
// readings per emitted batch (each emit is one wake-up that found data).
double ReadingsPerWakeUp(int port, int64_t coalesce_us, int rate, double seconds, size_t* readings) {
  MqttSourceConfig cfg;
  MqttSourceSchema().SetDefaults(cfg);
  cfg.broker = BrokerAt(port, 16);
  cfg.topics = {"s/+/v"};
  cfg.topic_map = "s/{sensor}/{metric}";
  cfg.coalesce_us = coalesce_us;
  cfg.linger_ms = 1;
  BuildContext build;
  build.component_id = "load";
  auto src = MqttSource::Create(cfg, build);
  EXPECT_TRUE(src.ok());
  StopToken stop;
  // Probes (sensor "probe") show the subscription is live; only the load's
  // readings and the wake-ups that brought them are counted.
  const Symbol probe = Intern("probe");
  std::atomic<size_t> emits{0}, total{0}, probes{0};
  SourceContext ctx;
  ctx.clock = &SystemClock::Instance();
  ctx.stop = &stop;
  ctx.batch_size = 512;
  ctx.emit = [&](Batch& b) {
    size_t load = 0;
    for (const Reading& r : b.readings) load += r.sensor != probe;
    probes += b.readings.size() - load;
    if (load > 0) ++emits;
    total += load;
    b.readings.clear();
    b.dead_letters.clear();
  };
  std::thread runner([&] { (void)(*src)->Run(ctx); });
  Publisher pub(port);
  EXPECT_TRUE(pub.ok());
  EXPECT_TRUE(WaitFor([&] {
    pub.Publish("s/probe/v", "1");
    pub.Flush();
    return probes.load() > 0;
  }));
  // Evenly spread: a few messages every 100 µs (or one every 1/rate s).
  const int per_tick = std::max(1, rate / 10000);
  const auto tick = std::chrono::microseconds(std::max(100, 1000000 / rate));
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  size_t sent = 0;
  for (auto t = start; t < end; t += tick) {
    std::this_thread::sleep_until(t);
    for (int i = 0; i < per_tick; ++i) pub.Publish(Numbered("s/d", static_cast<int64_t>(sent++ % 100)) + "/v", "21.5");
    pub.Flush();
  }
  WaitFor([&] { return total.load() >= sent; }, std::chrono::seconds(10));
  stop.request_stop();
  runner.join();
  *readings = total.load();
  EXPECT_EQ(total.load(), sent);
  return emits.load() ? static_cast<double>(total.load()) / static_cast<double>(emits.load()) : 0;
}

TEST(MqttTransport, UnderLoadTheSourceTakesManyMessagesPerWakeUpAndNoneWaitsAtLowRates) {
  TempDir dir;
  Broker broker(dir.path());
  size_t n = 0;
  // 50,000 messages/s with 300 µs pauses: 15 or more messages a wake-up
  // (2 to 3 without them, measured on an idle machine).
  const double loaded = ReadingsPerWakeUp(broker.port(), 300, 50000, 0.6, &n);
  std::printf("50,000 msg/s: %.1f readings per wake-up (%zu readings)\n", loaded, n);
  EXPECT_GE(loaded, 12.0) << n << " readings";
  // 1,000 messages/s: far below the rate at which a pause would gather 4
  // messages; every message is handed on as it arrives.
  const double light = ReadingsPerWakeUp(broker.port(), 300, 1000, 0.5, &n);
  std::printf("1,000 msg/s: %.2f readings per wake-up (%zu readings)\n", light, n);
  EXPECT_LE(light, 1.5) << n << " readings";
}

}  // namespace
}  // namespace edgeflow
