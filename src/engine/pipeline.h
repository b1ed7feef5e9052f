#pragma once
// A built pipeline: component instances wired as a DAG.
//
// Pipeline itself is single-threaded: Process() and Flush() must be called
// from one thread at a time (the engine thread, or the caller in replay).
// Counters are atomics so other threads may read them.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/component.h"
#include "engine/pipeline_config.h"

namespace edgeflow {

struct NodeCounters {
  std::atomic<uint64_t> in_events{0};
  std::atomic<uint64_t> out_events{0};
  std::atomic<uint64_t> batches{0};
  // Events this component created (processors forward what they receive, so
  // these are output minus input per kind).
  std::atomic<uint64_t> aggregates{0};
  std::atomic<uint64_t> alerts{0};
  std::atomic<uint64_t> dead_letters{0};
};

class Pipeline {
 public:
  using SinkFn = std::function<void(size_t sink_index, const Batch&)>;

  // Instantiates every component. Fails (without leaving threads or files
  // behind beyond what components opened) when any component fails to build.
  static Result<std::unique_ptr<Pipeline>> Build(const PipelineConfig& cfg, const BuildContext& base);

  size_t num_sources() const { return sources_.size(); }
  Source& source(size_t i) { return *sources_[i].source; }
  const ComponentDecl& source_decl(size_t i) const { return *nodes_[sources_[i].node]->decl; }
  size_t num_sinks() const { return sinks_.size(); }
  Sink& sink(size_t i) { return *sinks_[i].sink; }
  const ComponentDecl& sink_decl(size_t i) const { return *nodes_[sinks_[i].node]->decl; }

  // Runs `batch`, emitted by source `source_index`, through the processors and
  // hands each resulting batch bound for a sink to `deliver`.
  void Process(size_t source_index, const Batch& batch, const SinkFn& deliver);
  // Flushes every processor (upstream first) and delivers what they release.
  void Flush(const SinkFn& deliver);

  // Per-component counters, in declaration order.
  struct NodeInfo {
    const ComponentDecl* decl;
    const NodeCounters* counters;
  };
  std::vector<NodeInfo> nodes() const;
  // Ids of the nodes that feed at least one sink (replay prints their output).
  const PipelineConfig& config() const { return cfg_; }

 private:
  struct Node {
    const ComponentDecl* decl = nullptr;
    std::unique_ptr<Processor> processor;
    int sink_index = -1;
    std::vector<size_t> downstream;
    Batch out;
    NodeCounters counters;
  };
  struct SourceRef {
    size_t node;
    std::unique_ptr<Source> source;
  };
  struct SinkRef {
    size_t node;
    std::unique_ptr<Sink> sink;
  };

  explicit Pipeline(const PipelineConfig& cfg) : cfg_(cfg) {}
  void Deliver(size_t node, const Batch& in, const SinkFn& deliver);
  void Forward(Node& n, const Batch& out, const SinkFn& deliver);
  static void CountCreated(Node& n, const Batch& in, const Batch& out);

  PipelineConfig cfg_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<SourceRef> sources_;
  std::vector<SinkRef> sinks_;
  std::vector<size_t> topo_;  // processors, upstream first
};

}  // namespace edgeflow
