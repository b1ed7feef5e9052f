#include "transport/mqtt.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>
#include <mutex>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

static const Schema<MqttTlsConfig>& TlsSchema() {
  static const auto* s = [] {
    auto* s = new Schema<MqttTlsConfig>("tls", "TLS to the broker. Enabled when `ca_file` is set.");
    s->String("ca_file", &MqttTlsConfig::ca_file, "", "CA certificate(s) (PEM) that must sign the broker's certificate.")
        .String("cert_file", &MqttTlsConfig::cert_file, "", "Client certificate (PEM) for mutual TLS.")
        .String("key_file", &MqttTlsConfig::key_file, "", "Private key (PEM) of the client certificate.")
        .Bool("verify_hostname", &MqttTlsConfig::verify_hostname, true,
              "Check that the broker's certificate names `host`. Turning it off allows man-in-the-middle attacks.")
        .Check([](const MqttTlsConfig& t, const YAML::Node& n, Diagnostics& d) {
          if (t.cert_file.empty() != t.key_file.empty()) d.Error(n, "tls: 'cert_file' and 'key_file' go together");
          if (t.ca_file.empty() && (!t.cert_file.empty() || !t.verify_hostname))
            d.Error(n, "tls: set 'ca_file' to use TLS");
        });
    return s;
  }();
  return *s;
}

const Schema<MqttBrokerConfig>& MqttBrokerSchema() {
  static const auto* s = [] {
    auto* s = new Schema<MqttBrokerConfig>("broker", "Connection to an MQTT broker.");
    s->String("host", &MqttBrokerConfig::host, "127.0.0.1", "Broker host name or address.")
        .Number<int64_t>("port", &MqttBrokerConfig::port, 1883, "", "Broker port (8883 is usual with TLS).", 1, 65535)
        .String("client_id", &MqttBrokerConfig::client_id, "", "MQTT client id; empty: `<node.id>-<component id>`.")
        .String("username", &MqttBrokerConfig::username, "", "User name; empty: anonymous.")
        .String("password", &MqttBrokerConfig::password, "", "Password (use `${ENV_VAR}` rather than writing it in the file).")
        .Enum<MqttProtocol>("protocol", &MqttBrokerConfig::protocol, MqttProtocol::kV311,
                            {{"3.1.1", MqttProtocol::kV311}, {"5", MqttProtocol::kV5}}, "MQTT protocol version.")
        .Number<double>("keepalive_secs", &MqttBrokerConfig::keepalive_secs, 30, "s", "Keep-alive interval.", 5, 65535)
        .Number<double>("reconnect_min_secs", &MqttBrokerConfig::reconnect_min_secs, 0.2, "s",
                        "First reconnect delay; doubles per failed attempt (with ±25% jitter).", 0.01, 3600)
        .Number<double>("reconnect_max_secs", &MqttBrokerConfig::reconnect_max_secs, 30, "s", "Longest reconnect delay.", 0.01, 3600)
        .Number<int64_t>("max_inflight", &MqttBrokerConfig::max_inflight, 1000, "messages",
                         "QoS 1 messages in flight at once (libmosquitto's default is 20).", 1, 65535)
        .Bool("tcp_nodelay", &MqttBrokerConfig::tcp_nodelay, true, "Disable Nagle's algorithm on the connection (lower latency).")
        .Number<int64_t>("read_buffer_kb", &MqttBrokerConfig::read_buffer_kb, 16, "KiB",
                         "Read buffer for plain TCP connections: one system call reads many messages instead of "
                         "several calls per message. 0: read as libmosquitto does by itself.",
                         0, 1024)
        .Bool("persistent_session", &MqttBrokerConfig::persistent_session, false,
              "Ask the broker to keep this client's session while it is disconnected (MQTT 3.1.1 clean session "
              "off): its subscriptions, and the QoS 1 messages that arrive meanwhile, which it then delivers on "
              "reconnect. For sources with `qos: 1` that must lose nothing across restarts, network cuts and "
              "reloads. The client id must stay the same (the default does); how long the broker keeps a session "
              "is its setting (Mosquitto: `persistent_client_expiration`). MQTT 3.1.1 only.")
        .Object("tls", &MqttBrokerConfig::tls, TlsSchema(), "TLS settings.")
        .Check([](const MqttBrokerConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.host.empty()) d.Error(n["host"], "'host' must not be empty");
          if (c.reconnect_min_secs > c.reconnect_max_secs)
            d.Error(n["reconnect_min_secs"], "'reconnect_min_secs' exceeds 'reconnect_max_secs'");
          if (!c.password.empty() && c.username.empty()) d.Error(n["password"], "'password' needs a 'username'");
          // MQTT 5 keeps a session only with a session expiry interval in
          // CONNECT, which libmosquitto sends only with a blocking connect.
          if (c.persistent_session && c.protocol == MqttProtocol::kV5)
            d.Error(n["persistent_session"], "'persistent_session' needs protocol 3.1.1");
        });
    return s;
  }();
  return *s;
}

