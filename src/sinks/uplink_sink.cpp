#include "sinks/uplink_sink.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "sinks/sinks.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<UplinkConfig>& UplinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<UplinkConfig>("uplink", "");
    s->Object("broker", &UplinkConfig::broker, MqttBrokerSchema(),
              "The cloud broker. Use `tls` (server certificate and host name verified; add cert_file and key_file for "
              "mutual TLS) or username/password.")
        .String("topic_prefix", &UplinkConfig::topic_prefix, "edgeflow",
                "Messages go to `<topic_prefix>/<node.id>/<stream>`.")
        .StringList("include", &UplinkConfig::include,
                    "Streams to send: alerts, dead_letters, aggregates, readings (drained in that order). Empty: "
                    "alerts, dead_letters and aggregates.")
        .Number<int64_t>("batch_max", &UplinkConfig::batch_max, 500, "events", "Events per message at most.", 1, 100000)
        .String("outbox_path", &UplinkConfig::outbox_path, "",
                "Outbox database; empty: `<node.data_dir>/outbox-<sink id>.db`.")
        .Number<int64_t>("outbox_max_bytes", &UplinkConfig::outbox_max_bytes, 256ll << 20, "bytes",
                         "Outbox cap; beyond it the oldest messages of the lowest-priority stream are evicted (and "
                         "counted).", 1024, INT64_MAX)
        .Number<double>("outbox_max_age_secs", &UplinkConfig::outbox_max_age_secs, 7 * 86400.0, "s",
                        "Messages older than this are evicted (and counted); 0 keeps them.", 0, 1e11)
        .Enum<SqliteSync>("synchronous", &UplinkConfig::sync, SqliteSync::kNormal,
                          {{"normal", SqliteSync::kNormal}, {"full", SqliteSync::kFull}},
                          "normal: a committed batch survives a crash of the process (kill -9); a power loss may drop "
                          "the last commits. full: every commit is fsynced and survives a power loss.")
        .Number<int64_t>("max_inflight", &UplinkConfig::max_inflight, 100, "messages",
                         "Messages sent and not yet acknowledged at most.", 1, 65000)
        .Number<double>("max_bytes_per_sec", &UplinkConfig::max_bytes_per_sec, 0, "bytes/s",
                        "Drain bandwidth cap (payload and topic bytes); 0: no cap.", 0, 1e12)
        .Enum<TsFormat>("ts_format", &UplinkConfig::ts_format, TsFormat::kIso,
                        {{"iso", TsFormat::kIso}, {"epoch_us", TsFormat::kEpochUs}, {"epoch_ms", TsFormat::kEpochMs}},
                        "Timestamps in JSON payloads: ISO 8601 strings or integer epochs.")
        .Enum<UplinkEncoding>("encoding", &UplinkConfig::encoding, UplinkEncoding::kJson,
                              {{"json", UplinkEncoding::kJson}, {"binary", UplinkEncoding::kBinary}},
                              "Readings as JSON events or as compact binary blocks per series (docs/outbox.md); other "
                              "streams are always JSON.")
        .Enum<UplinkCompression>("compression", &UplinkConfig::compression, UplinkCompression::kNone,
                                 {{"none", UplinkCompression::kNone}, {"zstd", UplinkCompression::kZstd}},
                                 "Compress each message body with zstd.")
        .Number<int64_t>("zstd_level", &UplinkConfig::zstd_level, 3, "", "zstd compression level.", 1, 19)
        .Check([](const UplinkConfig& c, const YAML::Node& n, Diagnostics& d) {
          CheckEventKinds(c.include, "include", n, d);
          if (c.topic_prefix.find_first_of("+#") != std::string::npos)
            d.Error(n["topic_prefix"], "topic_prefix must not contain MQTT wildcards");
        });
    return s;
  }();
  return *s;
}

