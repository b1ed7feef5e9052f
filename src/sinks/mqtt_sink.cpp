#include "sinks/mqtt_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "sinks/sinks.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<MqttSinkConfig>& MqttSinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<MqttSinkConfig>("mqtt", "");
    s->Object("broker", &MqttSinkConfig::broker, MqttBrokerSchema(), "The broker to publish to.")
        .String("topic", &MqttSinkConfig::topic, "edgeflow/{node}/{type}/{sensor}",
                "Topic template; placeholders {node} {type} {sensor} {metric} {rule} {state} {severity} {window}.")
        .StringList("include", &MqttSinkConfig::include,
                    "Event kinds to publish: readings, aggregates, alerts, dead_letters. Empty: alerts.")
        .Number<int64_t>("qos", &MqttSinkConfig::qos, 0, "", "Publish QoS (0 or 1).", 0, 1)
        .Bool("retain", &MqttSinkConfig::retain, false, "Publish retained messages (for state topics).")
        .Enum<TsFormat>("ts_format", &MqttSinkConfig::ts_format, TsFormat::kIso,
                        {{"iso", TsFormat::kIso}, {"epoch_us", TsFormat::kEpochUs}, {"epoch_ms", TsFormat::kEpochMs}},
                        "Timestamps in payloads: ISO 8601 strings or integer epochs.")
        .Bool("direct", &MqttSinkConfig::direct, true,
              "While connected and nothing is queued, publish from the pipeline's thread instead of handing "
              "events to the sink's own thread (lowest latency and CPU); false: always through the queue.")
        .Check([](const MqttSinkConfig& c, const YAML::Node& n, Diagnostics& d) {
          auto t = TopicTemplate::Compile(c.topic);
          if (!t.ok()) d.Error(n["topic"], t.status().message());
          CheckEventKinds(c.include, "include", n, d);
        });
    return s;
  }();
  return *s;
}

Result<TopicTemplate> TopicTemplate::Compile(const std::string& text) {
  static const std::pair<const char*, Part> kNames[] = {{"node", Part::kNode},   {"type", Part::kType},
                                                        {"sensor", Part::kSensor}, {"metric", Part::kMetric},
                                                        {"rule", Part::kRule},   {"state", Part::kState},
                                                        {"severity", Part::kSeverity}, {"window", Part::kWindow}};
  TopicTemplate t;
  if (text.empty()) return Status::Invalid("topic template is empty");
  if (text.find_first_of("+#") != std::string::npos) return Status::Invalid("topic template '" + text + "' contains a wildcard");
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find('{', i);
    if (open == std::string::npos) {
      t.parts_.push_back({Part::kText, text.substr(i)});
      break;
    }
    if (open > i) t.parts_.push_back({Part::kText, text.substr(i, open - i)});
    size_t close = text.find('}', open);
    if (close == std::string::npos) return Status::Invalid("topic template '" + text + "': unclosed '{'");
    std::string name = text.substr(open + 1, close - open - 1);
    bool found = false;
    for (const auto& [n, p] : kNames) {
      if (name == n) {
        t.parts_.push_back({p, {}});
        found = true;
      }
    }
    if (!found) return Status::Invalid("topic template '" + text + "': unknown placeholder {" + name + "}");
    i = close + 1;
  }
  return t;
}

void TopicTemplate::Render(std::string& out, std::string_view node, std::string_view type, Symbol sensor, Symbol metric,
                           std::string_view rule, std::string_view state, std::string_view severity,
                           std::string_view window) const {
  out.clear();
  for (const auto& [p, text] : parts_) {
    switch (p) {
      case Part::kText: out += text; break;
      case Part::kNode: out += node; break;
      case Part::kType: out += type; break;
      case Part::kSensor: out += SymName(sensor); break;
      case Part::kMetric: out += SymName(metric); break;
      case Part::kRule: out += rule; break;
      case Part::kState: out += state; break;
      case Part::kSeverity: out += severity; break;
      case Part::kWindow: out += window; break;
    }
  }
}

