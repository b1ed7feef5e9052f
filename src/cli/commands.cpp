#include "cli/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "demo_config.h"
#include "core/queue.h"
#include "engine/pipeline.h"
#include "engine/pipeline_config.h"
#include "engine/runtime.h"
#include "api/remote_control.h"
#include "cli/service_notify.h"
#include "api/server.h"
#include "core/base64.h"
#include "core/files.h"
#include "ml/registry.h"
#include "processors/inference.h"
#include "edgeflow/version.h"
#include "processors/rules.h"
#include "sources/ingest_source.h"
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

}  // namespace

void SetupLogging(const std::string& level) {
  auto logger = spdlog::get("edgeflow");
  if (!logger) logger = spdlog::stderr_color_mt("edgeflow");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

namespace {

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

namespace {

// The sqlite store the API reads: the first `sqlite` sink's database.
std::string StorePath(const PipelineConfig& cfg) {
  for (const auto& c : cfg.components) {
    if (c.kind != Kind::kSink || c.type != "sqlite") continue;
    return SqliteStorePath(std::any_cast<const SqliteSinkConfig&>(c.options), cfg.node.data_dir);
  }
  return "";
}

std::string RulesOverridePath(const PipelineConfig& cfg) {
  return (std::filesystem::path(cfg.node.data_dir) / "rules-override.json").string();
}

// Applies a rules document {"<rules processor id>": [rule, ...], ...} to a
// copy of `cfg`. Every problem is reported in `diag`; `out` is only valid when
// the result is true.
bool ApplyRules(const PipelineConfig& cfg, const std::string& body, PipelineConfig* out, config::Diagnostics& diag) {
  YAML::Node doc;
  if (!config::LoadUntrustedYaml(body, &doc, diag, "syntax error")) return false;
  if (!doc.IsMap()) {
    diag.Error(doc, "expected an object: {\"<rules processor id>\": [rules...]}");
    return false;
  }
  *out = cfg;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string id = it->first.Scalar();
    ComponentDecl* target = nullptr;
    for (auto& c : out->components)
      if (c.id == id && c.kind == Kind::kProcessor && c.type == "rules") target = &c;
    if (!target) {
      diag.Error(it->first, "'" + id + "' is not a rules processor of the running configuration");
      continue;
    }
    YAML::Node wrapped;
    wrapped["rules"] = it->second;
    RulesConfig rc;
    if (!it->second.IsSequence()) {
      diag.Error(it->second, "'" + id + "' must map to a list of rules");
      continue;
    }
    if (RulesSchema().Parse(wrapped, rc, diag)) target->options = rc;
  }
  if (diag.ok()) CheckReferences(*out, diag);
  return diag.ok();
}

nlohmann::json RulesJson(const PipelineConfig& cfg) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& c : cfg.components)
    if (c.kind == Kind::kProcessor && c.type == "rules")
      j[c.id] = nlohmann::json::parse(RulesToJson(std::any_cast<const RulesConfig&>(c.options)));
  return j;
}

// The running daemon: the runtime, its configuration and the API. Reloads
// (SIGHUP, PUT /api/v1/rules) are serialized; readers take the runtime
// under the lock.
class Daemon {
 public:
  explicit Daemon(std::string path) : path_(std::move(path)) {}

  Status Start(PipelineConfig cfg) {
    std::lock_guard l(mu_);
    ApplyOverride(&cfg);
    auto rt = std::make_shared<Runtime>(cfg, SystemClock::Instance());
    EF_RETURN_IF_ERROR(rt->Start());
    runtime_ = rt;
    return Status::Ok();
  }

  Status StartRemote() {
    const PipelineConfig& cfg = runtime_->config();
    if (!cfg.remote.enabled) return Status::Ok();
    RemoteControl::Hooks hooks;
    hooks.put_rules = [this](const std::string& body, std::string* errors) { return PutRules(body, errors); };
    hooks.put_config = [this](const std::string& text, std::string* errors) { return PutConfig(text, errors); };
    hooks.model = [this](const nlohmann::json& body) { return ModelCommand(ModelsDirOf(Current()->config()), body); };
    auto r = RemoteControl::Start(cfg.remote, cfg.node.id, std::move(hooks), SystemClock::Instance());
    if (!r.ok()) return r.status();
    remote_ = std::move(r).value();
    return Status::Ok();
  }