std::string UplinkOutboxPath(const UplinkConfig& cfg, const std::string& data_dir, const std::string& sink_id) {
  return cfg.outbox_path.empty() ? (std::filesystem::path(data_dir) / ("outbox-" + sink_id + ".db")).string()
                                 : cfg.outbox_path;
}

Result<std::unique_ptr<Sink>> UplinkSink::Create(const UplinkConfig& cfg, const BuildContext& ctx) {
  std::unique_ptr<UplinkSink> s(new UplinkSink());
  s->cfg_ = cfg;
  s->node_ = ctx.node_id;
  s->clock_ = ctx.clock;
  s->component_ = ctx.component_id;
  s->what_ = EventKindsFrom(cfg.include, EventMask{false, true, true, true});
  s->encoder_ = std::make_unique<UplinkEncoder>(
      UplinkFormat{cfg.encoding, cfg.compression, static_cast<int>(cfg.zstd_level), cfg.ts_format});
  OutboxOptions opts;
  opts.path = UplinkOutboxPath(cfg, ctx.data_dir, ctx.component_id);
  opts.max_bytes = cfg.outbox_max_bytes;
  opts.max_age = SecondsToUs(cfg.outbox_max_age_secs);
  opts.sync = cfg.sync;
  auto ob = Outbox::Open(opts);
  if (!ob.ok()) return ob.status();
  s->outbox_ = std::move(ob).value();
  const std::pair<const char*, bool> kinds[] = {{"alerts", s->what_.alerts},
                                                {"dead_letters", s->what_.dead_letters},
                                                {"aggregates", s->what_.aggregates},
                                                {"readings", s->what_.readings}};
  for (int p = 0; p < 4; ++p) {
    auto st = s->outbox_->Stream(kinds[p].first, p);
    if (!st.ok()) return st.status();
    s->kinds_.push_back(Kind{kinds[p].first, p, st.value(),
                             fmt::format("{}/{}/{}", cfg.topic_prefix, ctx.node_id, kinds[p].first)});
  }
  // The connection is checked now (TLS files, credentials) but used only by the drain thread.
  auto c = MqttConnection::Create(cfg.broker, ctx.node_id + "-" + ctx.component_id, *ctx.clock);
  if (!c.ok()) return c.status();
  s->conn_ = std::move(c).value();
  s->Listen();
  UplinkSink* raw = s.get();
  s->thread_ = std::thread([raw] { raw->Drain(); });
  return std::unique_ptr<Sink>(std::move(s));
}

UplinkSink::~UplinkSink() { (void)Flush(); }

// At a reload the next pipeline's uplink starts before this one is destroyed:
// two drains with one client id took the broker session from each other, and
// sent the same outbox twice. So the drain ends when the pipeline stops, and
// its connection closes. What it had in flight stays in the outbox and goes
// again from the next drain.
Status UplinkSink::Flush() {
  stop_.request_stop();
  if (thread_.joinable()) thread_.join();
  conn_.reset();
  connected_ = false;
  return Status::Ok();
}

template <class E>
void UplinkSink::Encode(const std::vector<E>& events, Kind& kind, TimeUs now, std::vector<OutboxMessage>& out) {
  for (size_t i = 0; i < events.size(); i += static_cast<size_t>(cfg_.batch_max)) {
    const size_t n = std::min(events.size() - i, static_cast<size_t>(cfg_.batch_max));
    OutboxMessage m;
    m.stream = kind.stream.id;
    m.seq = outbox_->NextSeq(kind.stream.id);
    m.created = now;
    m.events = static_cast<int64_t>(n);
    m.topic = kind.topic;
    encoder_->Encode(node_, kind.name, m.seq, events.data() + i, n, m.payload);
    out.push_back(std::move(m));
  }
}

