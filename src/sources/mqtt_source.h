#pragma once
// `mqtt` source: subscribes to topic filters on a broker and turns messages
// into readings. Payloads: a JSON object (field paths configurable), a JSON
// array of such objects (a batch), or a bare number. Sensor and metric come
// from the topic (`topic_map`) or the payload. Every message that cannot be
// turned into a reading becomes a dead letter with its reason; the source
// keeps running.
#include <atomic>
#include <simdjson.h>

#include "config/schema.h"
#include "core/symbols.h"
#include "engine/component.h"
#include "transport/mqtt.h"

namespace edgeflow {

enum class PayloadFormat { kAuto, kJson, kNumber };

struct MqttSourceConfig {
  MqttBrokerConfig broker;
  std::vector<std::string> topics;
  int64_t qos = 0;
  std::string topic_map;
  PayloadFormat payload = PayloadFormat::kAuto;
  std::string value_field;
  std::string ts_field;
  std::string sensor_field;
  std::string metric_field;
  std::string quality_field;
  std::string default_metric;
  int64_t max_payload_bytes = 0;
  int64_t max_names = 100000;
  double linger_ms = 1;
  int64_t coalesce_us = 100;
};
const config::Schema<MqttSourceConfig>& MqttSourceSchema();

// Turns one MQTT message into readings or dead letters appended to a batch.
// Separate from the source so tests and benchmarks can drive it directly.
class PayloadDecoder {
 public:
  static Result<PayloadDecoder> Create(const MqttSourceConfig& cfg, Symbol origin);
  // `now` stamps readings whose payload has no timestamp.
  void Decode(std::string_view topic, const void* payload, size_t len, TimeUs now, uint64_t* seq, Batch& out);
  // Rejected elements of one array payload that get a dead letter each; the
  // others are counted in one more.
  static constexpr size_t kMaxDeadPerMessage = 16;

 private:
  // Fills `r` from one JSON object; returns a dead-letter reason or nullptr.
  const char* DecodeObject(simdjson::dom::element obj, Reading& r, std::string* detail);
  // The symbol of a sensor or metric name; kNoSymbol once max_names other
  // names have come (the global name table never shrinks).
  Symbol Name(std::string_view name) { return names_.GetBounded(name, static_cast<size_t>(cfg_.max_names)); }
  const char* TooManyNames(std::string* detail) const;
  void Dead(Batch& out, const Reading& r, const char* reason, std::string_view topic, std::string_view payload,
            const std::string& detail);

  MqttSourceConfig cfg_;
  Symbol origin_ = kNoSymbol;
  TopicMap map_;
  bool has_map_ = false;
  std::string value_ptr_, ts_ptr_, sensor_ptr_, metric_ptr_, quality_ptr_;
  Symbol default_metric_ = kNoSymbol;
  SymbolCache names_;
  simdjson::dom::parser parser_;
  std::vector<char> buf_;  // payload copy with simdjson padding, reused
};

class MqttSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> Create(const MqttSourceConfig& cfg, const BuildContext& ctx);
  Status Run(SourceContext& ctx) override;
  // connected (0/1), connects, connection_losses, subscriptions_refused.
  void Metrics(std::vector<std::pair<std::string, double>>& out) const override;

 private:
  // Copies the connection's counters for Metrics() (other threads).
  void CopyCounters(const MqttConnection& c);

  MqttSourceConfig cfg_;
  BuildContext build_;
  std::unique_ptr<PayloadDecoder> decoder_;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connects_{0}, losses_{0}, refused_{0};
};

}  // namespace edgeflow
