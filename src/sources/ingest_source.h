#pragma once
// `ingest` source: readings posted to the REST API (POST /api/v1/ingest).
// The HTTP threads decode request bodies and hand batches to the source's
// queue directly (the queue is safe for several producers); Run() only waits
// for stop. Bodies are JSON: an array of reading objects, or an object with a
// "readings" array; each reading has sensor, metric, value and optionally ts
// and quality. Readings that cannot be decoded become dead letters.
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "config/schema.h"
#include "engine/component.h"
#include "sources/mqtt_source.h"

namespace edgeflow {

struct IngestSourceConfig {
  std::string default_metric;
  int64_t max_readings = 10000;
  double ack_timeout_secs = 10;
};
const config::Schema<IngestSourceConfig>& IngestSourceSchema();

class IngestSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> Create(const IngestSourceConfig& cfg, const BuildContext& ctx);
  Status Run(SourceContext& ctx) override;

  struct Outcome {
    size_t accepted = 0;
    size_t rejected_count = 0;
    // The reasons: one per rejected reading, up to PayloadDecoder::kMaxDeadPerMessage,
    // then one that counts the rest.
    std::vector<std::string> rejected;
  };
  // Called from HTTP threads. A request that arrives while the pipeline is
  // (re)starting waits up to 2 s for the source; then Unavailable. Returns
  // once every sink has written the accepted readings (or what processors
  // made of them): then they survive a crash at the sinks' sync level.
  // Unavailable when a sink gave them up or did not confirm within
  // ack_timeout_secs (the client should send again: at least once).
  Result<Outcome> Submit(std::string_view body, TimeUs now);
  const std::string& id() const { return id_; }

 private:
  IngestSourceConfig cfg_;
  std::string id_;
  Symbol origin_ = kNoSymbol;
  std::mutex mu_;  // guards decoder_, emit_ and seq_
  std::condition_variable running_;  // signalled when Run() has set emit_
  std::unique_ptr<PayloadDecoder> decoder_;
  std::function<void(Batch&)> emit_;
  uint64_t seq_ = 0;
  Batch batch_;
};

}  // namespace edgeflow