namespace {
std::once_flag g_lib_once;
}

Result<std::unique_ptr<MqttConnection>> MqttConnection::Create(const MqttBrokerConfig& cfg,
                                                                const std::string& default_client_id, Clock& clock) {
  std::call_once(g_lib_once, [] { mosquitto_lib_init(); });
  if (cfg.persistent_session && cfg.protocol == MqttProtocol::kV5)
    return Status::Invalid("'persistent_session' needs protocol 3.1.1");
  std::unique_ptr<MqttConnection> c(new MqttConnection(cfg, clock));
  const std::string id = cfg.client_id.empty() ? default_client_id : cfg.client_id;
  c->m_ = mosquitto_new(id.c_str(), !cfg.persistent_session, c.get());
  if (!c->m_) return Status::Internal("mosquitto_new failed for client id '" + id + "'");
  mosquitto_int_option(c->m_, MOSQ_OPT_PROTOCOL_VERSION,
                       cfg.protocol == MqttProtocol::kV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  if (cfg.tcp_nodelay) mosquitto_int_option(c->m_, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_max_inflight_messages_set(c->m_, static_cast<unsigned>(cfg.max_inflight));
  mosquitto_int_option(c->m_, MOSQ_OPT_SEND_MAXIMUM, static_cast<int>(cfg.max_inflight));
  mosquitto_int_option(c->m_, MOSQ_OPT_RECEIVE_MAXIMUM, static_cast<int>(cfg.max_inflight));
  if (!cfg.username.empty() &&
      mosquitto_username_pw_set(c->m_, cfg.username.c_str(), cfg.password.empty() ? nullptr : cfg.password.c_str()) !=
          MOSQ_ERR_SUCCESS)
    return Status::Invalid("invalid MQTT username or password");
  if (!cfg.tls.ca_file.empty()) {
    for (const auto* f : {&cfg.tls.ca_file, &cfg.tls.cert_file, &cfg.tls.key_file})
      if (!f->empty() && !std::filesystem::exists(*f)) return Status::NotFound("TLS file not found: " + *f);
    int rc = mosquitto_tls_set(c->m_, cfg.tls.ca_file.c_str(), nullptr,
                               cfg.tls.cert_file.empty() ? nullptr : cfg.tls.cert_file.c_str(),
                               cfg.tls.key_file.empty() ? nullptr : cfg.tls.key_file.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) return Status::Invalid(std::string("TLS setup failed: ") + mosquitto_strerror(rc));
    mosquitto_tls_insecure_set(c->m_, !cfg.tls.verify_hostname);
  }
  mosquitto_connect_callback_set(c->m_, &MqttConnection::OnConnect);
  mosquitto_disconnect_callback_set(c->m_, &MqttConnection::OnDisconnect);
  mosquitto_message_callback_set(c->m_, &MqttConnection::OnMessage);
  mosquitto_publish_v5_callback_set(c->m_, &MqttConnection::OnPublish);
  mosquitto_subscribe_callback_set(c->m_, &MqttConnection::OnSubscribe);
  c->tls_ = !cfg.tls.ca_file.empty();
  c->buffered_ = !c->tls_ && cfg.read_buffer_kb > 0 && SocketReadBuffer::Interposed();
  c->WatchTlsErrors(true);
  c->async_lookup_ = !IsNumericHost(cfg.host) && LookupInterposed();
  return c;
}

// The library reports why a TLS handshake failed only through its log, so
// the log is watched while connecting over TLS. Never while connected: with a
// log callback set, the library formats a line for every packet.
void MqttConnection::WatchTlsErrors(bool on) {
  if (!tls_) return;
  if (!on) {
    mosquitto_log_callback_set(m_, nullptr);
    return;
  }
  mosquitto_log_callback_set(m_, [](mosquitto*, void* self, int level, const char* text) {
    if ((level & MOSQ_LOG_ERR) && text && std::strncmp(text, "OpenSSL Error", 13) == 0) {
      auto& d = static_cast<MqttConnection*>(self)->tls_detail_;
      if (d.empty()) d = text;
    }
  });
}

MqttConnection::~MqttConnection() {
  if (m_) {
    if (connected_) {
      connected_ = false;  // an orderly close, not a lost connection
      mosquitto_disconnect(m_);
    }
    mosquitto_destroy(m_);
  }
}

void MqttConnection::OnConnect(mosquitto*, void* self, int rc) {
  auto* c = static_cast<MqttConnection*>(self);
  c->connecting_ = false;
  if (rc != 0) {
    c->connected_ = false;
    c->ScheduleRetry(std::string("broker refused the connection: ") + mosquitto_connack_string(rc));
    return;
  }
  c->connected_ = true;
  c->WatchTlsErrors(false);
  // The backoff starts again only once the connection has lasted (see
  // ScheduleRetry): one accepted and dropped at once is not a success.
  c->connected_at_ = c->clock_.now();
  ++c->counters_.connects;
  c->subscribing_.clear();
  spdlog::info("mqtt: connected to {}", c->endpoint());
  if (c->on_connect_) c->on_connect_(*c);
}

void MqttConnection::OnDisconnect(mosquitto*, void* self, int rc) {
  auto* c = static_cast<MqttConnection*>(self);
  c->subscribing_.clear();  // no SUBACK comes on a closed connection
  c->WatchTlsErrors(true);
  if (!c->connected_) {  // ours (closing), or a failed attempt reported by Loop()
    c->connecting_ = false;
    return;
  }
  // An MQTT 5 broker says why it disconnects (a reason code >= 128, e.g.
  // 142: another client took over this client id); otherwise rc is the
  // library's error. Either way the next attempt waits for its backoff.
  c->ConnectionLost(rc == 0     ? "closed"
                    : rc >= 128 ? std::string("broker: ") + mosquitto_reason_string(rc)
                                : mosquitto_strerror(rc));
}

void MqttConnection::ConnectionLost(const std::string& why) {
  connected_ = false;
  connecting_ = false;
  ++counters_.connection_losses;
  spdlog::warn("mqtt: connection to {} lost ({})", endpoint(), why);
  last_error_ = "connection lost: " + why;  // said above: ScheduleRetry does not say it again
  ScheduleRetry(last_error_);
}

void MqttConnection::OnPublish(mosquitto*, void* self, int mid, int reason, const mosquitto_property*) {
  auto* c = static_cast<MqttConnection*>(self);
  if (c->on_published_) c->on_published_(mid, reason);
}

// A refused filter is easy to miss: the connection is up, and nothing ever
// arrives. Said once per refusal, with the broker's reason, and counted.
void MqttConnection::OnSubscribe(mosquitto*, void* self, int mid, int count, const int* granted) {
  auto* c = static_cast<MqttConnection*>(self);
  auto it = c->subscribing_.find(mid);
  const std::string topic = it != c->subscribing_.end() ? it->second : "?";
  if (it != c->subscribing_.end()) c->subscribing_.erase(it);
  for (int i = 0; i < count; ++i) {
    if (granted[i] < 128) continue;
    ++c->counters_.subscriptions_refused;
    // MQTT 3.1.1 has one failure code (128); MQTT 5 says why.
    const std::string why = c->cfg_.protocol == MqttProtocol::kV5 ? mosquitto_reason_string(granted[i])
                                                                  : "failure (often an ACL that does not allow it)";
    spdlog::error("mqtt: {} refused the subscription to '{}': {}", c->endpoint(), topic, why);
  }
}

void MqttConnection::OnMessage(mosquitto*, void* self, const mosquitto_message* msg) {
  auto* c = static_cast<MqttConnection*>(self);
  ++c->counters_.messages_in;
  if (c->on_message_) c->on_message_(*msg);
}

void MqttConnection::ScheduleRetry(const std::string& why) {
  // A connection that lasted kStableUs was a success: start from the shortest
  // delay again. One dropped sooner (a client id taken over by a twin, a
  // broker that accepts and then closes) keeps doubling the delay.
  if (connected_at_ != 0 && clock_.now() - connected_at_ >= kStableUs) attempt_ = 0;
  connected_at_ = 0;
  ++counters_.failed_attempts;
  if (why != last_error_) spdlog::warn("mqtt: {}: {}", endpoint(), why);
  last_error_ = why;
  const double base = std::min(cfg_.reconnect_max_secs, cfg_.reconnect_min_secs * static_cast<double>(1 << std::min(attempt_, 20)));
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  next_attempt_ = clock_.now() + SecondsToUs(base * jitter(rng_));
  ++attempt_;
}

void MqttConnection::Loop(int timeout_ms, StopToken& stop) {
  if (stop.stop_requested()) return;
  if (!connected_ && !connecting_) {
    if (!lookup_.started()) {
      const TimeUs now = clock_.now();
      if (now < next_attempt_) {
        const TimeUs wait = std::min<TimeUs>(next_attempt_ - now, static_cast<TimeUs>(timeout_ms) * 1000);
        if (wait > 0) clock_.sleep_until(now + wait, stop);
        return;
      }
    }
    Connect(timeout_ms);
    if (!connecting_) return;
  }
  // The clock is read only while (re)connecting: on the message path every
  // system call counts.
  const uint64_t failed_before = counters_.failed_attempts;
  const int rc = Service(timeout_ms);
  if (rc != MOSQ_ERR_SUCCESS) {
    std::string why = rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc);
    // The library reports the TLS reason (certificate verify failed, host
    // name mismatch) only through its log: add it.
    if (rc == MOSQ_ERR_TLS && !tls_detail_.empty()) why += " (" + tls_detail_ + ")";
    tls_detail_.clear();
    WatchTlsErrors(true);
    if (connected_) return ConnectionLost(why);
    connecting_ = false;
    // A refused CONNACK or a loss reported by the disconnect callback has
    // already scheduled the retry, with its reason: one attempt.
    if (counters_.failed_attempts == failed_before) ScheduleRetry(std::string("connection error: ") + why);
    return;
  }
  if (connecting_ && clock_.now() - connect_started_ > 10 * kUsPerSec) {
    mosquitto_disconnect(m_);
    connecting_ = false;
    ScheduleRetry("no CONNACK within 10 s");
  }
}

void MqttConnection::Connect(int timeout_ms) {
  if (async_lookup_ && !lookup_.started()) {
    if (Status st = lookup_.Start(cfg_.host); !st.ok()) return ScheduleRetry(st.message());
  }
  HostLookup::Answer found;
  if (lookup_.started()) {
    if (!lookup_.Wait(std::chrono::milliseconds(timeout_ms))) return;  // still waiting for the DNS server
    found = lookup_.Take();
    if (!found.error.empty()) return ScheduleRetry("cannot resolve '" + cfg_.host + "': " + found.error);
  }
  // The library looks the name up again inside the call: the handoff answers it.
  LookupHandoff handoff(cfg_.host, found.addresses);
  // Bytes buffered from the old connection must never reach the new one
  // (its socket may get the same number): every attempt starts empty.
  rbuf_.Reset();
  const int rc = ever_attempted_ ? mosquitto_reconnect_async(m_)
                                 : mosquitto_connect_async(m_, cfg_.host.c_str(), static_cast<int>(cfg_.port),
                                                           static_cast<int>(cfg_.keepalive_secs));
  ever_attempted_ = true;
  if (rc != MOSQ_ERR_SUCCESS) {
    ScheduleRetry(std::string("connect failed: ") + (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
    return;
  }
  connecting_ = true;
  connect_started_ = clock_.now();
}

// One round of network work: read (at most one packet), write what is
// queued, keep-alive. With the read buffer, bytes already buffered are not
// visible to pselect(), so they are read without waiting; and a round that
// must not wait skips pselect() too: a read() that finds nothing costs the
// same as a pselect() that finds nothing.
int MqttConnection::Service(int timeout_ms) {
  if (!buffered_) return mosquitto_loop(m_, timeout_ms, 1);
  ActiveReadBuffer active(&rbuf_, mosquitto_socket(m_));
  if (rbuf_.pending() == 0 && (timeout_ms > 0 || !connected_)) return mosquitto_loop(m_, timeout_ms, 1);
  int rc = mosquitto_loop_read(m_, 1);
  if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m_) == -1) return rc;
  if (mosquitto_want_write(m_)) {
    rc = mosquitto_loop_write(m_, 1);
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m_) == -1) return rc;
  }
  return mosquitto_loop_misc(m_);
}

