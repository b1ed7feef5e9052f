#include "cli/commands.h"

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "demo_config.h"
#include "core/queue.h"
#include "engine/pipeline.h"
#include "engine/pipeline_config.h"
#include "engine/runtime.h"
#include "sinks/event_json.h"
#include "sinks/sinks.h"
#include "sources/file_source.h"

namespace edgeflow::cli {

const std::string& DemoConfig() {
  static const std::string text(kDemoConfigYaml);
  return text;
}

namespace {

bool Load(const std::string& path, PipelineConfig* cfg, std::ostream& err) {
  config::Diagnostics diag(path.empty() ? "<built-in demo>" : path);
  bool ok = path.empty() ? ParsePipelineConfig(DemoConfig(), cfg, diag) : LoadPipelineConfig(path, cfg, diag);
  if (!ok) {
    err << diag.Format();
    err << diag.size() << (diag.size() == 1 ? " error" : " errors") << " in " << diag.file() << "\n";
  }
  return ok;
}

void SetupLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("edgeflow");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

// A component the replay command adds to a configuration, with an id that
// does not clash with the configuration's own.
ComponentDecl SyntheticDecl(const PipelineConfig& cfg, Kind kind, std::string id, const std::string& type,
                            std::any options) {
  ComponentDecl d;
  d.kind = kind;
  d.id = std::move(id);
  while (cfg.Find(d.id)) d.id.push_back('_');
  d.type = type;
  d.ctype = FindComponentType(kind, type);
  d.options = std::move(options);
  return d;
}

}  // namespace

int Check(const std::string& path, std::ostream& out, std::ostream& err) {
  PipelineConfig cfg;
  if (!Load(path, &cfg, err)) return kExitInvalidConfig;
  size_t n[3] = {0, 0, 0};
  for (const auto& c : cfg.components) ++n[static_cast<int>(c.kind)];
  out << path << ": ok (" << n[0] << " sources, " << n[1] << " processors, " << n[2] << " sinks)\n";
  return kExitOk;
}

int Replay(const ReplayOptions& opt, std::ostream& err) {
  PipelineConfig cfg;
  if (!Load(opt.config_path, &cfg, err)) return kExitInvalidConfig;
  // The recording replaces every source; whatever read from a source reads from it.
  std::set<std::string> source_ids;
  for (const auto& c : cfg.components)
    if (c.kind == Kind::kSource) source_ids.insert(c.id);
  PipelineConfig r;
  r.file = cfg.file;
  r.node = cfg.node;
  FileSourceConfig fcfg;
  FileSourceSchema().SetDefaults(fcfg);
  fcfg.path = opt.input_path;
  ComponentDecl src = SyntheticDecl(cfg, Kind::kSource, "replay", "file", fcfg);
  src.batch_size = 1024;
  r.components.push_back(src);
  FileSinkConfig scfg;
  FileSinkSchema().SetDefaults(scfg);
  scfg.path.assign(1, '-');  // stdout (assign: avoids a GCC 12 -Wrestrict false positive)
  if (!opt.emit_readings) scfg.include = {"aggregates", "alerts", "dead_letters"};
  ComponentDecl out = SyntheticDecl(cfg, Kind::kSink, "replay_stdout", "file", scfg);
  std::set<std::string> out_inputs;
  for (auto c : cfg.components) {
    if (c.kind == Kind::kSource) continue;
    std::vector<std::string> inputs;
    for (const auto& in : c.inputs) {
      std::string id = source_ids.count(in) ? src.id : in;
      if (std::find(inputs.begin(), inputs.end(), id) == inputs.end()) inputs.push_back(id);
    }
    c.inputs = inputs;
    if (c.kind == Kind::kSink) {
      out_inputs.insert(inputs.begin(), inputs.end());
      if (!opt.with_sinks) continue;
    }
    r.components.push_back(std::move(c));
  }
  out.inputs.assign(out_inputs.begin(), out_inputs.end());
  r.components.push_back(out);

  BuildContext ctx;
  ctx.as_fast_as_possible = true;
  ctx.node_id = r.node.id;
  ctx.data_dir = r.node.data_dir;
  auto built = Pipeline::Build(r, ctx);
  if (!built.ok()) {
    err << "replay: " << built.status().ToString() << "\n";
    return kExitError;
  }
  Pipeline& p = **built;
  uint64_t readings = 0, alerts = 0, opened = 0;
  Status sink_error;
  auto deliver = [&](size_t sink, const Batch& b) {
    if (p.sink_decl(sink).id == out.id) {
      for (const auto& a : b.alerts) opened += a.state == AlertState::kOpen;
      alerts += b.alerts.size();
    }
    Status st = p.sink(sink).Write(b);
    if (!st.ok() && sink_error.ok()) sink_error = st;
  };
  // The recording is parsed on a second thread and handed over in batches
  // through a bounded queue (as in the daemon); processors and sinks run here.
  StopToken stop;
  BatchQueue queue(16, WhenFull::kBlock);
  SourceContext sctx;
  sctx.clock = &SystemClock::Instance();
  sctx.stop = &stop;
  sctx.batch_size = 1024;
  sctx.emit = [&](Batch& b) { queue.push(b); };
  const auto t0 = std::chrono::steady_clock::now();
  Status st;
  std::thread reader([&] {
    st = p.source(0).Run(sctx);
    queue.close();
  });
  Batch batch;
  for (;;) {
    if (queue.pop_for(batch, std::chrono::milliseconds(100))) {
      readings += batch.readings.size();
      p.Process(0, batch, deliver);
    } else if (queue.closed() && queue.depth() == 0) {
      break;
    }
  }
  reader.join();
  p.Flush(deliver);
  for (size_t i = 0; i < p.num_sinks(); ++i) {
    Status f = p.sink(i).Flush();
    if (!f.ok() && sink_error.ok()) sink_error = f;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) {
    err << "replay: " << st.ToString() << "\n";
    return kExitError;
  }
  if (!sink_error.ok()) {
    err << "replay: sink error: " << sink_error.ToString() << "\n";
    return kExitError;
  }
  nlohmann::json summary = {{"summary",
                             {{"readings", readings},
                              {"alerts", alerts},
                              {"alerts_opened", opened},
                              {"seconds", secs},
                              {"readings_per_s", secs > 0 ? static_cast<double>(readings) / secs : 0.0}}}};
  std::fflush(stdout);
  std::cout << summary.dump() << std::endl;
  return kExitOk;
}

int Run(const std::string& config_path, const std::string& log_level) {
  PipelineConfig cfg;
  if (!Load(config_path, &cfg, std::cerr)) return kExitInvalidConfig;
  SetupLogging(log_level.empty() ? cfg.node.log_level : log_level);

  // Signals are taken synchronously by this thread; all others block them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  spdlog::info("edgeflow starting: node '{}', config {}", cfg.node.id, config_path.empty() ? "<built-in demo>" : config_path);
  auto runtime = std::make_unique<Runtime>(cfg, SystemClock::Instance());
  Status st = runtime->Start();
  if (!st.ok()) {
    spdlog::critical("cannot start: {}", st.ToString());
    return kExitError;
  }
  auto last_report = std::chrono::steady_clock::now();
  for (;;) {
    timespec timeout{0, 200'000'000};
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      if (config_path.empty()) {
        spdlog::warn("SIGHUP: running the built-in demo config, nothing to reload");
        continue;
      }
      PipelineConfig next;
      config::Diagnostics diag(config_path);
      if (!LoadPipelineConfig(config_path, &next, diag)) {
        spdlog::error("SIGHUP: new configuration rejected, keeping the running one:\n{}", diag.Format());
        continue;
      }
      spdlog::info("SIGHUP: configuration valid, draining the running pipeline");
      spdlog::set_level(spdlog::level::from_str(log_level.empty() ? next.node.log_level : log_level));
      runtime->Stop();  // drains queues and flushes windows and sinks: nothing buffered is lost
      auto fresh = std::make_unique<Runtime>(next, SystemClock::Instance());
      Status s = fresh->Start();
      if (!s.ok()) {
        spdlog::error("SIGHUP: new configuration failed to start ({}), restarting the previous one", s.ToString());
        fresh = std::make_unique<Runtime>(runtime->config(), SystemClock::Instance());
        s = fresh->Start();
        if (!s.ok()) {
          spdlog::critical("cannot restart the previous configuration: {}", s.ToString());
          return kExitError;
        }
      } else {
        spdlog::info("SIGHUP: configuration reloaded");
      }
      runtime = std::move(fresh);
      continue;
    }
    if (runtime->WaitFinished(std::chrono::milliseconds(0))) {
      spdlog::info("all sources finished");
      break;
    }
    if (std::chrono::steady_clock::now() - last_report > std::chrono::seconds(10)) {
      last_report = std::chrono::steady_clock::now();
      const auto t = runtime->Stats()["totals"];
      spdlog::info("status: {} events from sources, {} alerts, {} dead letters, {} events written by sinks, {} dropped, {} lost",
                   t["source_events"].get<uint64_t>(), t["alerts"].get<uint64_t>(), t["dead_letters"].get<uint64_t>(),
                   t["sink_events"].get<uint64_t>(), t["dropped_events"].get<uint64_t>(), t["lost_events"].get<uint64_t>());
    }
  }
  runtime->Stop();
  spdlog::info("final status: {}", runtime->Stats().dump());
  return kExitOk;
}

}  // namespace edgeflow::cli
