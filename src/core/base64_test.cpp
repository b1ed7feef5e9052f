#include "core/base64.h"

#include <gtest/gtest.h>

namespace edgeflow {
namespace {

TEST(Base64, RoundTripsEveryLengthAndRefusesGarbage) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64Encode(bytes), &back));
    EXPECT_EQ(back, bytes);
    bytes += static_cast<char>(i * 37);
  }
  EXPECT_EQ(Base64Encode("edge"), "ZWRnZQ==");
  std::string out;
  EXPECT_TRUE(Base64Decode("ZWRn\nZQ==", &out));
  EXPECT_EQ(out, "edge");
  EXPECT_FALSE(Base64Decode("ZWRnZQ=", &out));
  EXPECT_FALSE(Base64Decode("Z$Rn", &out));
}

}  // namespace
}  // namespace edgeflow