bool MqttConnection::want_write() const { return mosquitto_want_write(m_); }

Status MqttConnection::Subscribe(const std::string& topic, int qos) {
  int mid = 0;
  const int rc = mosquitto_subscribe(m_, &mid, topic.c_str(), qos);
  if (rc != MOSQ_ERR_SUCCESS) return Status::Unavailable("subscribe " + topic + ": " + mosquitto_strerror(rc));
  subscribing_[mid] = topic;
  return Status::Ok();
}

Status MqttConnection::Publish(const std::string& topic, const void* payload, size_t len, int qos, bool retain, int* mid) {
  if (!connected_) return Status::Unavailable("not connected to " + endpoint());
  const int rc = mosquitto_publish(m_, mid, topic.c_str(), static_cast<int>(len), payload, qos, retain);
  if (rc == MOSQ_ERR_SUCCESS) {
    ++counters_.messages_out;
    return Status::Ok();
  }
  if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
    // Lost while writing: counted and retried like any other loss.
    if (connected_) ConnectionLost(rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
    return Status::Unavailable("publish " + topic + ": " + mosquitto_strerror(rc));
  }
  // This message can never go (larger than the broker takes, a topic that is
  // not valid UTF-8): InvalidArgument. Anything else is the broker's or the
  // connection's (QoS 1 or retain not supported by the broker, no memory):
  // no message would go now.
  const bool this_message = rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_PAYLOAD_SIZE ||
                            rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_INVAL;
  return Status(this_message ? StatusCode::kInvalidArgument : StatusCode::kFailedPrecondition,
                "publish " + topic + ": " + mosquitto_strerror(rc));
}

