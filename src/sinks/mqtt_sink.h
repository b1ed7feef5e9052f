#pragma once
// `mqtt` sink: publishes events (alerts by default) to a broker on a topic
// built from a template. While the broker is unreachable, Write() reports a
// retryable error: the batch stays in the sink's bounded queue (its
// `when_full` policy and counters apply) and is published after reconnect.
// Delivery is at least once: a batch interrupted by a disconnect is sent again.
#include <atomic>

#include "config/schema.h"
#include "engine/component.h"
#include "sinks/event_json.h"
#include "store/store.h"
#include "transport/mqtt.h"

namespace edgeflow {

struct MqttSinkConfig {
  MqttBrokerConfig broker;
  std::string topic;
  std::vector<std::string> include;
  int64_t qos = 0;
  bool retain = false;
  TsFormat ts_format = TsFormat::kIso;
  bool direct = true;
};
const config::Schema<MqttSinkConfig>& MqttSinkSchema();

// "alerts/{sensor}" -> parts; placeholders: {node} {type} {sensor} {metric}
// {rule} {state} {severity} {window}.
class TopicTemplate {
 public:
  static Result<TopicTemplate> Compile(const std::string& text);
  void Render(std::string& out, std::string_view node, std::string_view type, Symbol sensor, Symbol metric,
              std::string_view rule, std::string_view state, std::string_view severity, std::string_view window) const;

 private:
  enum class Part : uint8_t { kText, kNode, kType, kSensor, kMetric, kRule, kState, kSeverity, kWindow };
  std::vector<std::pair<Part, std::string>> parts_;
};

class MqttSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> Create(const MqttSinkConfig& cfg, const BuildContext& ctx);
  Status Write(const Batch& batch) override;
  Status Tick(TimeUs now) override;
  Status Flush() override;
  EventMask wants() const override { return what_; }
  // Never while the library holds a full backlog: Write() would then wait.
  bool CanWriteDirectly() const override {
    return cfg_.direct && conn_->connected() && unconfirmed_ < max_unconfirmed_;
  }
  // refused_events, connected, connection_losses, unconfirmed (published,
  // not yet written out at QoS 0 or acknowledged at QoS 1), lost_in_transit.
  void Metrics(std::vector<std::pair<std::string, double>>& out) const override;
  // The longest Flush() waits for the broker to acknowledge what was published.
  static constexpr TimeUs kFlushWaitUs = 5 * kUsPerSec;

 private:
  // Publishes payload_ to `topic`. An event the broker can never take (a
  // topic with '+', '#' or invalid UTF-8 from a sensor name; a message over
  // the broker's maximum) is refused and counted, and the batch goes on;
  // only retryable errors fail the write.
  Status Send(const std::string& topic);
  // Settles the counts after a reconnect (QoS 0 messages the library had not
  // written are gone) and refreshes the gauges.
  void Settle();

  MqttSinkConfig cfg_;
  StoreWhat what_;
  std::string node_;
  TopicTemplate topic_;
  StopToken never_;
  std::string topic_buf_, payload_;
  std::atomic<uint64_t> refused_{0};
  // Messages handed to the library and not yet confirmed by its publish
  // callback. libmosquitto queues without limit (QoS 0 behind a full socket,
  // QoS 1 beyond the in-flight window), so while this is at max_unconfirmed_
  // before a batch, Write() waits (up to 1 s) and then refuses, retryably:
  // the sink's own bounded queue and its when_full policy then apply.
  // Written under the engine's write lock.
  std::atomic<int64_t> unconfirmed_{0};
  int64_t max_unconfirmed_ = 1000;
  uint64_t seen_connects_ = 0;
  std::atomic<uint64_t> lost_in_transit_{0};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> losses_{0};
  // Last: destroyed first, while the counters its callbacks touch still exist
  // (closing the connection writes what is queued and confirms it).
  std::unique_ptr<MqttConnection> conn_;
};

}  // namespace edgeflow
