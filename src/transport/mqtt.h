#pragma once
// A thin RAII wrapper around one libmosquitto client connection.
//
// No library threads: the owner drives the connection by calling Loop() from
// its own thread (a source's Run loop, a sink's Write/Tick). Loop() also
// reconnects, with exponential backoff and jitter, and the on_connect hook
// runs after every (re)connect so subscriptions are restored.
//
// Thread safety: one thread at a time per MqttConnection.
#include <mosquitto.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "config/schema.h"
#include "core/clock.h"
#include "core/status.h"
#include "transport/host_lookup.h"
#include "transport/socket_read_buffer.h"

namespace edgeflow {

enum class MqttProtocol { kV311, kV5 };

struct MqttTlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify_hostname = true;
};

struct MqttBrokerConfig {
  std::string host;
  int64_t port = 1883;
  std::string client_id;
  std::string username;
  std::string password;
  MqttProtocol protocol = MqttProtocol::kV311;
  double keepalive_secs = 30;
  double reconnect_min_secs = 0.2;
  double reconnect_max_secs = 30;
  int64_t max_inflight = 1000;
  bool tcp_nodelay = true;
  int64_t read_buffer_kb = 16;
  bool persistent_session = false;
  MqttTlsConfig tls;
};

// The `broker:` options, declared once for every MQTT component.
const config::Schema<MqttBrokerConfig>& MqttBrokerSchema();

struct MqttCounters {
  uint64_t connects = 0;
  uint64_t connection_losses = 0;
  uint64_t failed_attempts = 0;
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  // Topic filters the broker refused (SUBACK failure: an ACL, a bad filter).
  uint64_t subscriptions_refused = 0;
};

class MqttConnection {
 public:
  using MessageFn = std::function<void(const mosquitto_message&)>;
  using ConnectFn = std::function<void(MqttConnection&)>;
  // A QoS 1 publish was acknowledged (PUBACK); reason >= 128 is an MQTT 5 refusal.
  using PublishedFn = std::function<void(int mid, int reason)>;

  // Creates the client; does not connect yet (the first Loop() does).
  static Result<std::unique_ptr<MqttConnection>> Create(const MqttBrokerConfig& cfg, const std::string& default_client_id,
                                                         Clock& clock);
  ~MqttConnection();
  MqttConnection(const MqttConnection&) = delete;
  MqttConnection& operator=(const MqttConnection&) = delete;

  // A connection made to replace `lost` waits for the retry `lost` scheduled,
  // and goes on doubling from there.
  void ContinueBackoff(const MqttConnection& lost) {
    attempt_ = lost.attempt_;
    next_attempt_ = lost.next_attempt_;
  }

  void on_message(MessageFn fn) { on_message_ = std::move(fn); }
  void on_connect(ConnectFn fn) { on_connect_ = std::move(fn); }
  void on_published(PublishedFn fn) { on_published_ = std::move(fn); }

  // Services the network for up to `timeout_ms` (0: only what is ready now);
  // (re)connects when due. Returns at once when `stop` is requested.
  void Loop(int timeout_ms, StopToken& stop);
  bool connected() const { return connected_; }
  // Looking the broker up, or waiting for its CONNACK.
  bool connecting() const { return connecting_ || lookup_.started(); }
  // Bytes of queued packets are still waiting for the socket.
  bool want_write() const;

  Status Subscribe(const std::string& topic, int qos);
  // Publishes; Unavailable when not connected (the caller keeps the data).
  // `mid` (optional) receives the message id reported to on_published.
  // InvalidArgument: this message can never go (e.g. larger than the broker
  // takes); FailedPrecondition: no message can go now (e.g. the broker does not
  // take QoS 1).
  Status Publish(const std::string& topic, const void* payload, size_t len, int qos, bool retain, int* mid = nullptr);

  const MqttCounters& counters() const { return counters_; }
  // read() system calls made through the read buffer (0 without one).
  uint64_t socket_reads() const { return rbuf_.refills(); }
  // Whether reads go through the read buffer (plain TCP, `read_buffer_kb` > 0
  // and the buffering read() in effect in this process).
  bool read_buffered() const { return buffered_; }
  // With the read buffer: all buffered bytes are consumed and the socket held
  // no more when last read, so a Loop(0) now would most likely find nothing.
  bool drained() const { return buffered_ && rbuf_.drained(); }
  const std::string& last_error() const { return last_error_; }
  std::string endpoint() const { return cfg_.host + ":" + std::to_string(cfg_.port); }

 private:
  MqttConnection(const MqttBrokerConfig& cfg, Clock& clock)
      : cfg_(cfg), clock_(clock), rng_(std::random_device{}()), rbuf_(static_cast<size_t>(cfg.read_buffer_kb) * 1024) {}
  int Service(int timeout_ms);
  // Starts or polls the broker's name lookup (waiting up to `timeout_ms`), then
  // starts the connection. See host_lookup.h.
  void Connect(int timeout_ms);
  void ScheduleRetry(const std::string& why);
  // An established connection is gone: counted, said, and retried after the backoff.
  void ConnectionLost(const std::string& why);
  void WatchTlsErrors(bool on);
  static void OnConnect(mosquitto*, void* self, int rc);
  static void OnDisconnect(mosquitto*, void* self, int rc);
  static void OnMessage(mosquitto*, void* self, const mosquitto_message* msg);
  static void OnPublish(mosquitto*, void* self, int mid, int reason, const mosquitto_property*);
  static void OnSubscribe(mosquitto*, void* self, int mid, int count, const int* granted);

  MqttBrokerConfig cfg_;
  Clock& clock_;
  mosquitto* m_ = nullptr;
  bool connected_ = false;
  bool connecting_ = false;
  bool ever_attempted_ = false;
  TimeUs next_attempt_ = 0;
  TimeUs connect_started_ = 0;
  TimeUs connected_at_ = 0;  // 0: not connected since the last retry was scheduled
  static constexpr TimeUs kStableUs = 10 * kUsPerSec;
  int attempt_ = 0;
  std::mt19937 rng_;
  MessageFn on_message_;
  ConnectFn on_connect_;
  PublishedFn on_published_;
  MqttCounters counters_;
  std::string last_error_;
  std::string tls_detail_;
  std::map<int, std::string> subscribing_;  // SUBSCRIBE message id -> topic filter, until the SUBACK
  bool tls_ = false;
  // The broker's name is looked up on a thread of our own (see host_lookup.h).
  bool async_lookup_ = false;
  HostLookup lookup_;
  bool buffered_ = false;
  SocketReadBuffer rbuf_;
};

// Splits topic templates such as "sensors/{sensor}/{metric}" and matches topics
// against them. Placeholders: {sensor}, {metric}; `+` matches one level
// without capturing; a trailing `#` matches the rest.
class TopicMap {
 public:
  static Result<TopicMap> Compile(const std::string& pattern);
  // Fills sensor/metric views (into `topic`) for the placeholders present.
  bool Match(std::string_view topic, std::string_view* sensor, std::string_view* metric) const;
  bool has_sensor() const { return has_sensor_; }
  bool has_metric() const { return has_metric_; }

 private:
  enum class Kind : uint8_t { kLiteral, kSensor, kMetric, kAny, kRest };
  struct Level {
    Kind kind;
    std::string text;
  };
  std::vector<Level> levels_;
  bool has_sensor_ = false, has_metric_ = false;
};

}  // namespace edgeflow