  // A `model` command from the cloud: deploy (live or shadow), promote, roll back.
  static Status ModelCommand(const std::string& dir, const nlohmann::json& b) {
    if (!b.is_object() || !b.contains("name") || !b["name"].is_string())
      return Status::Invalid("a model command's body has the model's \"name\"");
    if (!ml::ValidModelName(b["name"].get<std::string>()))
      return Status::Invalid("a model's name is a letter or digit, then letters, digits, '.', '_' or '-' (64 at most)");
    if (b.contains("action") && !b["action"].is_string())
      return Status::Invalid("a model command's action is live, shadow, promote or rollback (a string)");
    const std::string action = b.value("action", "live");
    auto slot = ml::Slot(dir, b["name"].get<std::string>());
    (void)slot->EnsureLoaded();  // the live version from disk, so that it can be rolled back to
    if (action == "promote") return slot->Promote();
    if (action == "rollback") return slot->Rollback("requested by a cloud command");
    if (action != "live" && action != "shadow")
      return Status::Invalid("a model command's action is live, shadow, promote or rollback");
    if (!b.contains("manifest") || !b["manifest"].is_string() || !b.contains("model_base64") ||
        !b["model_base64"].is_string())
      return Status::Invalid("deploying a model takes \"manifest\" (YAML text) and \"model_base64\"");
    std::string bytes;
    if (!Base64Decode(b["model_base64"].get<std::string>(), &bytes)) return Status::Invalid("model_base64 is not base64");
    return slot->Deploy(b["manifest"].get<std::string>(), bytes, action == "shadow");
  }

  // Where deployed models live: the first inference stage's models_dir, or <data_dir>/models.
  static std::string ModelsDirOf(const PipelineConfig& cfg) {
    for (const auto& c : cfg.components)
      if (c.kind == Kind::kProcessor && c.type == "inference")
        return ModelsDir(std::any_cast<const InferenceConfig&>(c.options).models_dir, cfg.node.data_dir);
    return ModelsDir("", cfg.node.data_dir);
  }

  Status StartApi() {
    const PipelineConfig& cfg = runtime_->config();
    if (!cfg.api.enabled) return Status::Ok();
    ApiServer::Hooks hooks;
    hooks.status = [this] {
      nlohmann::json j = Current()->Stats();
      // uptime_secs is the running pipeline's (a reload or rules change restarts it and its counters).
      j["process_uptime_secs"] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      return j;
    };
    hooks.store_path = [this] { return StorePath(Current()->config()); };
    // The source is handed out with its pipeline: a request still submitting
    // to it keeps that pipeline alive across a reload or rules change.
    hooks.ingest = [this](const std::string& id) -> std::shared_ptr<IngestSource> {
      auto rt = Current();
      IngestSource* found = nullptr;
      for (const auto& c : rt->config().components) {
        if (c.kind != Kind::kSource || c.type != "ingest" || (!id.empty() && c.id != id)) continue;
        if (found) return nullptr;  // several: the request must name one
        found = dynamic_cast<IngestSource*>(rt->FindSource(c.id));
      }
      if (!found) return nullptr;
      return std::shared_ptr<IngestSource>(rt, found);
    };
    hooks.get_rules = [this] { return RulesJson(Current()->config()); };
    hooks.put_rules = [this](const std::string& body, std::string* errors) { return PutRules(body, errors); };
    hooks.models_dir = [this] { return ModelsDirOf(Current()->config()); };
    auto api = ApiServer::Start(cfg.api, cfg.node.data_dir, std::move(hooks), SystemClock::Instance());
    if (!api.ok()) return api.status();
    api_ = std::move(api).value();
    spdlog::info("API listening on {}://{}:{}", cfg.api.tls_cert.empty() ? "http" : "https", cfg.api.listen, api_->port());
    if (api_->token_created()) {
      // Printed once, at creation; afterwards it is only in the file (mode 0600).
      std::printf("API token (saved in %s): %s\n",
                  (cfg.api.token_file.empty() ? (std::filesystem::path(cfg.node.data_dir) / "api-token").string()
                                              : cfg.api.token_file).c_str(),
                  api_->token().c_str());
      std::fflush(stdout);
    }
    const std::string host = cfg.api.listen == "0.0.0.0" ? "127.0.0.1" : cfg.api.listen;
    std::printf("Dashboard: %s://%s:%d/ui/\n", cfg.api.tls_cert.empty() ? "http" : "https", host.c_str(), api_->port());
    std::fflush(stdout);
    return Status::Ok();
  }

  std::shared_ptr<Runtime> Current() {
    std::lock_guard l(mu_);
    return runtime_;
  }

  // A reload (SIGHUP) of the configuration file, with the API's rules on top.
  Status Reload(PipelineConfig next) {
    std::lock_guard change(change_mu_);
    return Replace(std::move(next), true);
  }