Result<std::unique_ptr<Sink>> MqttSink::Create(const MqttSinkConfig& cfg, const BuildContext& ctx) {
  auto s = std::make_unique<MqttSink>();
  s->cfg_ = cfg;
  s->node_ = ctx.node_id;
  s->what_ = EventKindsFrom(cfg.include, StoreWhat{false, false, true, false});
  auto t = TopicTemplate::Compile(cfg.topic);
  if (!t.ok()) return t.status();
  s->topic_ = std::move(t).value();
  auto c = MqttConnection::Create(cfg.broker, ctx.node_id + "-" + ctx.component_id, *ctx.clock);
  if (!c.ok()) return c.status();
  s->conn_ = std::move(c).value();
  s->max_unconfirmed_ = std::max<int64_t>(1000, 2 * cfg.broker.max_inflight);
  MqttSink* self = s.get();
  s->conn_->on_published([self](int, int reason) {
    self->unconfirmed_.fetch_sub(1, std::memory_order_relaxed);
    // An MQTT 5 broker may refuse a QoS 1 message in its PUBACK (e.g. 135,
    // not authorized): it was not delivered, and will not be.
    if (reason >= 128 && self->refused_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0)
      spdlog::warn("mqtt sink: the broker refused a message (counted in refused_events): {}", mosquitto_reason_string(reason));
  });
  s->conn_->Loop(0, s->never_);  // start connecting now (asynchronously), not at the first event
  s->Settle();
  return std::unique_ptr<Sink>(std::move(s));
}

Status MqttSink::Send(const std::string& topic) {
  // Counted before the call: the library may confirm a QoS 0 message within it.
  unconfirmed_.fetch_add(1, std::memory_order_relaxed);
  const bool was_connected = conn_->connected();
  Status st = conn_->Publish(topic, payload_.data(), payload_.size(), static_cast<int>(cfg_.qos), cfg_.retain);
  if (!st.ok()) {
    // A QoS 1 message whose sending failed on a lost connection stays with
    // the library, which sends it again after the reconnect (its PUBACK then
    // confirms it). Anything else refused was never taken.
    if (!(cfg_.qos > 0 && was_connected && st.retryable())) unconfirmed_.fetch_sub(1, std::memory_order_relaxed);
    Settle();
  }
  if (st.ok() || st.retryable()) return st;
  if (refused_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0)
    spdlog::warn("mqtt sink: event refused (counted in refused_events): {}", st.message());
  return Status::Ok();
}

void MqttSink::Metrics(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("refused_events", static_cast<double>(refused_.load(std::memory_order_relaxed)));
  out.emplace_back("connected", connected_.load(std::memory_order_relaxed) ? 1 : 0);
  out.emplace_back("connection_losses", static_cast<double>(losses_.load(std::memory_order_relaxed)));
  out.emplace_back("unconfirmed", static_cast<double>(unconfirmed_.load(std::memory_order_relaxed)));
  out.emplace_back("lost_in_transit", static_cast<double>(lost_in_transit_.load(std::memory_order_relaxed)));
}

void MqttSink::Settle() {
  const MqttCounters& n = conn_->counters();
  if (n.connects != seen_connects_) {
    seen_connects_ = n.connects;
    // A reconnect: the library sends its QoS 1 messages again, but drops the
    // QoS 0 packets it had not written yet, without a callback.
    if (cfg_.qos == 0) {
      const int64_t gone = unconfirmed_.exchange(0, std::memory_order_relaxed);
      if (gone > 0) {
        lost_in_transit_.fetch_add(static_cast<uint64_t>(gone), std::memory_order_relaxed);
        spdlog::warn("mqtt sink: {} messages not yet sent when the connection was lost are gone (QoS 0)", gone);
      }
    }
  }
  connected_.store(conn_->connected(), std::memory_order_relaxed);
  losses_.store(n.connection_losses, std::memory_order_relaxed);
}

