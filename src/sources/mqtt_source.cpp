#include "sources/mqtt_source.h"

#include <chrono>
#include <limits>
#include <thread>

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "core/timefmt.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<MqttSourceConfig>& MqttSourceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<MqttSourceConfig>("mqtt", "");
    s->Object("broker", &MqttSourceConfig::broker, MqttBrokerSchema(), "The broker to subscribe on.")
        .StringList("topics", &MqttSourceConfig::topics, "Topic filters to subscribe to (`+` and `#` wildcards).", true)
        .Number<int64_t>("qos", &MqttSourceConfig::qos, 0, "", "Subscription QoS (0 or 1).", 0, 1)
        .String("topic_map", &MqttSourceConfig::topic_map, "",
                "How topic levels map to sensor and metric, e.g. `sensors/{sensor}/{metric}`; empty: from the payload.")
        .Enum<PayloadFormat>("payload", &MqttSourceConfig::payload, PayloadFormat::kAuto,
                             {{"auto", PayloadFormat::kAuto}, {"json", PayloadFormat::kJson}, {"number", PayloadFormat::kNumber}},
                             "auto: a JSON object or array of objects when the payload starts with `{` or `[`, a bare "
                             "number otherwise.")
        .String("value_field", &MqttSourceConfig::value_field, "value", "Field of the value in JSON payloads (dots for nesting: `data.temp`).")
        .String("ts_field", &MqttSourceConfig::ts_field, "ts",
                "Field of the timestamp: ISO 8601 string or epoch number (s, ms, µs or ns by magnitude); absent: time of receipt.")
        .String("sensor_field", &MqttSourceConfig::sensor_field, "sensor", "Field of the sensor id when the topic map has none.")
        .String("metric_field", &MqttSourceConfig::metric_field, "metric", "Field of the metric when the topic map has none.")
        .String("quality_field", &MqttSourceConfig::quality_field, "quality", "Field of the quality (good/uncertain/bad or 0/1/2).")
        .String("default_metric", &MqttSourceConfig::default_metric, "value", "Metric when neither topic nor payload names one.")
        .Number<int64_t>("max_payload_bytes", &MqttSourceConfig::max_payload_bytes, 262144, "bytes",
                         "Larger messages are dead-lettered unparsed.", 16, 64 * 1024 * 1024)
        .Number<int64_t>("max_names", &MqttSourceConfig::max_names, 100000, "names",
                         "Distinct sensor and metric names this source accepts. A reading with a new name beyond "
                         "them is dead-lettered (too_many_names): names are kept for the life of the process, so a "
                         "device that puts a counter or a UUID in its topic would otherwise grow memory without end.",
                         1, 100000000)
        .Number<double>("linger_ms", &MqttSourceConfig::linger_ms, 1, "ms",
                        "While messages keep arriving, collect them this long into one batch; an idle source emits at once.",
                        0, 1000)
        .Number<int64_t>("coalesce_us", &MqttSourceConfig::coalesce_us, 100, "µs",
                         "Above a rate at which a pause this long gathers 4 or more messages, pause this long between "
                         "reads so that each wake-up takes many messages instead of one or two (less CPU under load, "
                         "at most this much added latency). Below that rate every message is handled as it arrives. "
                         "0: never pause.",
                         0, 10000)
        .Check([](const MqttSourceConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (!c.topic_map.empty()) {
            auto m = TopicMap::Compile(c.topic_map);
            if (!m.ok()) d.Error(n["topic_map"], m.status().message());
          }
          for (size_t i = 0; i < c.topics.size(); ++i) {
            const std::string& t = c.topics[i];
            if (t.empty() || mosquitto_sub_topic_check(t.c_str()) != MOSQ_ERR_SUCCESS)
              d.Error(n["topics"].IsSequence() ? n["topics"][i] : n["topics"], "invalid topic filter '" + t + "'");
          }
        });
    return s;
  }();
  return *s;
}

namespace {

std::string Pointer(const std::string& path) {
  std::string p = "/";
  for (char c : path) p += c == '.' ? '/' : c;
  return p;
}

// Printable excerpt of a payload for dead-letter details (bytes outside ASCII
// are shown as '?', so details are always valid UTF-8).
std::string Excerpt(std::string_view s, size_t max = 120) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > max) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace

