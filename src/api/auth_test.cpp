#include "api/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/testing.h"

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

TEST(Auth, TheTokenFileIsCreatedWholeAndPrivate) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/sub/api-token";
  bool created = false;
  auto t = LoadOrCreateToken(path, &created);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(created);
  EXPECT_EQ(t->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "sub"), std::filesystem::directory_iterator()), 1)
      << "no temporary file is left";
  auto again = LoadOrCreateToken(path, &created);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(*again, *t);
}

TEST(Auth, ATokenFileOthersCanReadOrThatIsNotAFileIsRefused) {
  testing::TempDir dir;
  std::ofstream(dir / "shared") << "0123456789abcdef0123456789abcdef\n";
  ::chmod((dir / "shared").c_str(), 0644);
  bool created = false;
  auto t = LoadOrCreateToken(dir / "shared", &created);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("chmod 600"), std::string::npos) << t.status().ToString();
  // A FIFO in its place is refused at once (opening it for reading waited for a writer).
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  t = LoadOrCreateToken(dir / "fifo", &created);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not a file"), std::string::npos) << t.status().ToString();
  // A link to a private file of ours is followed (secrets are often mounted so).
  ::chmod((dir / "shared").c_str(), 0600);
  std::filesystem::create_symlink(dir / "shared", dir / "api-token");
  t = LoadOrCreateToken(dir / "api-token", &created);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t, "0123456789abcdef0123456789abcdef");
}

}  // namespace
}  // namespace edgeflow
