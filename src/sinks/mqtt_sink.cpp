#include "sinks/mqtt_sink.h"

#include <spdlog/spdlog.h>

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
  s->conn_->Loop(0, s->never_);  // start connecting now (asynchronously), not at the first event
  return std::unique_ptr<Sink>(std::move(s));
}

Status MqttSink::Send(const std::string& topic) {
  Status st = conn_->Publish(topic, payload_.data(), payload_.size(), static_cast<int>(cfg_.qos), cfg_.retain);
  if (st.ok() || st.retryable()) return st;
  if (refused_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0)
    spdlog::warn("mqtt sink: event refused (counted in refused_events): {}", st.message());
  return Status::Ok();
}

void MqttSink::Metrics(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("refused_events", static_cast<double>(refused_.load(std::memory_order_relaxed)));
}

Status MqttSink::Write(const Batch& b) {
  if (!conn_->connected()) {
    conn_->Loop(0, never_);
    // A handshake in progress gets up to 200 ms to complete.
    for (int i = 0; i < 20 && conn_->connecting(); ++i) conn_->Loop(10, never_);
    if (!conn_->connected()) return Status::Unavailable("MQTT broker " + conn_->endpoint() + " not connected");
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
  return Status::Ok();
}

Status MqttSink::Tick(TimeUs) {
  conn_->Loop(0, never_);  // keep-alive and reconnect
  return Status::Ok();
}

Status MqttSink::Flush() {
  for (int i = 0; i < 20 && conn_->connected(); ++i) conn_->Loop(5, never_);
  return Status::Ok();
}

}  // namespace edgeflow
