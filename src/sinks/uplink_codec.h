#pragma once
// Uplink message payloads (docs/outbox.md, "Messages").
//
// encoding json, compression none (the default): one JSON object
//   {"node":"…","stream":"…","seq":42,"events":[{…},…]}
// any other combination: a JSON header line, then the body
//   {"node":"…","stream":"readings","seq":42,"events":1000,"encoding":"binary","compression":"zstd"}\n<body>
// where the body, before zstd, is a JSON array of events (encoding json) or,
// for readings with encoding binary:
//   u8 version (1), varint n_series, then per series:
//   varint len + sensor, varint len + metric, varint len + reading block
//   (store/block_codec.h: delta timestamps, raw f64 values, seq, quality).
// Streams other than readings always use a JSON body.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/reading.h"
#include "core/status.h"
#include "sinks/event_json.h"
#include "store/block_codec.h"

namespace edgeflow {

enum class UplinkEncoding { kJson, kBinary };
enum class UplinkCompression { kNone, kZstd };

struct UplinkFormat {
  UplinkEncoding encoding = UplinkEncoding::kJson;
  UplinkCompression compression = UplinkCompression::kNone;
  int zstd_level = 3;
  TsFormat ts = TsFormat::kIso;
};

class UplinkEncoder {
 public:
  explicit UplinkEncoder(UplinkFormat f) : f_(f) {}
  void Encode(std::string_view node, std::string_view stream, int64_t seq, const Reading* r, size_t n, std::string& out);
  void Encode(std::string_view node, std::string_view stream, int64_t seq, const Aggregate* a, size_t n, std::string& out);
  void Encode(std::string_view node, std::string_view stream, int64_t seq, const AlertEvent* a, size_t n, std::string& out);
  void Encode(std::string_view node, std::string_view stream, int64_t seq, const DeadLetter* d, size_t n, std::string& out);

 private:
  template <class E>
  void EncodeJson(std::string_view node, std::string_view stream, int64_t seq, const E* e, size_t n, std::string& out);
  void Finish(std::string_view node, std::string_view stream, int64_t seq, size_t n, bool binary, std::string& out);
  UplinkFormat f_;
  std::string body_, packed_;
  std::vector<std::pair<uint64_t, std::vector<BlockPoint>>> series_;
  std::unordered_map<uint64_t, size_t> index_;
};

struct DecodedReading {
  std::string sensor, metric;
  BlockPoint point;
};
struct DecodedMessage {
  nlohmann::json header;         // node, stream, seq (and events, encoding, compression)
  nlohmann::json events;         // JSON events (JSON bodies)
  std::vector<DecodedReading> readings;  // binary reading bodies
};
// Decodes any payload the encoder makes; rejects malformed or oversized data.
Status DecodeUplinkPayload(std::string_view payload, DecodedMessage* out);

}  // namespace edgeflow
