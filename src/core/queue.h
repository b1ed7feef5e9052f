#pragma once
// Bounded batch queue with a declared when_full policy.
//
// Slots are preallocated Batches; push() and pop() swap buffers in and out, so
// a producer gets back an empty batch with capacity and nothing is allocated
// in the steady state. One or more producers, one consumer.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/reading.h"

namespace edgeflow {

enum class WhenFull : uint8_t {
  kBlock,       // producer waits for space (back-pressure; nothing dropped)
  kDropOldest,  // the oldest queued batch is discarded
  kDropNewest,  // the batch being pushed is discarded
};
const char* WhenFullName(WhenFull w);
bool ParseWhenFull(std::string_view s, WhenFull* out);

struct QueueStats {
  uint64_t pushed_batches = 0;
  uint64_t pushed_events = 0;
  uint64_t dropped_batches = 0;
  uint64_t dropped_events = 0;
  uint64_t blocked = 0;  // pushes that had to wait
  size_t depth = 0;
  size_t capacity = 0;
  size_t high_water = 0;
};

// Lets one consumer wait on several queues.
class Notifier {
 public:
  void notify() {
    { std::lock_guard l(mu_); ++gen_; }
    cv_.notify_all();
  }
  uint64_t generation() {
    std::lock_guard l(mu_);
    return gen_;
  }
  // Waits until the generation differs from `seen` or the timeout passes.
  template <class Dur>
  void wait(uint64_t seen, Dur timeout) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, timeout, [&] { return gen_ != seen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t gen_ = 0;
};

class BatchQueue {
 public:
  // With `coalesce_events` > 0, a push whose events fit into the newest queued
  // batch (up to that many events) is appended to it instead of taking a slot,
  // so a slow consumer receives fewer, larger batches and capacity is not
  // spent on batches of one reading.
  BatchQueue(size_t capacity, WhenFull policy, Notifier* consumer = nullptr, size_t coalesce_events = 0);
  ~BatchQueue();  // batches never popped fail their deliveries
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  // Moves the content of `b` into the queue and hands back an empty batch in
  // `b`. With kBlock waits for space; returns false (and leaves `b` cleared)
  // when the queue is closed or the batch was dropped by policy.
  bool push(Batch& b);
  // Swaps the oldest batch into `out` (whose previous content is discarded).
  bool try_pop(Batch& out);
  // Pops with a bounded wait. Returns false on timeout or when closed and empty.
  bool pop_for(Batch& out, std::chrono::milliseconds timeout);
  // After close(), pushes fail and blocked producers wake; pops drain what is left.
  void close();
  bool closed() const;
  QueueStats stats() const;
  size_t depth() const;
  // Batches queued plus batches popped and not yet marked done(): a consumer
  // that calls done() when it has finished each popped batch lets a producer
  // tell "nothing waiting and nothing in hand" (0) with no gap between the
  // pop and the consumer taking the batch up.
  size_t unfinished() const;
  void done();
  WhenFull policy() const { return policy_; }

 private:
  void take_locked(Batch& out);

  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::vector<Batch> slots_;
  size_t head_ = 0;  // index of the oldest
  size_t size_ = 0;
  size_t taken_ = 0;  // popped, not yet done()
  bool closed_ = false;
  WhenFull policy_;
  Notifier* consumer_;
  size_t coalesce_;
  QueueStats stats_;
};

}  // namespace edgeflow
