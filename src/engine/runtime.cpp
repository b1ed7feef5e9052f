#include "engine/runtime.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

namespace edgeflow {

namespace {

// How long a stopping pipeline's sinks keep retrying as usual (see stop_called_us_).
constexpr int64_t kStopGraceUs = 5 * kUsPerSec;

}  // namespace

struct Runtime::SinkWorker {
  size_t index = 0;
  std::unique_ptr<BatchQueue> queue;
  std::thread thread;
  std::atomic<uint64_t> written_events{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> lost_events{0};
  std::atomic<uint64_t> direct_batches{0};  // written from the pipeline thread
  // Held around every call into the sink, by its thread or a direct write.
  std::mutex write_mu;
};

Runtime::Runtime(PipelineConfig cfg, Clock& clock) : cfg_(std::move(cfg)), clock_(clock) {}

Runtime::~Runtime() { Stop(); }

Status Runtime::Start() {
  BuildContext ctx;
  ctx.clock = &clock_;
  ctx.node_id = cfg_.node.id;
  ctx.data_dir = cfg_.node.data_dir;
  auto built = Pipeline::Build(cfg_, ctx);
  if (!built.ok()) return built.status();
  pipeline_ = std::move(built).value();
  started_at_ = clock_.now();

  for (size_t i = 0; i < pipeline_->num_sinks(); ++i) {
    auto w = std::make_unique<SinkWorker>();
    w->index = i;
    const auto& q = pipeline_->sink_decl(i).queue;
    // Small batches coalesce in a sink's queue (up to 4096 events per slot).
    w->queue = std::make_unique<BatchQueue>(static_cast<size_t>(q.capacity), q.when_full, nullptr, 4096);
    sinks_.push_back(std::move(w));
  }
  for (auto& w : sinks_) {
    SinkWorker* wp = w.get();
    w->thread = std::thread([this, wp] { SinkLoop(*wp); });
  }
  for (size_t i = 0; i < pipeline_->num_sources(); ++i) {
    const auto& decl = pipeline_->source_decl(i);
    source_queues_.push_back(
        std::make_unique<BatchQueue>(static_cast<size_t>(decl.queue.capacity), decl.queue.when_full, &engine_wake_));
  }
  sources_running_ = pipeline_->num_sources();
  // A single source needs no engine thread: its thread runs the processors
  // and fills the sink queues itself (one hand-off less per batch).
  inline_ = pipeline_->num_sources() == 1;
  if (!inline_) engine_thread_ = std::thread([this] { EngineLoop(); });
  for (size_t i = 0; i < pipeline_->num_sources(); ++i) {
    source_threads_.emplace_back([this, i] {
      const auto& decl = pipeline_->source_decl(i);
      SourceContext sctx;
      sctx.clock = &clock_;
      sctx.stop = &source_stop_;
      sctx.batch_size = static_cast<size_t>(decl.batch_size);
      BatchQueue* q = source_queues_[i].get();
      SinkFanout fan(*this);
      const Pipeline::SinkFn fanout = std::ref(fan);  // built once: no allocation per batch
      if (inline_) {
        sctx.emit = [this, &fanout](Batch& b) {
          pipeline_->Process(0, b, fanout);
          b.clear();
        };
      } else {
        sctx.emit = [q](Batch& b) { q->push(b); };
      }
      Status st = pipeline_->source(i).Run(sctx);
      if (!st.ok()) spdlog::error("source '{}' stopped: {}", decl.id, st.ToString());
      else spdlog::info("source '{}' finished", decl.id);
      if (inline_) {
        pipeline_->Flush(fanout);
        for (auto& w : sinks_) w->queue->close();
      }
      q->close();
      sources_running_.fetch_sub(1);
      engine_wake_.notify();
    });
  }
  started_ = true;
  spdlog::info("pipeline started: {} sources, {} sinks", pipeline_->num_sources(), pipeline_->num_sinks());
  return Status::Ok();
}

Runtime::SinkFanout::SinkFanout(Runtime& rt) : rt_(rt), outgoing_(rt.sinks_.size()) {
  for (size_t i = 0; i < rt.sinks_.size(); ++i) wants_.push_back(rt.pipeline_->sink(i).wants());
}

void Runtime::SinkFanout::operator()(size_t sink, const Batch& b) {
  // One reusable batch per sink (the queue swaps its buffers back), holding
  // only the kinds of events the sink uses.
  Batch& o = outgoing_[sink];
  o.clear();
  AppendSelected(o, b, wants_[sink]);
  if (!o.empty() && !rt_.WriteDirectly(*rt_.sinks_[sink], o)) rt_.sinks_[sink]->queue->push(o);
  o.deliveries.clear();
}

bool Runtime::WriteDirectly(SinkWorker& w, const Batch& b) {
  // Only when the sink's thread is idle and nothing waits before this batch —
  // neither queued nor taken by the sink's thread and not yet written (it
  // pops before it locks; or it holds a failed batch between retries) — so
  // order is kept; a failed write goes to the queue, and the sink's thread
  // retries it with backoff.
  std::unique_lock l(w.write_mu, std::try_to_lock);
  if (!l.owns_lock() || w.queue->unfinished() != 0 || w.queue->closed()) return false;
  Sink& sink = pipeline_->sink(w.index);
  if (!sink.CanWriteDirectly()) return false;
  if (!sink.Write(b).ok()) {
    w.write_errors.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  w.written_events.fetch_add(b.events(), std::memory_order_relaxed);
  w.direct_batches.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Runtime::EngineLoop() {
  Batch batch;
  SinkFanout fan(*this);
  const Pipeline::SinkFn deliver = std::ref(fan);
  for (;;) {
    uint64_t gen = engine_wake_.generation();
    bool any = false;
    for (size_t i = 0; i < source_queues_.size(); ++i) {
      // Bounded burst per queue so one busy source cannot starve the others.
      for (int k = 0; k < 16 && source_queues_[i]->try_pop(batch); ++k) {
        pipeline_->Process(i, batch, deliver);
        batch.deliveries.clear();
        any = true;
      }
    }
    if (any) continue;
    if (sources_running_.load() == 0) {
      bool empty = true;
      for (auto& q : source_queues_) empty &= q->depth() == 0;
      if (empty) break;
      continue;
    }
    engine_wake_.wait(gen, std::chrono::milliseconds(200));
  }
  pipeline_->Flush(deliver);
  for (auto& w : sinks_) w->queue->close();
}

void Runtime::SinkLoop(SinkWorker& w) {
  Sink& sink = pipeline_->sink(w.index);
  const std::string& id = pipeline_->sink_decl(w.index).id;
  Batch batch;
  bool gave_up_at_stop = false;  // once one batch failed for good at shutdown, later ones get one try
  const TimeUs tick_us = std::clamp<TimeUs>(sink.tick_interval_us(), 1000, kUsPerSec);
  const auto wait = std::chrono::milliseconds(std::min<TimeUs>(tick_us, 100'000) / 1000);
  TimeUs next_tick = clock_.now() + tick_us;
  for (;;) {
    bool got = w.queue->pop_for(batch, wait);
    if (got) {
      int attempt = 0;
      for (;;) {
        std::unique_lock l(w.write_mu);
        Status st = sink.Write(batch);
        l.unlock();
        if (st.ok()) {
          w.written_events.fetch_add(batch.events(), std::memory_order_relaxed);
          batch.deliveries.clear();  // written: acknowledge now
          break;
        }
        w.write_errors.fetch_add(1);
        // Retry retryable errors with backoff; at shutdown give up after a few
        // tries (the producer may be blocked on this sink's full queue: only
        // the sink can make room, and the stop waits for the producer).
        const int64_t stop_at = stop_called_us_.load(std::memory_order_relaxed);
        const bool shutting_down = w.queue->closed() || (stop_at > 0 && MonotonicUs() - stop_at > kStopGraceUs);
        if (!st.retryable() || (shutting_down && (attempt >= 3 || gave_up_at_stop)) || attempt >= 1000) {
          gave_up_at_stop |= shutting_down;
          spdlog::error("sink '{}': write failed, {} events lost: {}", id, batch.events(), st.ToString());
          w.lost_events.fetch_add(batch.events());
          batch.fail_deliveries("sink '" + id + "' failed: " + st.ToString());
          batch.deliveries.clear();
          break;
        }
        ++attempt;
        w.retries.fetch_add(1);
        spdlog::warn("sink '{}': write failed (attempt {}), retrying: {}", id, attempt, st.ToString());
        auto backoff = std::min<int64_t>(5'000'000, 50'000LL << std::min(attempt, 7));
        clock_.sleep_until(clock_.now() + backoff, sink_stop_);
      }
      w.queue->done();  // written or given up: direct writes may go again
    } else if (w.queue->closed() && w.queue->depth() == 0) {
      break;
    }
    TimeUs now = clock_.now();
    if (now >= next_tick) {
      next_tick = now + tick_us;
      std::lock_guard l(w.write_mu);
      Status st = sink.Tick(now);
      if (!st.ok()) spdlog::warn("sink '{}': {}", id, st.ToString());
    }
  }
  Status st;
  {
    std::lock_guard l(w.write_mu);
    st = sink.Flush();
  }
  if (!st.ok()) spdlog::error("sink '{}': flush failed: {}", id, st.ToString());
  {
    std::lock_guard l(done_mu_);
    ++sinks_done_;
  }
  done_cv_.notify_all();
}

void Runtime::RequestStop() { source_stop_.request_stop(); }

bool Runtime::WaitFinished(std::chrono::milliseconds timeout) {
  if (!started_) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock l(done_mu_);
  return done_cv_.wait_until(l, deadline, [&] { return sinks_done_ == sinks_.size(); });
}

void Runtime::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stop_called_us_ = MonotonicUs();
  source_stop_.request_stop();
  for (auto& t : source_threads_) t.join();
  if (engine_thread_.joinable()) engine_thread_.join();
  for (auto& w : sinks_) w->thread.join();
  spdlog::info("pipeline stopped");
}

Source* Runtime::FindSource(const std::string& id) {
  if (!pipeline_) return nullptr;
  for (size_t i = 0; i < pipeline_->num_sources(); ++i)
    if (pipeline_->source_decl(i).id == id) return &pipeline_->source(i);
  return nullptr;
}

nlohmann::json Runtime::Stats() const {
  nlohmann::json j;
  j["node"] = cfg_.node.id;
  j["uptime_secs"] = static_cast<double>(clock_.now() - started_at_) / 1e6;
  nlohmann::json comps = nlohmann::json::object();
  if (!pipeline_) return j;
  for (const auto& n : pipeline_->nodes()) {
    nlohmann::json c;
    c["kind"] = KindName(n.decl->kind);
    c["type"] = n.decl->type;
    c["in_events"] = n.counters->in_events.load();
    c["out_events"] = n.counters->out_events.load();
    c["batches"] = n.counters->batches.load();
    if (n.decl->kind != Kind::kSink) {
      c["created"] = {{"aggregates", n.counters->aggregates.load()},
                      {"alerts", n.counters->alerts.load()},
                      {"dead_letters", n.counters->dead_letters.load()}};
    }
    comps[n.decl->id] = c;
  }
  auto queue_json = [](const QueueStats& s) {
    return nlohmann::json{{"depth", s.depth},           {"capacity", s.capacity},
                          {"high_water", s.high_water}, {"pushed_events", s.pushed_events},
                          {"dropped_batches", s.dropped_batches}, {"dropped_events", s.dropped_events},
                          {"blocked", s.blocked}};
  };
  for (size_t i = 0; i < pipeline_->num_sources(); ++i) {
    std::vector<std::pair<std::string, double>> metrics;
    pipeline_->source(i).Metrics(metrics);
    for (const auto& [name, value] : metrics) comps[pipeline_->source_decl(i).id]["metrics"][name] = value;
  }
  for (size_t i = 0; i < source_queues_.size() && !inline_; ++i) {
    auto& c = comps[pipeline_->source_decl(i).id];
    c["queue"] = queue_json(source_queues_[i]->stats());
    c["queue"]["when_full"] = WhenFullName(source_queues_[i]->policy());
  }
  for (const auto& w : sinks_) {
    auto& c = comps[pipeline_->sink_decl(w->index).id];
    c["queue"] = queue_json(w->queue->stats());
    c["queue"]["when_full"] = WhenFullName(w->queue->policy());
    c["written_events"] = w->written_events.load();
    c["write_errors"] = w->write_errors.load();
    c["retries"] = w->retries.load();
    c["lost_events"] = w->lost_events.load();
    c["direct_batches"] = w->direct_batches.load();
    std::vector<std::pair<std::string, double>> metrics;
    pipeline_->sink(w->index).Metrics(metrics);
    for (const auto& [name, value] : metrics) c["metrics"][name] = value;
  }
  j["components"] = comps;
  // Totals for a one-line summary.
  uint64_t readings = 0, alerts = 0, dead = 0, stored = 0, dropped = 0, lost = 0;
  for (const auto& n : pipeline_->nodes()) {
    if (n.decl->kind == Kind::kSource) readings += n.counters->out_events.load();
    alerts += n.counters->alerts.load();
    dead += n.counters->dead_letters.load();
  }
  for (const auto& q : source_queues_) dropped += q->stats().dropped_events;
  for (const auto& w : sinks_) {
    stored += w->written_events.load();
    dropped += w->queue->stats().dropped_events;
    lost += w->lost_events.load();
  }
  j["totals"] = {{"source_events", readings}, {"alerts", alerts},        {"dead_letters", dead},
                 {"sink_events", stored},     {"dropped_events", dropped}, {"lost_events", lost}};
  return j;
}

}  // namespace edgeflow
