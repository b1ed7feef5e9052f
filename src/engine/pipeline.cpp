#include "engine/pipeline.h"

#include <map>

namespace edgeflow {

Result<std::unique_ptr<Pipeline>> Pipeline::Build(const PipelineConfig& cfg, const BuildContext& base) {
  std::unique_ptr<Pipeline> p(new Pipeline(cfg));
  std::map<std::string, size_t> index;
  for (const auto& decl : p->cfg_.components) {
    auto n = std::make_unique<Node>();
    n->decl = &decl;
    index[decl.id] = p->nodes_.size();
    p->nodes_.push_back(std::move(n));
  }
  for (size_t i = 0; i < p->nodes_.size(); ++i) {
    Node& n = *p->nodes_[i];
    const ComponentDecl& decl = *n.decl;
    BuildContext ctx = base;
    ctx.component_id = decl.id;
    ctx.component = Intern(decl.id);
    if (!decl.ctype) return Status::Invalid("component '" + decl.id + "' has no type");
    switch (decl.kind) {
      case Kind::kSource: {
        auto s = decl.ctype->make_source(decl.options, ctx);
        if (!s.ok()) return Status(s.status().code(), decl.id + ": " + s.status().message());
        p->sources_.push_back({i, std::move(s).value()});
        break;
      }
      case Kind::kProcessor: {
        auto s = decl.ctype->make_processor(decl.options, ctx);
        if (!s.ok()) return Status(s.status().code(), decl.id + ": " + s.status().message());
        n.processor = std::move(s).value();
        break;
      }
      case Kind::kSink: {
        auto s = decl.ctype->make_sink(decl.options, ctx);
        if (!s.ok()) return Status(s.status().code(), decl.id + ": " + s.status().message());
        n.sink_index = static_cast<int>(p->sinks_.size());
        p->sinks_.push_back({i, std::move(s).value()});
        break;
      }
    }
    for (const auto& in : decl.inputs) {
      auto it = index.find(in);
      if (it == index.end()) return Status::Invalid("component '" + decl.id + "' reads from unknown '" + in + "'");
      p->nodes_[it->second]->downstream.push_back(i);
    }
  }
  // Topological order of processors (the config loader rejected cycles).
  std::vector<int> state(p->nodes_.size(), 0);
  std::function<void(size_t)> visit = [&](size_t i) {
    if (state[i]) return;
    state[i] = 1;
    for (const auto& in : p->nodes_[i]->decl->inputs) visit(index[in]);
    if (p->nodes_[i]->processor) p->topo_.push_back(i);
  };
  for (size_t i = 0; i < p->nodes_.size(); ++i) visit(i);
  // The aggregate fields read anywhere downstream of each processor, so that
  // windows skip what nobody uses (the percentiles cost most).
  std::vector<int64_t> memo(p->nodes_.size(), -1);
  std::function<AggFieldSet(size_t)> needed = [&](size_t i) -> AggFieldSet {
    if (memo[i] >= 0) return static_cast<AggFieldSet>(memo[i]);
    AggFieldSet m = 0;
    for (size_t d : p->nodes_[i]->downstream) {
      const Node& dn = *p->nodes_[d];
      if (dn.sink_index >= 0) {
        if (p->sinks_[static_cast<size_t>(dn.sink_index)].sink->wants().aggregates) m |= kAllAggFields;
      } else if (dn.processor) {
        m |= dn.processor->AggregateFieldsUsed() | needed(d);  // what it reads, and what passes through it
      }
    }
    memo[i] = m;
    return m;
  };
  for (size_t i = 0; i < p->nodes_.size(); ++i)
    if (p->nodes_[i]->processor) p->nodes_[i]->processor->SetAggregateFieldsNeeded(needed(i));
  return p;
}

void Pipeline::Forward(Node& n, const Batch& out, const SinkFn& deliver) {
  if (out.empty()) return;
  n.counters.out_events.fetch_add(out.events(), std::memory_order_relaxed);
  for (size_t d : n.downstream) Deliver(d, out, deliver);
}

void Pipeline::Deliver(size_t node, const Batch& in, const SinkFn& deliver) {
  Node& n = *nodes_[node];
  n.counters.in_events.fetch_add(in.events(), std::memory_order_relaxed);
  n.counters.batches.fetch_add(1, std::memory_order_relaxed);
  if (n.sink_index >= 0) {
    deliver(static_cast<size_t>(n.sink_index), in);
    return;
  }
  n.out.clear();
  n.processor->Process(in, n.out);
  CountCreated(n, in, n.out);
  n.out.deliveries = in.deliveries;
  Forward(n, n.out, deliver);
  n.out.deliveries.clear();  // released now, not at the next batch
}

void Pipeline::CountCreated(Node& n, const Batch& in, const Batch& out) {
  auto created = [](size_t o, size_t i) { return o > i ? o - i : 0; };
  n.counters.aggregates.fetch_add(created(out.aggregates.size(), in.aggregates.size()), std::memory_order_relaxed);
  n.counters.alerts.fetch_add(created(out.alerts.size(), in.alerts.size()), std::memory_order_relaxed);
  n.counters.dead_letters.fetch_add(created(out.dead_letters.size(), in.dead_letters.size()), std::memory_order_relaxed);
}

void Pipeline::Process(size_t source_index, const Batch& batch, const SinkFn& deliver) {
  Node& n = *nodes_[sources_[source_index].node];
  CountCreated(n, Batch{}, batch);
  n.counters.batches.fetch_add(1, std::memory_order_relaxed);
  Forward(n, batch, deliver);
}

void Pipeline::Flush(const SinkFn& deliver) {
  for (size_t i : topo_) {
    Node& n = *nodes_[i];
    Batch out;
    n.processor->Flush(out);
    CountCreated(n, Batch{}, out);
    Forward(n, out, deliver);
  }
}

std::vector<Pipeline::NodeInfo> Pipeline::nodes() const {
  std::vector<NodeInfo> out;
  for (const auto& n : nodes_) out.push_back({n->decl, &n->counters});
  return out;
}

}  // namespace edgeflow