Result<PayloadDecoder> PayloadDecoder::Create(const MqttSourceConfig& cfg, Symbol origin) {
  PayloadDecoder d;
  d.cfg_ = cfg;
  d.origin_ = origin;
  if (!cfg.topic_map.empty()) {
    auto m = TopicMap::Compile(cfg.topic_map);
    if (!m.ok()) return m.status();
    d.map_ = std::move(m).value();
    d.has_map_ = true;
  }
  d.value_ptr_ = Pointer(cfg.value_field);
  d.ts_ptr_ = Pointer(cfg.ts_field);
  d.sensor_ptr_ = Pointer(cfg.sensor_field);
  d.metric_ptr_ = Pointer(cfg.metric_field);
  d.quality_ptr_ = Pointer(cfg.quality_field);
  d.default_metric_ = Intern(cfg.default_metric);
  return d;
}

void PayloadDecoder::Dead(Batch& out, const Reading& r, const char* reason, std::string_view topic,
                          std::string_view payload, const std::string& detail) {
  out.dead_letters.push_back({r, origin_, reason,
                              "topic " + Excerpt(topic, 200) + (detail.empty() ? "" : ": " + detail) + ": " + Excerpt(payload)});
}

const char* PayloadDecoder::TooManyNames(std::string* detail) const {
  *detail = "this source already has " + std::to_string(cfg_.max_names) + " sensor and metric names (max_names)";
  return "too_many_names";
}

const char* PayloadDecoder::DecodeObject(simdjson::dom::element obj, Reading& r, std::string* detail) {
  if (!obj.is_object()) return "not_an_object";
  simdjson::dom::element v;
  if (obj.at_pointer(value_ptr_).get(v)) return "missing_value";
  if (v.is_number()) {
    r.value = double(v);
  } else if (v.is_bool()) {
    r.value = bool(v) ? 1.0 : 0.0;
  } else {
    *detail = "'" + cfg_.value_field + "' is not a number";
    return "bad_value";
  }
  simdjson::dom::element e;
  if (!obj.at_pointer(ts_ptr_).get(e)) {
    int64_t i;
    std::string_view sv;
    if (!e.get_int64().get(i) ? EpochToUs(static_cast<double>(i), &r.ts)
        : e.is_number()       ? EpochToUs(double(e), &r.ts)
                              : !e.get_string().get(sv) && ParseTimestamp(sv, &r.ts)) {
    } else {
      *detail = "'" + cfg_.ts_field + "' is not a timestamp";
      return "bad_timestamp";
    }
  }
  std::string_view sv;
  if (!(has_map_ && map_.has_sensor()) && !obj.at_pointer(sensor_ptr_).get(e)) {
    if (e.get_string().get(sv) || sv.empty()) {
      *detail = "'" + cfg_.sensor_field + "' is not a non-empty string";
      return "bad_sensor";
    }
    if ((r.sensor = Name(sv)) == kNoSymbol) return TooManyNames(detail);
  }
  if (!(has_map_ && map_.has_metric()) && !obj.at_pointer(metric_ptr_).get(e)) {
    if (e.get_string().get(sv) || sv.empty()) {
      *detail = "'" + cfg_.metric_field + "' is not a non-empty string";
      return "bad_metric";
    }
    if ((r.metric = Name(sv)) == kNoSymbol) return TooManyNames(detail);
  }
  if (!obj.at_pointer(quality_ptr_).get(e)) {
    int64_t q;
    bool ok = false;
    if (!e.get_string().get(sv)) ok = ParseQuality(sv, &r.quality);
    else if (!e.get_int64().get(q) && q >= 0 && q <= 2) {
      r.quality = static_cast<Quality>(q);
      ok = true;
    }
    if (!ok) return "bad_quality";
  }
  return nullptr;
}