Status UplinkSink::Write(const Batch& b) {
  const TimeUs now = clock_->now();
  pending_.clear();
  if (what_.alerts) Encode(b.alerts, kinds_[0], now, pending_);
  if (what_.dead_letters) Encode(b.dead_letters, kinds_[1], now, pending_);
  if (what_.aggregates) Encode(b.aggregates, kinds_[2], now, pending_);
  if (what_.readings) Encode(b.readings, kinds_[3], now, pending_);
  return outbox_->Append(pending_);
}

void UplinkSink::Listen() {
  conn_->on_published([this](int mid, int reason) { acked_.emplace_back(mid, reason); });
}

// A lost connection: whatever was in flight is sent again on the next one. The
// client is recreated so the library does not also resend its own copies.
void UplinkSink::OnLost() {
  resends_ += inflight_.size();
  inflight_.clear();
  hold_until_ = 0;  // a new connection may take what the old one refused
  cursor_.clear();
  acked_.clear();
  auto c = MqttConnection::Create(cfg_.broker, node_ + "-" + component_, *clock_);
  if (c.ok()) {
    // Not at once: a broker that drops the client on every message, or a twin
    // with its client id, made this a reconnect loop.
    (*c)->ContinueBackoff(*conn_);
    conn_ = std::move(c).value();
  }
  Listen();
  connected_ = false;
}

// Publishes what the in-flight window and the bandwidth cap allow, highest
// priority first. Returns true when more is waiting.
bool UplinkSink::Fill(TimeUs now) {
  if (now < hold_until_) return false;
  // The bandwidth cap is a token bucket of one second of the cap (64 KB at
  // least). A message larger than the bucket goes when the bucket is full and
  // leaves it in debt, so the average rate still holds.
  const double bucket = std::max(cfg_.max_bytes_per_sec, 65536.0);
  if (cfg_.max_bytes_per_sec > 0) {
    tokens_ = std::min(tokens_ + cfg_.max_bytes_per_sec * static_cast<double>(now - last_refill_) / 1e6, bucket);
    last_refill_ = now;
  }
  std::vector<OutboxMessage> msgs;
  for (const auto& k : kinds_) {
    const size_t room = static_cast<size_t>(cfg_.max_inflight) - std::min(inflight_.size(), static_cast<size_t>(cfg_.max_inflight));
    if (room == 0) return true;
    msgs.clear();
    int64_t& cursor = cursor_[k.stream.id];
    Status st = outbox_->Next(k.stream.id, cursor, room, &msgs);
    if (!st.ok()) {
      spdlog::warn("uplink '{}': {}", component_, st.ToString());
      return true;
    }
    for (const auto& m : msgs) {
      if (cfg_.max_bytes_per_sec > 0) {
        if (tokens_ < std::min(static_cast<double>(m.bytes()), bucket)) return true;
        tokens_ -= static_cast<double>(m.bytes());
      }
      int mid = 0;
      Status ps = conn_->Publish(m.topic, m.payload.data(), m.payload.size(), 1, false, &mid);
      if (!ps.ok() && cfg_.max_bytes_per_sec > 0) tokens_ += static_cast<double>(m.bytes());  // nothing went
      if (ps.code() == StatusCode::kInvalidArgument) {
        // This message can never go (larger than the broker's maximum packet
        // size): it must not hold up everything behind it. Removed and counted.
        ++rejected_;
        spdlog::error("uplink '{}': message {} of stream {} ({} events, {} bytes) cannot be sent: {}; dropped",
                      component_, m.seq, m.stream, m.events, m.payload.size(), ps.message());
        done_.emplace_back(m.stream, m.seq);
        cursor = m.seq;
        continue;
      }
      if (!ps.ok()) {
        // Unavailable: the connection is gone, the loop sees it. Otherwise no
        // message goes now (a broker that does not take QoS 1): said, and
        // tried again in a while rather than at once.
        if (!ps.retryable()) Hold(now, ps.message());
        return true;
      }
      hold_reason_.clear();  // sending again: a later refusal is said again
      inflight_[mid] = InFlight{m.stream, m.seq, m.events};
      cursor = m.seq;
      ++sent_;
    }
    if (msgs.size() == room) return true;
  }
  return false;
}

