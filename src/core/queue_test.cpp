#include "core/queue.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/testing.h"

namespace edgeflow {
namespace {

Batch Of(int n, double v) {
  Batch b;
  for (int i = 0; i < n; ++i) b.readings.push_back(testing::R("s", "m", testing::At(i), v));
  return b;
}

TEST(BatchQueue, DropNewestKeepsOldestAndCounts) {
  BatchQueue q(2, WhenFull::kDropNewest);
  for (int i = 0; i < 5; ++i) {
    Batch b = Of(3, i);
    q.push(b);
    EXPECT_TRUE(b.empty()) << "push hands back an empty batch";
  }
  auto s = q.stats();
  EXPECT_EQ(s.depth, 2u);
  EXPECT_EQ(s.dropped_batches, 3u);
  EXPECT_EQ(s.dropped_events, 9u);
  Batch out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.readings[0].value, 0);
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.readings[0].value, 1);
  EXPECT_FALSE(q.try_pop(out));
}

TEST(BatchQueue, DropOldestKeepsNewest) {
  BatchQueue q(2, WhenFull::kDropOldest);
  for (int i = 0; i < 5; ++i) {
    Batch b = Of(1, i);
    q.push(b);
  }
  EXPECT_EQ(q.stats().dropped_batches, 3u);
  Batch out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.readings[0].value, 3);
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.readings[0].value, 4);
}

TEST(BatchQueue, BlockWaitsForConsumerAndLosesNothing) {
  BatchQueue q(1, WhenFull::kBlock);
  constexpr int kN = 200;
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) {
      Batch b = Of(1, i);
      ASSERT_TRUE(q.push(b));
    }
    q.close();
  });
  // Consume only once the producer has had to wait: the queue holds one batch.
  ASSERT_TRUE(testing::WaitFor([&] { return q.stats().blocked >= 1; }));
  int expected = 0;
  Batch out;
  while (q.pop_for(out, std::chrono::milliseconds(5000))) {
    ASSERT_EQ(out.readings.at(0).value, expected);
    ++expected;
  }
  producer.join();
  EXPECT_EQ(expected, kN);
  EXPECT_EQ(q.stats().dropped_events, 0u);
  EXPECT_GT(q.stats().blocked, 0u);
}

TEST(BatchQueue, CloseWakesBlockedProducer) {
  BatchQueue q(1, WhenFull::kBlock);
  Batch b = Of(1, 0);
  ASSERT_TRUE(q.push(b));
  std::atomic<bool> returned{false};
  std::thread producer([&] {
    Batch c = Of(1, 1);
    EXPECT_FALSE(q.push(c));
    returned = true;
  });
  ASSERT_TRUE(testing::WaitFor([&] { return q.stats().blocked == 1; }));
  q.close();
  producer.join();
  EXPECT_TRUE(returned);
  Batch out;
  EXPECT_TRUE(q.try_pop(out)) << "queued data stays poppable after close";
}

TEST(BatchQueue, CoalescesSmallBatchesIntoTheTail) {
  BatchQueue q(2, WhenFull::kDropNewest, nullptr, 10);
  for (int i = 0; i < 25; ++i) {
    Batch b = Of(1, i);
    EXPECT_EQ(q.push(b), i < 20) << i;
    if (i == 19) {
      EXPECT_EQ(q.depth(), 2u);
    }
  }
  EXPECT_EQ(q.stats().dropped_events, 5u) << "two slots of 10 events, then the newest are dropped";
  Batch out;
  ASSERT_TRUE(q.try_pop(out));
  ASSERT_EQ(out.readings.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out.readings[static_cast<size_t>(i)].value, i) << "order kept";
}

TEST(BatchQueue, APoppedBatchIsUnfinishedUntilDone) {
  BatchQueue q(4, WhenFull::kBlock);
  EXPECT_EQ(q.unfinished(), 0u);
  for (int i = 0; i < 2; ++i) {
    Batch b = Of(1, i);
    q.push(b);
  }
  EXPECT_EQ(q.unfinished(), 2u);
  Batch out;
  ASSERT_TRUE(q.pop_for(out, std::chrono::milliseconds(100)));
  EXPECT_EQ(q.depth(), 1u);
  EXPECT_EQ(q.unfinished(), 2u) << "taken but not written: still in front of anything newer";
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(q.depth(), 0u);
  EXPECT_EQ(q.unfinished(), 2u);
  q.done();
  EXPECT_EQ(q.unfinished(), 1u);
  q.done();
  EXPECT_EQ(q.unfinished(), 0u);
  q.done();  // more done() than pops changes nothing
  EXPECT_EQ(q.unfinished(), 0u);
}

TEST(WhenFull, ParsesNames) {
  WhenFull w;
  ASSERT_TRUE(ParseWhenFull("drop_oldest", &w));
  EXPECT_EQ(w, WhenFull::kDropOldest);
  EXPECT_FALSE(ParseWhenFull("drop", &w));
  EXPECT_STREQ(WhenFullName(WhenFull::kBlock), "block");
}

}  // namespace
}  // namespace edgeflow