  void Stop() {
    api_.reset();
    std::lock_guard l(mu_);
    if (runtime_) runtime_->Stop();
  }

 private:
  // Replaces the running pipeline with `next` (drained first: nothing buffered
  // is lost). Falls back to the previous configuration when `next` fails.
  // Callers hold change_mu_: each change starts from the configuration the
  // previous one left.
  Status Replace(PipelineConfig next, bool apply_override) {
    std::lock_guard l(mu_);
    if (apply_override) ApplyOverride(&next);
    const PipelineConfig previous = runtime_->config();
    runtime_->Stop();
    auto fresh = std::make_shared<Runtime>(next, SystemClock::Instance());
    Status st = fresh->Start();
    if (!st.ok()) {
      spdlog::error("new configuration failed to start ({}), restarting the previous one", st.ToString());
      fresh = std::make_shared<Runtime>(previous, SystemClock::Instance());
      Status again = fresh->Start();
      if (!again.ok()) return Status::Internal("cannot restart the previous configuration: " + again.ToString());
      runtime_ = fresh;
      return st;
    }
    runtime_ = fresh;
    return Status::Ok();
  }

  // Rules changed through the API persist in the data directory and apply
  // on top of the file's rules at every start and reload.
  void ApplyOverride(PipelineConfig* cfg) {
    const std::string path = RulesOverridePath(*cfg);
    if (!std::filesystem::exists(path)) return;
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    PipelineConfig patched;
    config::Diagnostics d(path);
    if (ApplyRules(*cfg, ss.str(), &patched, d)) {
      *cfg = std::move(patched);
      spdlog::info("rules from {} applied", path);
    } else {
      spdlog::error("ignoring {}:\n{}", path, d.Format());
    }
  }

  // Replaces the whole configuration file (a remote `config` command): every
  // error reported and nothing changed on error; the node's identity and data
  // directory stay; the file is replaced atomically (the old one kept as
  // `<file>.previous`); rules overrides from the API give way to the new file.
  Status PutConfig(const std::string& text, std::string* errors) {
    std::lock_guard change(change_mu_);
    if (path_.empty())
      return Status::FailedPrecondition("this node runs the built-in demo configuration: there is no file to replace");
    PipelineConfig next;
    config::Diagnostics d("config");
    if (!ParsePipelineConfig(text, &next, d)) {
      *errors = d.Format();
      return Status::Invalid(std::to_string(d.size()) + (d.size() == 1 ? " error" : " errors") + "; nothing changed");
    }
    const auto rt = Current();
    const PipelineConfig& cur = rt->config();
    if (next.node.id != cur.node.id || next.node.data_dir != cur.node.data_dir)
      return Status::Invalid("node.id and node.data_dir cannot be changed remotely; nothing changed");
    // The new file goes in place before the switch (a crash during it restarts
    // with the new configuration); when the new pipeline does not start, the
    // old file and the rules overrides are put back with the old pipeline.
    auto old_text = ReadWholeFile(path_);
    if (!old_text.ok()) return old_text.status();
    const std::string override_path = RulesOverridePath(next);
    auto old_override = ReadWholeFile(override_path);  // absent: nothing to put back
    EF_RETURN_IF_ERROR(WriteFileAtomically(path_, text, path_ + ".previous"));
    std::error_code ec;
    std::filesystem::remove(override_path, ec);
    spdlog::info("remote config: valid, replacing the configuration (pipeline drained first); api and remote "
                 "changes take effect at the next start");
    Status st = Replace(next, false);
    if (st.ok()) return st;
    Status back = WriteFileAtomically(path_, *old_text);
    if (back.ok() && old_override.ok()) back = WriteFileAtomically(override_path, *old_override);
    if (!back.ok()) spdlog::error("remote config: cannot put the previous file back: {}", back.ToString());
    return Status(st.code(), st.message() + "; the previous configuration runs again" +
                                 (back.ok() ? " and its file is back" : ""));
  }