Status MqttSink::Write(const Batch& b) {
  if (!conn_->connected()) {
    conn_->Loop(0, never_);
    // A handshake in progress gets up to 200 ms to complete.
    for (int i = 0; i < 20 && conn_->connecting(); ++i) conn_->Loop(10, never_);
    Settle();
    if (!conn_->connected()) return Status::Unavailable("MQTT broker " + conn_->endpoint() + " not connected");
  }
  // The library's backlog is full: a slow but working broker is waited for
  // here, on the sink's thread (direct writes never get here, see
  // CanWriteDirectly), serving the connection all the while. One that takes
  // nothing for a second fails the write, retryably: the engine keeps the
  // batch in the sink's bounded queue.
  if (unconfirmed_.load(std::memory_order_relaxed) >= max_unconfirmed_) {
    for (int i = 0; i < 200 && unconfirmed_.load(std::memory_order_relaxed) >= max_unconfirmed_ && conn_->connected(); ++i)
      conn_->Loop(5, never_);
    Settle();
    if (unconfirmed_.load(std::memory_order_relaxed) >= max_unconfirmed_)
      return Status::Unavailable("MQTT broker " + conn_->endpoint() + " is not keeping up: " +
                                 std::to_string(unconfirmed_.load(std::memory_order_relaxed)) + " messages not yet " +
                                 (cfg_.qos > 0 ? "acknowledged" : "sent"));
  }
  const TsFormat tf = cfg_.ts_format;
  if (what_.readings) {
    for (const auto& r : b.readings) {
      payload_.clear();
      AppendJson(payload_, r, tf);
      topic_.Render(topic_buf_, node_, "reading", r.sensor, r.metric, "", "", "", "");
      EF_RETURN_IF_ERROR(Send(topic_buf_));
    }
  }
  if (what_.aggregates) {
    for (const auto& a : b.aggregates) {
      payload_.clear();
      AppendJson(payload_, a, tf);
      topic_.Render(topic_buf_, node_, "aggregate", a.sensor, a.metric, "", "", "", SymName(a.window));
      EF_RETURN_IF_ERROR(Send(topic_buf_));
    }
  }
  if (what_.alerts) {
    for (const auto& a : b.alerts) {
      payload_.clear();
      AppendJson(payload_, a, tf);
      topic_.Render(topic_buf_, node_, "alert", a.sensor, a.metric, SymName(a.rule),
                    a.state == AlertState::kOpen ? "open" : "clear", SeverityName(a.severity), "");
      EF_RETURN_IF_ERROR(Send(topic_buf_));
    }
  }
  if (what_.dead_letters) {
    for (const auto& d : b.dead_letters) {
      payload_.clear();
      AppendJson(payload_, d, tf);
      topic_.Render(topic_buf_, node_, "dead_letter", d.reading.sensor, d.reading.metric, "", "", "", "");
      EF_RETURN_IF_ERROR(Send(topic_buf_));
    }
  }
  // Flush what the socket did not take at once and read acknowledgements; a
  // QoS 0 publish that went out whole needs neither (keep-alive is Tick's).
  if (cfg_.qos > 0 || conn_->want_write()) conn_->Loop(0, never_);
  Settle();
  return Status::Ok();
}

Status MqttSink::Tick(TimeUs) {
  conn_->Loop(0, never_);  // keep-alive and reconnect
  Settle();
  return Status::Ok();
}

// At shutdown: wait (up to kFlushWaitUs) until the broker has everything
// published, then count what it has not as lost.
Status MqttSink::Flush() {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kFlushWaitUs);
  do {
    conn_->Loop(5, never_);
    Settle();
  } while (conn_->connected() && unconfirmed_.load(std::memory_order_relaxed) > 0 && std::chrono::steady_clock::now() < until);
  const int64_t left = unconfirmed_.exchange(0, std::memory_order_relaxed);
  if (left > 0) {
    lost_in_transit_.fetch_add(static_cast<uint64_t>(left), std::memory_order_relaxed);
    spdlog::error("mqtt sink: {} messages published to {} were not {} by the broker at shutdown: lost", left,
                  conn_->endpoint(), cfg_.qos > 0 ? "acknowledged" : "sent");
  }
  return Status::Ok();
}

}  // namespace edgeflow
