#pragma once
// The running daemon's engine: threads and queues around a Pipeline.
//
// Threads:
//   - one per source: Source::Run(), pushing batches into the source's queue;
//   - one engine thread: pops source queues, runs all processors, copies the
//     results into each sink's queue. With a single source there is no
//     engine thread and no source queue: the source's thread does this work;
//   - one per sink: pops its queue and calls Sink::Write (retrying retryable
//     errors), Tick about once a second, Flush at the end.
// Every queue is a BatchQueue with the component's declared when_full policy.
//
// Stop() is graceful: sources stop, everything already queued is processed,
// processors are flushed (open windows are emitted), sinks drain and flush.
#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "core/queue.h"
#include "engine/pipeline.h"

namespace edgeflow {

class Runtime {
 public:
  Runtime(PipelineConfig cfg, Clock& clock);
  ~Runtime();

  Status Start();
  // Asks sources to stop; returns at once. Wait()/Stop() finish the shutdown.
  void RequestStop();
  // Blocks until every source has finished and every sink has drained and
  // flushed, or `timeout` passes; returns true in the first case.
  bool WaitFinished(std::chrono::milliseconds timeout);
  // Graceful stop; safe to call more than once.
  void Stop();

  nlohmann::json Stats() const;
  // The running source with this id, or nullptr (valid until Stop()).
  Source* FindSource(const std::string& id);
  const PipelineConfig& config() const { return cfg_; }

 private:
  struct SinkWorker;
  // Copies each batch bound for a sink into that sink's queue.
  class SinkFanout {
   public:
    explicit SinkFanout(Runtime& rt);
    void operator()(size_t sink, const Batch& b);

   private:
    Runtime& rt_;
    std::vector<Batch> outgoing_;
    std::vector<EventMask> wants_;
  };
  void EngineLoop();
  void SinkLoop(SinkWorker& w);
  // Writes `b` on the calling (pipeline) thread when the sink allows it now;
  // false: queue it.
  bool WriteDirectly(SinkWorker& w, const Batch& b);

  PipelineConfig cfg_;
  Clock& clock_;
  std::unique_ptr<Pipeline> pipeline_;
  StopToken source_stop_;
  StopToken sink_stop_;  // only for abandoning retries at shutdown
  // When Stop() was called (steady clock, µs; 0: not yet). A sink whose writes
  // still fail kStopGrace later retries a few times only, so that it does not
  // hold a producer blocked on its full queue (and the stop) for ever. Once
  // the sink's queue is closed (the sources have finished) a failing batch
  // gets three tries (0.1, 0.2, 0.4 s apart) and later ones one each: a sink
  // that is down at a stop or reload (a cloud link out) holds it up for the
  // rest of the retry wait it is in (at most 5 s, after many failures) and
  // about a second more, and what it still had queued is counted lost. Sinks
  // that must lose nothing across that keep their data durably (uplink, sqlite).
  std::atomic<int64_t> stop_called_us_{0};
  Notifier engine_wake_;
  std::vector<std::unique_ptr<BatchQueue>> source_queues_;
  std::vector<std::thread> source_threads_;
  std::vector<std::unique_ptr<SinkWorker>> sinks_;
  std::thread engine_thread_;
  std::atomic<size_t> sources_running_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  size_t sinks_done_ = 0;  // guarded by done_mu_
  bool started_ = false;
  bool inline_ = false;  // single source: processors run on its thread
  bool stopped_ = false;
  TimeUs started_at_ = 0;
};

}  // namespace edgeflow