  Status PutRules(const std::string& body, std::string* errors) {
    std::lock_guard change(change_mu_);  // two changes at once: the second starts from the first's result
    auto rt = Current();
    PipelineConfig next;
    config::Diagnostics d("request");
    if (!ApplyRules(rt->config(), body, &next, d)) {
      *errors = d.Format();
      return Status::Invalid(std::to_string(d.size()) + (d.size() == 1 ? " error" : " errors") + "; nothing changed");
    }
    // Persist first (write, fsync, rename): a crash leaves the old or the new file, never half of one.
    const std::string path = RulesOverridePath(next);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    // The file as it is: merged with the change, and put back if the change does not start.
    const bool had_override = std::filesystem::exists(path);
    auto old_override = ReadWholeFile(path);
    if (had_override && !old_override.ok()) return old_override.status();
    nlohmann::json merged = had_override ? nlohmann::json::parse(*old_override, nullptr, false) : nlohmann::json::object();
    if (!merged.is_object()) merged = nlohmann::json::object();
    const nlohmann::json replaced = RulesJson(next);
    const YAML::Node doc = YAML::Load(body);  // parsed successfully above
    for (auto it = doc.begin(); it != doc.end(); ++it) merged[it->first.Scalar()] = replaced[it->first.Scalar()];
    EF_RETURN_IF_ERROR(WriteFileAtomically(path, merged.dump(2) + "\n"));
    spdlog::info("rules change: valid, replacing the rules (pipeline drained first)");
    Status st = Replace(next, false);
    if (st.ok()) return st;
    // The new rules did not start: the old pipeline runs again, and the
    // override file must not bring the refused rules back at the next start.
    std::error_code rm;
    Status back = had_override ? WriteFileAtomically(path, *old_override) : Status::Ok();
    if (!had_override) std::filesystem::remove(path, rm);
    if (!back.ok() || rm)
      spdlog::error("rules change: cannot put the previous rules file back: {}", back.ok() ? rm.message() : back.ToString());
    // Not a validation error (those were reported above): the request was
    // valid, the node could not run it.
    return Status(st.code() == StatusCode::kInvalidArgument ? StatusCode::kFailedPrecondition : st.code(),
                  st.message() + "; the previous rules run again");
  }

  std::string path_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex change_mu_;  // held across a whole change (read, persist, replace); taken before mu_
  std::mutex mu_;         // guards runtime_
  std::shared_ptr<Runtime> runtime_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<RemoteControl> remote_;
};

}  // namespace

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

  spdlog::info("edgeflow {} starting: node '{}', config {}", kVersion, cfg.node.id,
               config_path.empty() ? "<built-in demo>" : config_path);
  Daemon daemon(config_path);
  Status st = daemon.Start(cfg);
  if (st.ok()) st = daemon.StartApi();
  if (st.ok()) st = daemon.StartRemote();
  ServiceNotifier service;
  if (!st.ok()) {
    spdlog::critical("cannot start: {}", st.ToString());
    service.Status("cannot start: " + st.ToString());
    daemon.Stop();
    return kExitError;
  }
  service.Ready("running node '" + cfg.node.id + "'");
  const int64_t tick_ns = std::min<int64_t>(200'000'000, service.watchdog_interval_us() > 0
                                                             ? service.watchdog_interval_us() * 1000
                                                             : 200'000'000);
  auto last_report = std::chrono::steady_clock::now();
  for (;;) {
    service.Watchdog(SystemClock::Instance().now());
    timespec timeout{0, static_cast<long>(tick_ns)};
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      service.Stopping();
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
      service.Reloading();
      spdlog::set_level(spdlog::level::from_str(log_level.empty() ? next.node.log_level : log_level));
      Status r = daemon.Reload(std::move(next));
      if (r.code() == StatusCode::kInternal) {
        spdlog::critical("{}", r.ToString());
        daemon.Stop();
        return kExitError;
      }
      if (r.ok()) spdlog::info("SIGHUP: configuration reloaded");
      service.Ready(r.ok() ? "running, configuration reloaded" : "running the previous configuration: " + r.ToString());
      continue;
    }
    auto rt = daemon.Current();
    if (rt->WaitFinished(std::chrono::milliseconds(0))) {
      spdlog::info("all sources finished");
      service.Stopping();
      break;
    }
    if (std::chrono::steady_clock::now() - last_report > std::chrono::seconds(10)) {
      last_report = std::chrono::steady_clock::now();
      const auto t = rt->Stats()["totals"];
      spdlog::info("status: {} events from sources, {} alerts, {} dead letters, {} events written by sinks, {} dropped, {} lost",
                   t["source_events"].get<uint64_t>(), t["alerts"].get<uint64_t>(), t["dead_letters"].get<uint64_t>(),
                   t["sink_events"].get<uint64_t>(), t["dropped_events"].get<uint64_t>(), t["lost_events"].get<uint64_t>());
    }
  }
  auto rt = daemon.Current();
  daemon.Stop();
  spdlog::info("final status: {}", rt->Stats().dump());
  return kExitOk;
}

}  // namespace edgeflow::cli