void PayloadDecoder::Decode(std::string_view topic, const void* payload, size_t len, TimeUs now, uint64_t* seq,
                            Batch& out) {
  std::string_view text(static_cast<const char*>(payload), len);
  Reading r;
  r.ts = now;
  r.metric = default_metric_;
  std::string_view sensor, metric;
  if (has_map_) {
    if (!map_.Match(topic, &sensor, &metric)) return Dead(out, r, "unmatched_topic", topic, text, "topic_map " + cfg_.topic_map);
    if ((!sensor.empty() && (r.sensor = Name(sensor)) == kNoSymbol) ||
        (!metric.empty() && (r.metric = Name(metric)) == kNoSymbol)) {
      std::string detail;
      return Dead(out, r, TooManyNames(&detail), topic, text, detail);
    }
  }
  if (len > static_cast<size_t>(cfg_.max_payload_bytes))
    return Dead(out, r, "payload_too_large", topic, text.substr(0, 64), std::to_string(len) + " bytes");
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  const bool json = cfg_.payload == PayloadFormat::kJson ||
                    (cfg_.payload == PayloadFormat::kAuto && i < len && (text[i] == '{' || text[i] == '['));
  if (!json) {
    std::string_view t = text.substr(i);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\n' || t.back() == '\r' || t.back() == '\t')) t.remove_suffix(1);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), r.value);
    if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return Dead(out, r, "bad_value", topic, text, "not a number");
    // from_chars reads "nan" and "inf" too; JSON payloads cannot carry them.
    if (!std::isfinite(r.value)) return Dead(out, r, "bad_value", topic, text, "not a finite number");
    if (r.sensor == kNoSymbol) return Dead(out, r, "missing_sensor", topic, text, "bare numbers need {sensor} in topic_map");
    r.seq = ++*seq;
    out.readings.push_back(r);
    return;
  }
  if (buf_.size() < len + simdjson::SIMDJSON_PADDING) buf_.resize(len + simdjson::SIMDJSON_PADDING);
  std::memcpy(buf_.data(), payload, len);
  simdjson::dom::element doc;
  if (auto err = parser_.parse(buf_.data(), len, false).get(doc)) {
    return Dead(out, r, err == simdjson::UTF8_ERROR ? "invalid_utf8" : "invalid_json", topic, text, simdjson::error_message(err));
  }
  // One dead letter per rejected element, up to kMaxDeadPerMessage; the rest
  // of a message are summed up in one more (a 256 KB array of bad elements
  // would otherwise become 100,000 dead letters, each with its excerpt).
  size_t rejected = 0;
  auto one = [&](simdjson::dom::element e) {
    Reading x = r;
    std::string detail;
    const char* reason = DecodeObject(e, x, &detail);
    if (!reason && x.sensor == kNoSymbol) {
      reason = "missing_sensor";
      detail = "no sensor in topic or payload";
    }
    if (reason) {
      if (++rejected <= kMaxDeadPerMessage) Dead(out, x, reason, topic, text, detail);
      return;
    }
    x.seq = ++*seq;
    out.readings.push_back(x);
  };
  simdjson::dom::array arr;
  if (!doc.get_array().get(arr)) {
    for (simdjson::dom::element e : arr) one(e);
  } else {
    one(doc);
  }
  if (rejected > kMaxDeadPerMessage)
    Dead(out, r, "more_bad_elements", topic, text,
         std::to_string(rejected - kMaxDeadPerMessage) + " more elements of this message rejected, " +
             std::to_string(rejected) + " in all");
}

Result<std::unique_ptr<Source>> MqttSource::Create(const MqttSourceConfig& cfg, const BuildContext& ctx) {
  auto s = std::make_unique<MqttSource>();
  s->cfg_ = cfg;
  s->build_ = ctx;
  auto d = PayloadDecoder::Create(cfg, ctx.component);
  if (!d.ok()) return d.status();
  s->decoder_ = std::make_unique<PayloadDecoder>(std::move(d).value());
  return std::unique_ptr<Source>(std::move(s));
}

