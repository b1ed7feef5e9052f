#include "api/auth.h"

#include <gtest/gtest.h>

namespace edgeflow {
namespace {

TEST(Auth, CookieValueFindsTheNamedCookieOnly) {
  EXPECT_EQ(CookieValue("a=1; edgeflow_session=abc; b=2", "edgeflow_session"), "abc");
  EXPECT_EQ(CookieValue("edgeflow_session=abc", "edgeflow_session"), "abc");
  EXPECT_EQ(CookieValue("xedgeflow_session=abc; edgeflow_sessions=d", "edgeflow_session"), "");
  EXPECT_EQ(CookieValue("", "edgeflow_session"), "");
}

TEST(Auth, SessionsExpireAndAreBounded) {
  Sessions s(10 * kUsPerSec, 2);
  const std::string a = s.Create(0);
  ASSERT_EQ(a.size(), 64u);
  EXPECT_TRUE(s.Valid(a, 9 * kUsPerSec));
  EXPECT_FALSE(s.Valid(a, 10 * kUsPerSec));
  const std::string b = s.Create(1), c = s.Create(2), d = s.Create(3);
  EXPECT_NE(b, c);
  EXPECT_FALSE(s.Valid(b, 3)) << "the oldest session made room";
  EXPECT_TRUE(s.Valid(c, 3));
  EXPECT_TRUE(s.Valid(d, 3));
  s.Remove(c);
  EXPECT_FALSE(s.Valid(c, 3));
  EXPECT_FALSE(s.Valid(d.substr(0, 63) + "x", 3));
  EXPECT_FALSE(s.Valid("", 3));
}

}  // namespace
}  // namespace edgeflow