void UplinkSink::Drain() {
  bool more = true;
  bool was_connected = false;
  TimeUs next_enforce = 0;
  while (!stop_.stop_requested()) {
    const bool idle = inflight_.empty() && !more;
    conn_->Loop(idle ? 20 : 1, stop_);
    // Pacing (the once-a-second limits, the bandwidth cap, pauses) runs on the
    // monotonic clock: a wall clock set back by an hour stopped the limits and
    // the drain for that hour. The outbox's age limit is about wall time.
    const TimeUs now = MonotonicUs();
    if (now >= next_enforce) {
      next_enforce = now + kUsPerSec;
      auto evicted = outbox_->Enforce(clock_->now());
      if (!evicted.ok()) spdlog::warn("uplink '{}': {}", component_, evicted.status().ToString());
      else if (*evicted > 0) spdlog::warn("uplink '{}': outbox limits evicted {} messages", component_, *evicted);
    }
    if (!conn_->connected()) {
      if (was_connected) OnLost();
      was_connected = false;
      more = true;
      continue;
    }
    if (!was_connected) last_refill_ = now;
    was_connected = true;
    connected_ = true;
    for (const auto& [mid, reason] : acked_) {
      auto it = inflight_.find(mid);
      if (it == inflight_.end()) continue;
      const InFlight f = it->second;
      inflight_.erase(it);
      if (reason >= 128) {
        ++rejected_;
        spdlog::error("uplink '{}': the broker refused message {} of stream {} (reason {}); dropped", component_, f.seq,
                      f.stream, reason);
      } else {
        ++acked_messages_;
        acked_events_ += static_cast<uint64_t>(f.events);
      }
      done_.emplace_back(f.stream, f.seq);
    }
    acked_.clear();
    more = Fill(now);
    if (!done_.empty()) {
      // A removal that fails (the disk, a busy database) is tried again on
      // the next round: the messages were delivered, and would otherwise
      // stay in the outbox, counted against its limits, until sent again.
      Status st = outbox_->Remove(done_);
      if (st.ok()) {
        done_.clear();
        remove_error_.clear();
      } else if (st.ToString() != remove_error_) {
        remove_error_ = st.ToString();
        spdlog::warn("uplink '{}': {} (tried again)", component_, remove_error_);
      }
    }
  }
}

void UplinkSink::Hold(TimeUs now, const std::string& why) {
  hold_until_ = now + kHoldUs;
  if (why != hold_reason_) spdlog::warn("uplink '{}': {}; sending again in {} s", component_, why, kHoldUs / kUsPerSec);
  hold_reason_ = why;
}

void UplinkSink::Metrics(std::vector<std::pair<std::string, double>>& out) const {
  const OutboxStats s = outbox_->stats();
  const TimeUs now = clock_->now();
  out.emplace_back("connected", connected_ ? 1 : 0);
  out.emplace_back("outbox_messages", static_cast<double>(s.messages));
  out.emplace_back("outbox_events", static_cast<double>(s.events));
  out.emplace_back("outbox_bytes", static_cast<double>(s.bytes));
  out.emplace_back("outbox_oldest_age_secs", s.oldest ? static_cast<double>(now - s.oldest) / 1e6 : 0.0);
  out.emplace_back("outbox_evicted_messages", static_cast<double>(s.evicted_messages));
  out.emplace_back("outbox_evicted_events", static_cast<double>(s.evicted_events));
  out.emplace_back("sent_messages", static_cast<double>(sent_.load()));
  out.emplace_back("acked_messages", static_cast<double>(acked_messages_.load()));
  out.emplace_back("acked_events", static_cast<double>(acked_events_.load()));
  out.emplace_back("resent_messages", static_cast<double>(resends_.load()));
  out.emplace_back("rejected_messages", static_cast<double>(rejected_.load()));
}

}  // namespace edgeflow