Status MqttSource::Run(SourceContext& ctx) {
  auto conn = MqttConnection::Create(cfg_.broker, build_.node_id + "-" + build_.component_id, *ctx.clock);
  if (!conn.ok()) return conn.status();
  MqttConnection& c = **conn;
  Batch batch;
  batch.readings.reserve(ctx.batch_size);
  uint64_t seq = 0;
  bool got = false;
  c.on_connect([&](MqttConnection& cc) {
    for (const auto& t : cfg_.topics) {
      Status st = cc.Subscribe(t, static_cast<int>(cfg_.qos));
      if (!st.ok()) spdlog::warn("mqtt source '{}': {}", build_.component_id, st.ToString());
    }
  });
  // Messages without a timestamp get the time their loop iteration received
  // its first message: one clock read per iteration, not per message (and
  // none while idle).
  TimeUs received_at = 0;
  bool stamped = false;
  c.on_message([&](const mosquitto_message& m) {
    got = true;
    if (!stamped) {
      received_at = ctx.clock->now();
      stamped = true;
    }
    decoder_->Decode(m.topic, m.payload, static_cast<size_t>(m.payloadlen), received_at, &seq, batch);
  });
  const TimeUs linger = static_cast<TimeUs>(cfg_.linger_ms * 1000);
  // Under load, waiting on the socket means a wake-up for every message or
  // two, and wake-ups cost more than the messages. While the rate over the
  // last millisecond is high enough that a pause gathers several messages,
  // the loop pauses before it waits; the pause comes before the wait, so a
  // message after a quiet spell is handled at once.
  using SteadyClock = std::chrono::steady_clock;
  const auto pause = std::chrono::microseconds(cfg_.coalesce_us);
  const uint64_t busy_per_ms = cfg_.coalesce_us > 0 ? static_cast<uint64_t>(std::max<int64_t>(1, 4000 / cfg_.coalesce_us))
                                                    : std::numeric_limits<uint64_t>::max();
  auto window_start = SteadyClock::now();
  uint64_t window_first = c.counters().messages_in;
  bool busy = false;
  while (!ctx.stopping()) {
    if (busy) std::this_thread::sleep_for(pause);
    got = stamped = false;
    c.Loop(100, *ctx.stop);
    // Under load keep reading (without waiting) for up to `linger`, then hand
    // the batch over; an idle source hands over what it has at once. The
    // clock is checked every 32 reads.
    const TimeUs started = received_at;
    for (int reads = 1; got && !c.drained() && batch.events() < ctx.batch_size && !ctx.stopping(); ++reads) {
      if (reads % 32 == 0) {
        received_at = ctx.clock->now();
        if (received_at - started >= linger) break;
      }
      got = false;
      c.Loop(0, *ctx.stop);
    }
    if (!batch.empty()) ctx.emit(batch);
    CopyCounters(c);
    if (cfg_.coalesce_us > 0) {
      const auto now = SteadyClock::now();
      const auto span = std::chrono::duration_cast<std::chrono::microseconds>(now - window_start).count();
      if (span >= 1000) {
        const uint64_t n = c.counters().messages_in - window_first;
        busy = n * 1000 >= busy_per_ms * static_cast<uint64_t>(span);
        window_start = now;
        window_first = c.counters().messages_in;
      }
    }
  }
  if (!batch.empty()) ctx.emit(batch);
  CopyCounters(c);
  connected_.store(false, std::memory_order_relaxed);
  return Status::Ok();
}

void MqttSource::CopyCounters(const MqttConnection& c) {
  const MqttCounters& n = c.counters();
  connected_.store(c.connected(), std::memory_order_relaxed);
  connects_.store(n.connects, std::memory_order_relaxed);
  losses_.store(n.connection_losses, std::memory_order_relaxed);
  refused_.store(n.subscriptions_refused, std::memory_order_relaxed);
}

void MqttSource::Metrics(std::vector<std::pair<std::string, double>>& out) const {
  out.emplace_back("connected", connected_.load(std::memory_order_relaxed) ? 1 : 0);
  out.emplace_back("connects", static_cast<double>(connects_.load(std::memory_order_relaxed)));
  out.emplace_back("connection_losses", static_cast<double>(losses_.load(std::memory_order_relaxed)));
  out.emplace_back("subscriptions_refused", static_cast<double>(refused_.load(std::memory_order_relaxed)));
}

}  // namespace edgeflow
