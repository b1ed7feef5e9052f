#include "sinks/uplink_codec.h"

#include <gtest/gtest.h>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::At;
using testing::R;

std::vector<Reading> Readings() {
  std::vector<Reading> rs;
  for (int i = 0; i < 300; ++i) {
    Reading r = R(i % 3 == 0 ? "press-1" : "press-2", i % 2 ? "temperature" : "vibration", At(i * 0.5), 20.0 + i * 0.125);
    r.seq = static_cast<uint64_t>(i + 1);
    if (i == 7) r.quality = Quality::kBad;
    rs.push_back(r);
  }
  return rs;
}

TEST(UplinkCodec, EveryEncodingRoundTripsReadingsExactly) {
  const auto rs = Readings();
  for (auto enc : {UplinkEncoding::kJson, UplinkEncoding::kBinary}) {
    for (auto comp : {UplinkCompression::kNone, UplinkCompression::kZstd}) {
      SCOPED_TRACE(std::to_string(int(enc)) + "/" + std::to_string(int(comp)));
      UplinkEncoder e(UplinkFormat{enc, comp, 3, TsFormat::kEpochUs});
      std::string payload;
      e.Encode("n1", "readings", 42, rs.data(), rs.size(), payload);
      DecodedMessage m;
      ASSERT_TRUE(DecodeUplinkPayload(payload, &m).ok());
      EXPECT_EQ(m.header["node"], "n1");
      EXPECT_EQ(m.header["stream"], "readings");
      EXPECT_EQ(m.header["seq"], 42);
      // Back to (sensor, metric, ts, value, seq, quality) in per-series order.
      std::multiset<std::tuple<std::string, std::string, int64_t, double, uint64_t, int>> want, got;
      for (const auto& r : rs)
        want.insert({std::string(SymName(r.sensor)), std::string(SymName(r.metric)), r.ts, r.value, r.seq, int(r.quality)});
      if (enc == UplinkEncoding::kBinary) {
        for (const auto& d : m.readings)
          got.insert({d.sensor, d.metric, d.point.ts, d.point.value, d.point.seq, int(d.point.quality)});
      } else {
        for (const auto& j : m.events)
          got.insert({j["sensor"], j["metric"], j["ts"].get<int64_t>(), j["value"].get<double>(), j["seq"].get<uint64_t>(),
                      j["quality"] == "good" ? 0 : 2});
      }
      EXPECT_EQ(got, want);
    }
  }
}

TEST(UplinkCodec, BinaryWithZstdIsSmallerThanJson) {
  const auto rs = Readings();
  std::string json, packed;
  UplinkEncoder(UplinkFormat{}).Encode("n1", "readings", 1, rs.data(), rs.size(), json);
  UplinkEncoder(UplinkFormat{UplinkEncoding::kBinary, UplinkCompression::kZstd}).Encode("n1", "readings", 1, rs.data(),
                                                                                          rs.size(), packed);
  EXPECT_LT(packed.size() * 10, json.size()) << packed.size() << " vs " << json.size();
}

TEST(UplinkCodec, MalformedPayloadsAreRejected) {
  DecodedMessage m;
  for (std::string bad : {std::string("nope"), std::string("{\"seq\":1}"),
                          std::string("{\"encoding\":\"binary\",\"compression\":\"none\"}\n\x01\x05"),
                          std::string("{\"encoding\":\"json\",\"compression\":\"zstd\"}\n\x28\xb5\x2f\xfd garbage"),
                          // Header fields of the wrong type (these threw).
                          std::string("{\"encoding\":\"json\",\"compression\":1}\n[]"),
                          std::string("{\"encoding\":[],\"compression\":\"none\"}\n[]")}) {
    DecodedMessage fresh;
    EXPECT_FALSE(DecodeUplinkPayload(bad, &fresh).ok()) << bad;
  }
}

}  // namespace
}  // namespace edgeflow
