#include "core/queue.h"

#include <utility>

namespace edgeflow {

const char* WhenFullName(WhenFull w) {
  switch (w) {
    case WhenFull::kBlock: return "block";
    case WhenFull::kDropOldest: return "drop_oldest";
    case WhenFull::kDropNewest: return "drop_newest";
  }
  return "block";
}

bool ParseWhenFull(std::string_view s, WhenFull* out) {
  if (s == "block") *out = WhenFull::kBlock;
  else if (s == "drop_oldest") *out = WhenFull::kDropOldest;
  else if (s == "drop_newest") *out = WhenFull::kDropNewest;
  else return false;
  return true;
}

BatchQueue::BatchQueue(size_t capacity, WhenFull policy, Notifier* consumer, size_t coalesce_events)
    : slots_(capacity == 0 ? 1 : capacity), policy_(policy), consumer_(consumer), coalesce_(coalesce_events) {
  stats_.capacity = slots_.size();
}

BatchQueue::~BatchQueue() {
  for (size_t i = 0; i < size_; ++i) slots_[(head_ + i) % slots_.size()].fail_deliveries("the pipeline stopped first");
}

bool BatchQueue::push(Batch& b) {
  const size_t events = b.events();
  {
    std::unique_lock lock(mu_);
    if (closed_) {
      b.fail_deliveries("the pipeline is stopping");
      b.clear();
      return false;
    }
    if (coalesce_ > 0 && size_ > 0) {
      Batch& tail = slots_[(head_ + size_ - 1) % slots_.size()];
      if (tail.events() + events <= coalesce_) {
        tail.append(b);
        b.clear();
        ++stats_.pushed_batches;
        stats_.pushed_events += events;
        lock.unlock();
        not_empty_.notify_one();
        if (consumer_) consumer_->notify();
        return true;
      }
    }
    if (size_ == slots_.size()) {
      switch (policy_) {
        case WhenFull::kBlock:
          ++stats_.blocked;
          not_full_.wait(lock, [&] { return size_ < slots_.size() || closed_; });
          if (closed_) {
            b.fail_deliveries("the pipeline is stopping");
            b.clear();
            return false;
          }
          break;
        case WhenFull::kDropNewest:
          ++stats_.dropped_batches;
          stats_.dropped_events += events;
          b.fail_deliveries("dropped: queue full (when_full: drop_newest)");
          b.clear();
          return false;
        case WhenFull::kDropOldest: {
          Batch& oldest = slots_[head_];
          ++stats_.dropped_batches;
          stats_.dropped_events += oldest.events();
          oldest.fail_deliveries("dropped: queue full (when_full: drop_oldest)");
          oldest.clear();
          head_ = (head_ + 1) % slots_.size();
          --size_;
          break;
        }
      }
    }
    Batch& slot = slots_[(head_ + size_) % slots_.size()];
    std::swap(slot, b);
    b.clear();
    ++size_;
    ++stats_.pushed_batches;
    stats_.pushed_events += events;
    if (size_ > stats_.high_water) stats_.high_water = size_;
  }
  not_empty_.notify_one();
  if (consumer_) consumer_->notify();
  return true;
}

void BatchQueue::take_locked(Batch& out) {
  out.clear();
  std::swap(out, slots_[head_]);
  head_ = (head_ + 1) % slots_.size();
  --size_;
  ++taken_;
}

bool BatchQueue::try_pop(Batch& out) {
  {
    std::lock_guard lock(mu_);
    if (size_ == 0) return false;
    take_locked(out);
  }
  not_full_.notify_one();
  return true;
}

bool BatchQueue::pop_for(Batch& out, std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mu_);
    if (!not_empty_.wait_for(lock, timeout, [&] { return size_ > 0 || closed_; })) return false;
    if (size_ == 0) return false;
    take_locked(out);
  }
  not_full_.notify_one();
  return true;
}

void BatchQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  not_full_.notify_all();
  not_empty_.notify_all();
  if (consumer_) consumer_->notify();
}

bool BatchQueue::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

QueueStats BatchQueue::stats() const {
  std::lock_guard lock(mu_);
  QueueStats s = stats_;
  s.depth = size_;
  return s;
}

size_t BatchQueue::depth() const {
  std::lock_guard lock(mu_);
  return size_;
}

size_t BatchQueue::unfinished() const {
  std::lock_guard lock(mu_);
  return size_ + taken_;
}

void BatchQueue::done() {
  std::lock_guard lock(mu_);
  if (taken_ > 0) --taken_;
}

}  // namespace edgeflow
