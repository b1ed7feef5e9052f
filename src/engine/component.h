#pragma once
// The three component roles and what the engine promises them.
//
// Lifecycle: a component's options are parsed and validated from YAML with no
// side effects (config::Schema); then Create() builds the runtime object, which
// may open files or devices. Errors at Create() are returned as Status.
//
// Threads: a Source's Run() is called on a thread of its own (or inline by
// `edgeflow replay`). All Processors of a pipeline run on one engine thread, so
// they keep per-series state without locks. Each Sink is called from its own
// thread. No component calls another directly: batches flow through the engine.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/reading.h"
#include "core/status.h"

namespace edgeflow {

// A component that another one's options name besides `inputs` (a rule's
// `window:`): it must exist and be of `type`.
struct ComponentReference {
  std::string id, type;
  std::string what;  // who refers, for the message ("rule 'hot'")
};

struct BuildContext {
  Clock* clock = &SystemClock::Instance();
  std::string node_id = "edgeflow";
  std::string data_dir = "data";
  std::string component_id;
  Symbol component = kNoSymbol;
  // When set (by `edgeflow replay`), sources read as fast as possible.
  bool as_fast_as_possible = false;
};

// Given to Source::Run. emit() hands a filled batch to the engine and returns
// an empty batch (with capacity) in its place; it may block under back-pressure.
struct SourceContext {
  Clock* clock = nullptr;
  StopToken* stop = nullptr;
  size_t batch_size = 512;
  std::function<void(Batch&)> emit;
  bool stopping() const { return stop->stop_requested(); }
};

class Source {
 public:
  virtual ~Source() = default;
  // Produces readings until the input is exhausted (finite sources) or stop is
  // requested. Returns a non-OK status only for errors that end the source.
  virtual Status Run(SourceContext& ctx) = 0;
  // Source-specific gauges and counters for the status API and /metrics
  // (e.g. {"connected", 1}). Called from other threads: read atomics only.
  virtual void Metrics(std::vector<std::pair<std::string, double>>& /*out*/) const {}
};

class Processor {
 public:
  virtual ~Processor() = default;
  // Transforms `in` into `out` (appending; `out` arrives cleared). Events the
  // processor does not consume are forwarded unchanged.
  virtual void Process(const Batch& in, Batch& out) = 0;
  // Emits state held back (open windows, pending aggregates). Called on
  // shutdown and before a reload replaces the pipeline.
  virtual void Flush(Batch& /*out*/) {}
  // The aggregate fields this processor reads from its input; all unless it
  // says otherwise.
  virtual AggFieldSet AggregateFieldsUsed() const { return kAllAggFields; }
  // Tells a processor which fields of the aggregates it emits anything
  // downstream reads (a sink that takes aggregates reads all); it may leave
  // the others NaN. Called once, after the pipeline is built.
  virtual void SetAggregateFieldsNeeded(AggFieldSet /*fields*/) {}
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Writes a batch. A retryable error makes the engine retry the same batch.
  virtual Status Write(const Batch& batch) = 0;
  // Called every tick_interval_us() of processing time (about once per second
  // by default), e.g. for retention or timed outputs.
  virtual Status Tick(TimeUs /*now*/) { return Status::Ok(); }
  virtual TimeUs tick_interval_us() const { return kUsPerSec; }
  // True when Write() would neither block nor fail now (an MQTT publish on a
  // connected socket): the engine may then call Write() from the pipeline
  // thread while nothing waits in the sink's queue, saving the hand-off to the
  // sink's thread. Write(), Tick(), Flush() and this are never called
  // concurrently.
  virtual bool CanWriteDirectly() const { return false; }
  // Makes everything written durable; called at shutdown.
  virtual Status Flush() { return Status::Ok(); }
  // The kinds of events this sink uses; the engine queues only those for it.
  virtual EventMask wants() const { return EventMask{}; }
  // Sink-specific gauges and counters for the status API and /metrics, e.g.
  // {"outbox_messages", 12}. Called from other threads: read atomics only.
  virtual void Metrics(std::vector<std::pair<std::string, double>>& /*out*/) const {}
};

}  // namespace edgeflow
