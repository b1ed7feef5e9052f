#include "sources/ingest_source.h"

#include <simdjson.h>

namespace edgeflow {

using config::Schema;

const Schema<IngestSourceConfig>& IngestSourceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<IngestSourceConfig>("ingest", "");
    s->String("default_metric", &IngestSourceConfig::default_metric, "value", "Metric of readings that name none.")
        .Number<double>("ack_timeout_secs", &IngestSourceConfig::ack_timeout_secs, 10, "s",
                        "A request is answered once every sink wrote its readings; after this long without that "
                        "confirmation it gets 503 and should be sent again.", 0.1, 3600)
        .Number<int64_t>("max_readings", &IngestSourceConfig::max_readings, 10000, "readings",
                         "Largest batch accepted in one request.", 1, 1000000);
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Source>> IngestSource::Create(const IngestSourceConfig& cfg, const BuildContext& ctx) {
  auto s = std::make_unique<IngestSource>();
  s->cfg_ = cfg;
  s->id_ = ctx.component_id;
  s->origin_ = ctx.component;
  MqttSourceConfig dc;
  MqttSourceSchema().SetDefaults(dc);
  dc.payload = PayloadFormat::kJson;
  dc.default_metric = cfg.default_metric;
  dc.max_payload_bytes = 64 * 1024 * 1024;  // the HTTP server enforces the request size
  auto d = PayloadDecoder::Create(dc, ctx.component);
  if (!d.ok()) return d.status();
  s->decoder_ = std::make_unique<PayloadDecoder>(std::move(d).value());
  return std::unique_ptr<Source>(std::move(s));
}

Status IngestSource::Run(SourceContext& ctx) {
  {
    std::lock_guard l(mu_);
    emit_ = ctx.emit;
  }
  running_.notify_all();
  // Nothing to poll: requests arrive on HTTP threads. Wait for stop.
  while (ctx.clock->sleep_until(ctx.clock->now() + 3600 * kUsPerSec, *ctx.stop)) {
  }
  std::lock_guard l(mu_);
  emit_ = nullptr;
  return Status::Ok();
}

Result<IngestSource::Outcome> IngestSource::Submit(std::string_view body, TimeUs now) {
  // Accept {"readings": [...]} by decoding only the array.
  simdjson::dom::parser probe;
  simdjson::dom::element doc;
  simdjson::padded_string padded(body);
  if (auto err = probe.parse(padded).get(doc)) return Status::Invalid(std::string("invalid JSON: ") + simdjson::error_message(err));
  const Status bad_shape = Status::Invalid("expected an array of readings or {\"readings\": [...]}");
  simdjson::dom::array items;
  const bool wrapped = doc.is_object();
  if (wrapped) {
    simdjson::dom::element readings;
    if (doc["readings"].get(readings) || readings.get_array().get(items)) return bad_shape;
  } else if (doc.get_array().get(items)) {
    return bad_shape;
  }
  const std::string inner = wrapped ? simdjson::minify(items) : std::string();
  const std::string_view payload = wrapped ? std::string_view(inner) : body;
  if (static_cast<int64_t>(items.size()) > cfg_.max_readings)
    return Status(StatusCode::kOutOfRange, "too many readings in one request (max " + std::to_string(cfg_.max_readings) + ")");

  auto delivery = std::make_shared<Delivery>();
  Outcome o;
  {
    std::unique_lock l(mu_);
    if (!running_.wait_for(l, std::chrono::seconds(2), [&] { return emit_ != nullptr; }))
      return Status::Unavailable("ingest source '" + id_ + "' is not running");
    batch_.clear();
    decoder_->Decode("", payload.data(), payload.size(), now, &seq_, batch_);
    o.accepted = batch_.readings.size();
    o.rejected_count = items.size() - std::min(items.size(), o.accepted);
    for (const auto& d : batch_.dead_letters) o.rejected.push_back(std::string(d.reason) + ": " + d.detail);
    batch_.deliveries.push_back(std::make_shared<DeliveryToken>(delivery));
    emit_(batch_);
    batch_.clear();
  }
  std::string failure;
  if (!delivery->Wait(std::chrono::milliseconds(static_cast<int64_t>(cfg_.ack_timeout_secs * 1000)), &failure))
    return Status::Unavailable("readings accepted but not confirmed written within " + config::FormatNumber(cfg_.ack_timeout_secs) +
                               " s; send them again");
  if (!failure.empty()) return Status::Unavailable("readings not written: " + failure + "; send them again");
  return o;
}

}  // namespace edgeflow
