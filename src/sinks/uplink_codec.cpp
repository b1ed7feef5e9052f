#include "sinks/uplink_codec.h"

#include <fmt/format.h>
#include <zstd.h>

namespace edgeflow {

namespace {
constexpr size_t kMaxDecoded = 64u << 20;  // refuse bodies that inflate beyond this
}

template <class E>
void UplinkEncoder::EncodeJson(std::string_view node, std::string_view stream, int64_t seq, const E* e, size_t n,
                               std::string& out) {
  body_.clear();
  body_.push_back('[');
  for (size_t i = 0; i < n; ++i) {
    if (i) body_.push_back(',');
    AppendJson(body_, e[i], f_.ts);
  }
  body_.push_back(']');
  Finish(node, stream, seq, n, false, out);
}

void UplinkEncoder::Finish(std::string_view node, std::string_view stream, int64_t seq, size_t n, bool binary,
                           std::string& out) {
  out.clear();
  if (!binary && f_.compression == UplinkCompression::kNone) {
    fmt::format_to(std::back_inserter(out), R"({{"node":"{}","stream":"{}","seq":{},"events":)", node, stream, seq);
    out.append(body_);
    out.push_back('}');
    return;
  }
  const bool zstd = f_.compression == UplinkCompression::kZstd;
  fmt::format_to(std::back_inserter(out),
                 R"({{"node":"{}","stream":"{}","seq":{},"events":{},"encoding":"{}","compression":"{}"}})"
                 "\n",
                 node, stream, seq, n, binary ? "binary" : "json", zstd ? "zstd" : "none");
  if (!zstd) {
    out.append(body_);
    return;
  }
  packed_.resize(ZSTD_compressBound(body_.size()));
  const size_t z = ZSTD_compress(packed_.data(), packed_.size(), body_.data(), body_.size(), f_.zstd_level);
  if (ZSTD_isError(z)) {  // cannot happen with a bound-sized buffer; keep the data anyway
    out.resize(out.size() - std::string_view(R"("zstd"})").size() - 1);
    out.append(R"("none"})" "\n");
    out.append(body_);
    return;
  }
  out.append(packed_.data(), z);
}

void UplinkEncoder::Encode(std::string_view node, std::string_view stream, int64_t seq, const Reading* r, size_t n,
                           std::string& out) {
  if (f_.encoding == UplinkEncoding::kJson) return EncodeJson(node, stream, seq, r, n, out);
  for (auto& s : series_) s.second.clear();
  size_t used = 0;
  index_.clear();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = SeriesKey(r[i].sensor, r[i].metric);
    auto [it, inserted] = index_.emplace(key, used);
    if (inserted) {
      if (used == series_.size()) series_.emplace_back();
      series_[used].first = key;
      series_[used].second.clear();
      ++used;
    }
    series_[it->second].second.push_back(BlockPoint{r[i].ts, r[i].value, r[i].seq, r[i].quality});
  }
  body_.clear();
  body_.push_back(1);  // version
  PutVarint(body_, used);
  std::string block;
  for (size_t s = 0; s < used; ++s) {
    const auto& pts = series_[s].second;
    const std::string_view sensor = SymName(SeriesSensor(series_[s].first));
    const std::string_view metric = SymName(SeriesMetric(series_[s].first));
    PutVarint(body_, sensor.size());
    body_.append(sensor);
    PutVarint(body_, metric.size());
    body_.append(metric);
    block.clear();
    EncodeBlock(pts.data(), pts.size(), block);
    PutVarint(body_, block.size());
    body_.append(block);
  }
  Finish(node, stream, seq, n, true, out);
}

void UplinkEncoder::Encode(std::string_view node, std::string_view stream, int64_t seq, const Aggregate* a, size_t n,
                           std::string& out) {
  EncodeJson(node, stream, seq, a, n, out);
}
void UplinkEncoder::Encode(std::string_view node, std::string_view stream, int64_t seq, const AlertEvent* a, size_t n,
                           std::string& out) {
  EncodeJson(node, stream, seq, a, n, out);
}
void UplinkEncoder::Encode(std::string_view node, std::string_view stream, int64_t seq, const DeadLetter* d, size_t n,
                           std::string& out) {
  EncodeJson(node, stream, seq, d, n, out);
}

Status DecodeUplinkPayload(std::string_view payload, DecodedMessage* out) {
  const size_t nl = payload.find('\n');
  if (nl == std::string_view::npos) {  // one JSON object
    out->header = nlohmann::json::parse(payload, nullptr, false);
    if (out->header.is_discarded() || !out->header.is_object() || !out->header.contains("events"))
      return Status::Invalid("uplink message: not a JSON object with events");
    out->events = out->header["events"];
    out->header.erase("events");
    return Status::Ok();
  }
  out->header = nlohmann::json::parse(payload.substr(0, nl), nullptr, false);
  if (out->header.is_discarded() || !out->header.is_object()) return Status::Invalid("uplink message: bad header line");
  for (const char* field : {"compression", "encoding"})
    if (out->header.contains(field) && !out->header[field].is_string())
      return Status::Invalid(std::string("uplink message: header field '") + field + "' is not a string");
  std::string_view body = payload.substr(nl + 1);
  std::string inflated;
  if (out->header.value("compression", "none") == "zstd") {
    const unsigned long long size = ZSTD_getFrameContentSize(body.data(), body.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxDecoded)
      return Status::Invalid("uplink message: bad or oversized zstd frame");
    inflated.resize(size);
    const size_t got = ZSTD_decompress(inflated.data(), inflated.size(), body.data(), body.size());
    if (ZSTD_isError(got) || got != size) return Status::Invalid("uplink message: zstd frame does not decode");
    body = inflated;
  }
  if (out->header.value("encoding", "json") == "json") {
    out->events = nlohmann::json::parse(body, nullptr, false);
    if (out->events.is_discarded() || !out->events.is_array()) return Status::Invalid("uplink message: bad JSON body");
    return Status::Ok();
  }
  ByteReader r(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  uint8_t version = 0;
  uint64_t n_series = 0;
  if (!r.Bytes(&version, 1) || version != 1 || !r.Varint(&n_series) || n_series > body.size())
    return Status::Invalid("uplink message: bad binary body");
  std::vector<BlockPoint> pts;
  for (uint64_t s = 0; s < n_series; ++s) {
    uint64_t len = 0;
    const uint8_t* p = nullptr;
    std::string sensor, metric;
    if (!r.Varint(&len) || !r.View(len, &p)) return Status::Invalid("uplink message: truncated series");
    sensor.assign(reinterpret_cast<const char*>(p), len);
    if (!r.Varint(&len) || !r.View(len, &p)) return Status::Invalid("uplink message: truncated series");
    metric.assign(reinterpret_cast<const char*>(p), len);
    if (!r.Varint(&len) || !r.View(len, &p)) return Status::Invalid("uplink message: truncated block");
    pts.clear();
    EF_RETURN_IF_ERROR(DecodeBlock(p, len, pts));
    for (const auto& pt : pts) out->readings.push_back(DecodedReading{sensor, metric, pt});
  }
  if (!r.done()) return Status::Invalid("uplink message: trailing bytes");
  return Status::Ok();
}

}  // namespace edgeflow
