#include "store/sqlite_db.h"

#include <gtest/gtest.h>

#include <chrono>

#include "core/testing.h"

namespace edgeflow {
namespace {

using testing::TempDir;

const char* kV1 = "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE t(a INTEGER);";
const char* kV2 = "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE t(a INTEGER, b INTEGER NOT NULL DEFAULT 7);";
const std::vector<SqliteMigration> kUpTo2 = {{2, "ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 7"}};

int64_t Scalar(SqliteDb& db, const char* sql) {
  sqlite3_stmt* st;
  if (!db.Prepare(sql, &st).ok()) return -1;
  StmtGuard g{st};
  return sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
}

// Opening a file that is up to date does not wait for another connection's write
// transaction (it waited the whole busy timeout, 5 s, then failed: the API stalled
// behind a long sink write or retention).
TEST(SqliteDb, OpeningAnUpToDateFileDoesNotWaitForAWriter) {
  TempDir dir;
  const std::string path = dir / "x.db";
  auto writer = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV1, 1);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Exec("BEGIN IMMEDIATE").ok());
  ASSERT_TRUE((*writer)->Exec("INSERT INTO t(a) VALUES (1)").ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto reader = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV1, 1);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_LT(secs, 1.0);
  EXPECT_EQ(Scalar(**reader, "SELECT count(*) FROM t"), 0) << "the writer's rows are not committed yet";
  ASSERT_TRUE((*writer)->Exec("COMMIT").ok());
  EXPECT_EQ(Scalar(**reader, "SELECT count(*) FROM t"), 1);
}

TEST(SqliteDb, AnOlderFileIsUpgradedInPlaceKeepingItsData) {
  TempDir dir;
  const std::string path = dir / "x.db";
  {
    auto db = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV1, 1);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Exec("INSERT INTO t(a) VALUES (41), (42)").ok());
  }
  auto db = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV2, 2, false, kUpTo2);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->migrated_from(), 1);
  EXPECT_EQ(Scalar(**db, "SELECT value FROM meta WHERE key='schema_version'"), 2);
  EXPECT_EQ(Scalar(**db, "SELECT sum(b) FROM t"), 14) << "old rows got the new column's default";
  EXPECT_EQ(Scalar(**db, "SELECT sum(a) FROM t"), 83);
}

TEST(SqliteDb, ANewerFileIsRefusedUnchanged) {
  TempDir dir;
  const std::string path = dir / "x.db";
  ASSERT_TRUE(SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV2, 2, false, kUpTo2).ok());
  auto old = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV1, 1);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("has schema version 2, newer than this edgeflow reads (1)"), std::string::npos)
      << old.status().ToString();
  auto again = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV2, 2, false, kUpTo2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->migrated_from(), 0) << "nothing to do: same version";
}

TEST(SqliteDb, AFailedMigrationChangesNothing) {
  TempDir dir;
  const std::string path = dir / "x.db";
  {
    auto db = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV1, 1);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO t(a) VALUES (1)").ok());
  }
  const std::vector<SqliteMigration> broken = {{2, "ALTER TABLE t ADD COLUMN b INTEGER; THIS IS NOT SQL"}};
  EXPECT_FALSE(SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV2, 2, false, broken).ok());
  EXPECT_FALSE(SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV2, 3, false, kUpTo2).ok()) << "no path to v3";
  auto db = SqliteDb::Open(path, SqliteSync::kNormal, "test db", kV1, 1);
  ASSERT_TRUE(db.ok()) << "still version 1: " << db.status().ToString();
  EXPECT_EQ(Scalar(**db, "SELECT count(*) FROM pragma_table_info('t')"), 1) << "the half-applied step was rolled back";
}

}  // namespace
}  // namespace edgeflow
