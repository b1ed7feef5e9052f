#include "store/block_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace edgeflow {
namespace {

TEST(BlockCodec, RoundTripsExactly) {
  std::mt19937_64 rng(7);
  std::vector<BlockPoint> in;
  TimeUs t = 1'700'000'000'000'000;
  for (int i = 0; i < 5000; ++i) {
    t += static_cast<TimeUs>(rng() % 2'000'000) - 200'000;  // mostly increasing, some out of order
    in.push_back({t, std::ldexp(static_cast<double>(rng() % 100000), -7) - 3, static_cast<uint64_t>(i * 3 + 1),
                  i % 97 == 0 ? Quality::kUncertain : Quality::kGood});
  }
  in.push_back({-5, std::nan(""), 0, Quality::kBad});
  std::string enc;
  EncodeBlock(in.data(), in.size(), enc);
  EXPECT_LT(enc.size(), in.size() * 14) << "delta varints keep blocks compact";
  std::vector<BlockPoint> out;
  ASSERT_TRUE(DecodeBlock(reinterpret_cast<const uint8_t*>(enc.data()), enc.size(), out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    EXPECT_EQ(out[i].ts, in[i].ts);
    EXPECT_EQ(out[i].value, in[i].value);
    EXPECT_EQ(out[i].seq, in[i].seq);
    EXPECT_EQ(out[i].quality, in[i].quality);
  }
  EXPECT_TRUE(std::isnan(out.back().value));
  EXPECT_EQ(out.back().ts, -5);
}

TEST(BlockCodec, AllGoodQualityCostsOneByte) {
  std::vector<BlockPoint> in = {{1, 1.0, 1, Quality::kGood}, {2, 2.0, 2, Quality::kGood}};
  std::string enc;
  EncodeBlock(in.data(), in.size(), enc);
  EXPECT_EQ(enc.size(), 1u + 1 + 2 + 16 + 2 + 1);
}

TEST(BlockCodec, RejectsCorruptData) {
  std::vector<BlockPoint> in = {{1, 1.0, 1, Quality::kGood}, {2, 2.0, 2, Quality::kBad}};
  std::string enc;
  EncodeBlock(in.data(), in.size(), enc);
  std::vector<BlockPoint> out;
  for (size_t cut = 0; cut < enc.size(); ++cut)
    EXPECT_FALSE(DecodeBlock(reinterpret_cast<const uint8_t*>(enc.data()), cut, out).ok()) << cut;
  std::string bad = enc;
  bad[0] = 9;
  EXPECT_FALSE(DecodeBlock(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), out).ok());
  bad = enc + "x";
  EXPECT_FALSE(DecodeBlock(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), out).ok());
}

// A point takes at least 10 bytes (a timestamp and a sequence varint, 8 value
// bytes): a count beyond size / 10 is refused before anything is allocated
// (8 x size was allowed: 24 bytes of output per claimed point, ~200 MB for a
// 1 MB block).
TEST(BlockCodec, ACountTheBlockCannotHoldAllocatesNothing) {
  std::string blob(1 << 20, '\0');
  blob[0] = 1;  // version
  std::string count;
  PutVarint(count, static_cast<uint64_t>(blob.size()) * 4);
  blob.replace(1, count.size(), count);
  std::vector<BlockPoint> out;
  EXPECT_FALSE(DecodeBlock(reinterpret_cast<const uint8_t*>(blob.data()), blob.size(), out).ok());
  EXPECT_EQ(out.capacity(), 0u);
}

}  // namespace
}  // namespace edgeflow
