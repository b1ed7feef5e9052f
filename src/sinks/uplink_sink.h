#pragma once
// `uplink` sink: store-and-forward to a cloud MQTT broker.
//
// Write() only appends to the durable outbox (store/outbox.h) and returns once
// the batch is committed there; a thread of the sink's own drains the outbox
// to the broker over MQTT 3.1.1 or 5 (TLS, mutual TLS, username/password) at
// QoS 1 and removes a message only after its PUBACK. Streams are the event
// kinds (alerts, dead_letters, aggregates, readings, drained in that order of
// priority); each message carries many events and a header (node, stream,
// seq) so the receiver can drop duplicates:
//   topic   {topic_prefix}/{node}/{stream}
//   payload {"node":"…","stream":"readings","seq":42,"events":[{…},…]}
// After a lost connection every unacknowledged message is sent again (at least
// once; a duplicate has the same stream and seq). Draining can be capped in
// bytes per second.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "config/schema.h"
#include "engine/component.h"
#include "sinks/event_json.h"
#include "sinks/uplink_codec.h"
#include "store/outbox.h"
#include "store/store.h"
#include "transport/mqtt.h"

namespace edgeflow {

struct UplinkConfig {
  MqttBrokerConfig broker;
  std::string topic_prefix;
  std::vector<std::string> include;
  int64_t batch_max = 500;
  std::string outbox_path;
  int64_t outbox_max_bytes = 256ll << 20;
  double outbox_max_age_secs = 7 * 86400.0;
  SqliteSync sync = SqliteSync::kNormal;
  int64_t max_inflight = 100;
  double max_bytes_per_sec = 0;
  TsFormat ts_format = TsFormat::kIso;
  UplinkEncoding encoding = UplinkEncoding::kJson;
  UplinkCompression compression = UplinkCompression::kNone;
  int64_t zstd_level = 3;
};
const config::Schema<UplinkConfig>& UplinkSchema();
std::string UplinkOutboxPath(const UplinkConfig& cfg, const std::string& data_dir, const std::string& sink_id);

class UplinkSink final : public Sink {
 public:
  static Result<std::unique_ptr<Sink>> Create(const UplinkConfig& cfg, const BuildContext& ctx);
  ~UplinkSink() override;
  Status Write(const Batch& batch) override;
  EventMask wants() const override { return what_; }
  void Metrics(std::vector<std::pair<std::string, double>>& out) const override;
  // The pipeline stops (shutdown, reload): the drain ends with it.
  Status Flush() override;

 private:
  struct Kind {
    const char* name;
    int priority;
    OutboxStream stream;
    std::string topic;  // {topic_prefix}/{node}/{name}
  };
  struct InFlight {
    int64_t stream, seq, events;
  };
  void Drain();
  void OnLost();
  void Listen();
  bool Fill(TimeUs now);
  // Sends nothing for kHoldUs: the broker takes nothing now (said once per reason).
  void Hold(TimeUs now, const std::string& why);
  static constexpr TimeUs kHoldUs = 5 * kUsPerSec;
  template <class E>
  void Encode(const std::vector<E>& events, Kind& kind, TimeUs now, std::vector<OutboxMessage>& out);
  std::unique_ptr<UplinkEncoder> encoder_;

  UplinkConfig cfg_;
  EventMask what_;
  std::string node_;
  Clock* clock_ = nullptr;
  std::unique_ptr<Outbox> outbox_;
  std::vector<Kind> kinds_;  // alerts, dead_letters, aggregates, readings
  std::string component_;
  std::unique_ptr<MqttConnection> conn_;  // used only by the drain thread
  std::map<int, InFlight> inflight_;      // by MQTT message id
  std::map<int64_t, int64_t> cursor_;     // stream -> last seq sent on this connection
  std::vector<std::pair<int, int>> acked_;
  std::vector<std::pair<int64_t, int64_t>> done_;  // (stream, seq) to remove: acknowledged, refused or unsendable
  TimeUs hold_until_ = 0;
  std::string hold_reason_;
  std::string remove_error_;  // the last failed removal's reason, said once
  double tokens_ = 0;
  TimeUs last_refill_ = 0;
  StopToken stop_;
  std::thread thread_;
  std::vector<OutboxMessage> pending_;
  // Metrics (written by the drain thread, read by Stats()).
  std::atomic<uint64_t> sent_{0}, acked_messages_{0}, acked_events_{0}, rejected_{0}, resends_{0};
  std::atomic<bool> connected_{false};
};

}  // namespace edgeflow