Result<TopicMap> TopicMap::Compile(const std::string& pattern) {
  TopicMap m;
  size_t start = 0;
  while (true) {
    size_t slash = pattern.find('/', start);
    std::string level = pattern.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    Level l{Kind::kLiteral, level};
    if (level == "{sensor}") {
      if (m.has_sensor_) return Status::Invalid("topic map '" + pattern + "' has {sensor} twice");
      l.kind = Kind::kSensor;
      m.has_sensor_ = true;
    } else if (level == "{metric}") {
      if (m.has_metric_) return Status::Invalid("topic map '" + pattern + "' has {metric} twice");
      l.kind = Kind::kMetric;
      m.has_metric_ = true;
    } else if (level == "+") {
      l.kind = Kind::kAny;
    } else if (level == "#") {
      if (slash != std::string::npos) return Status::Invalid("topic map '" + pattern + "': '#' must be the last level");
      l.kind = Kind::kRest;
    } else if (level.find_first_of("{}+#") != std::string::npos) {
      return Status::Invalid("topic map '" + pattern + "': level '" + level +
                             "' (use {sensor}, {metric}, + or # as whole levels)");
    }
    m.levels_.push_back(std::move(l));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return m;
}

bool TopicMap::Match(std::string_view topic, std::string_view* sensor, std::string_view* metric) const {
  size_t start = 0;
  for (size_t i = 0; i < levels_.size(); ++i) {
    const Level& l = levels_[i];
    if (l.kind == Kind::kRest) return true;
    if (start > topic.size()) return false;
    size_t slash = topic.find('/', start);
    std::string_view level = topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    switch (l.kind) {
      case Kind::kLiteral:
        if (level != l.text) return false;
        break;
      case Kind::kSensor:
        if (level.empty()) return false;
        *sensor = level;
        break;
      case Kind::kMetric:
        if (level.empty()) return false;
        *metric = level;
        break;
      default:
        break;
    }
    if (slash == std::string_view::npos) return i + 1 == levels_.size() ||
                                                 (i + 2 == levels_.size() && levels_[i + 1].kind == Kind::kRest);
    start = slash + 1;
  }
  return false;  // topic has more levels than the map
}

}  // namespace edgeflow
