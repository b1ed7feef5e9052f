#include "vision/media.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/testing.h"

namespace edgeflow::vision {
namespace {

namespace fs = std::filesystem;

TEST(EventIds, RoundTripAndRejectWhatIsNotOne) {
  std::string cam;
  TimeUs t = 0;
  ASSERT_TRUE(ParseEventId(EventId("front-door.1", 1795709750937770), &cam, &t));
  EXPECT_EQ(cam, "front-door.1");
  EXPECT_EQ(t, 1795709750937770);
  for (const char* bad : {"", "cam", "cam-", "-123", "../x-1", "..-1", ".-1", "cam-12a", "cam-+1", "a/b-1",
                          "cam-12345678901234567890", "cam 1-1"})
    EXPECT_FALSE(ParseEventId(bad, &cam, &t)) << bad;
}

void Touch(const fs::path& p, size_t bytes) { std::ofstream(p) << std::string(bytes, 'x'); }

TEST(EventStore, ListsNewestFirstAndRetentionDropsOldestByAgeThenSize) {
  testing::TempDir dir;
  const std::string cam_dir = CameraDir(dir.path(), "cam");
  for (TimeUs start : {1000, 2000, 3000, 4000}) {
    const std::string id = EventId("cam", start * kUsPerSec);
    ASSERT_TRUE(WriteEventRecord(dir.path(), {{"id", id}, {"camera", "cam"}, {"start", start * kUsPerSec}}).ok());
    Touch(fs::path(cam_dir) / (id + ".jpg"), 1000);
  }
  Touch(fs::path(cam_dir) / "unrelated.txt", 10);
  auto all = ListEvents(dir.path(), "", 0, INT64_MAX, 10);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]["start"], 4000 * kUsPerSec);
  EXPECT_EQ(ListEvents(dir.path(), "cam", 2000 * kUsPerSec, 4000 * kUsPerSec, 10).size(), 2u);
  EXPECT_EQ(ListEvents(dir.path(), "cam", 0, INT64_MAX, 1).size(), 1u);
  EXPECT_TRUE(EventFile(dir.path(), EventId("cam", 1000 * kUsPerSec), "jpg").ok());
  EXPECT_FALSE(EventFile(dir.path(), EventId("cam", 1000 * kUsPerSec), "avi").ok());
  EXPECT_FALSE(EventFile(dir.path(), "../../etc-1", "jpg").ok());

  // Older than 2500 s before "now" (4000 s): the event at 1000 s goes.
  EXPECT_EQ(ApplyRetention(cam_dir, 4000 * kUsPerSec, 2500 * kUsPerSec, 1 << 30), 1u);
  EXPECT_EQ(ListEvents(dir.path(), "cam", 0, INT64_MAX, 10).size(), 3u);
  EXPECT_FALSE(fs::exists(fs::path(cam_dir) / (EventId("cam", 1000 * kUsPerSec) + ".jpg")));
  // Size: three events of ~1.07 KB each (snapshot and record); keep 1.5 KB: the two oldest go.
  EXPECT_EQ(ApplyRetention(cam_dir, 4000 * kUsPerSec, 1 << 30, 1500), 2u);
  auto left = ListEvents(dir.path(), "cam", 0, INT64_MAX, 10);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["start"], 4000 * kUsPerSec);
  EXPECT_TRUE(fs::exists(fs::path(cam_dir) / "unrelated.txt"));
}

TEST(EventStore, RetentionRemovesWhatAnInterruptedWriteLeftOnceItIsStale) {
  testing::TempDir dir;
  const std::string cam_dir = CameraDir(dir.path(), "cam");
  fs::create_directories(cam_dir);
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const char* f : {"cam-1.part.avi", "cam-1.part.jpg", "cam-1.json.tmp"}) {
    Touch(fs::path(cam_dir) / f, 100);
    fs::last_write_time(fs::path(cam_dir) / f, old);
  }
  Touch(fs::path(cam_dir) / "cam-2.part.avi", 100);  // being written now
  Touch(fs::path(cam_dir) / "notes.tmp", 10);
  fs::last_write_time(fs::path(cam_dir) / "notes.tmp", old);
  ApplyRetention(cam_dir, 4000 * kUsPerSec, 1 << 30, 1 << 30);
  for (const char* f : {"cam-1.part.avi", "cam-1.part.jpg", "cam-1.json.tmp"})
    EXPECT_FALSE(fs::exists(fs::path(cam_dir) / f)) << f << " stayed for ever, uncounted";
  EXPECT_TRUE(fs::exists(fs::path(cam_dir) / "cam-2.part.avi")) << "a clip being recorded is not touched";
  EXPECT_TRUE(fs::exists(fs::path(cam_dir) / "notes.tmp")) << "only what event writing leaves";
}

}  // namespace
}  // namespace edgeflow::vision
