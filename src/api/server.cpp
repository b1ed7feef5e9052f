#include "api/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "core/timefmt.h"
#include "edgeflow/version.h"
#include "sources/ingest_source.h"
#include "store/block_codec.h"
#include "store/store.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;
using nlohmann::json;

const std::vector<ApiRoute>& ApiRoutes() {
  static const std::vector<ApiRoute> routes = {
      {"get", "/healthz"},         {"get", "/metrics"},         {"get", "/api/v1/status"},
      {"get", "/api/v1/sensors"},  {"get", "/api/v1/readings"}, {"get", "/api/v1/alerts"},
      {"get", "/api/v1/rules"},    {"put", "/api/v1/rules"},    {"post", "/api/v1/ingest"},
  };
  return routes;
}

namespace {

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, json{{"error", message}});
}

bool TimeParam(const httplib::Request& req, const char* name, TimeUs def, TimeUs* out, std::string* err) {
  if (!req.has_param(name)) {
    *out = def;
    return true;
  }
  if (ParseTimestamp(req.get_param_value(name), out)) return true;
  *err = std::string("'") + name + "' is not a timestamp (ISO 8601 or epoch)";
  return false;
}

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiConfig& cfg, const std::string& data_dir, Hooks hooks,
                                                    Clock& clock) {
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->cfg_ = cfg;
  s->hooks_ = std::move(hooks);
  s->clock_ = &clock;
  s->limiter_ = std::make_unique<AuthLimiter>(static_cast<int>(cfg.auth_failures_per_minute), 60 * kUsPerSec);
  const std::string token_path =
      cfg.token_file.empty() ? (std::filesystem::path(data_dir) / "api-token").string() : cfg.token_file;
  auto token = LoadOrCreateToken(token_path, &s->token_created_);
  if (!token.ok()) return token.status();
  s->token_ = std::move(token).value();
  if (!cfg.tls_cert.empty()) {
    for (const auto* f : {&cfg.tls_cert, &cfg.tls_key})
      if (!std::filesystem::exists(*f)) return Status::NotFound("API TLS file not found: " + *f);
    auto ssl = std::make_unique<httplib::SSLServer>(cfg.tls_cert.c_str(), cfg.tls_key.c_str());
    if (!ssl->is_valid()) return Status::Invalid("API TLS certificate or key could not be loaded");
    s->http_ = std::move(ssl);
  } else {
    s->http_ = std::make_unique<httplib::Server>();
  }
  auto& h = *s->http_;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.timeout_secs * 1000));
  h.set_read_timeout(timeout);
  h.set_write_timeout(timeout);
  h.set_payload_max_length(static_cast<size_t>(cfg.max_body_bytes));
  // SO_REUSEADDR only: the library's default adds SO_REUSEPORT, which would let
  // a second process silently share (and steal requests from) our port.
  h.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof yes);
  });
  h.set_keep_alive_max_count(100);
  s->Routes();
  if (cfg.port == 0) {
    s->port_ = h.bind_to_any_port(cfg.listen);
    if (s->port_ <= 0) return Status::Unavailable("API: cannot listen on " + cfg.listen);
  } else {
    if (!h.bind_to_port(cfg.listen, static_cast<int>(cfg.port)))
      return Status::Unavailable("API: cannot listen on " + cfg.listen + ":" + std::to_string(cfg.port) +
                                 " (address in use or not available)");
    s->port_ = static_cast<int>(cfg.port);
  }
  ApiServer* raw = s.get();
  s->thread_ = std::thread([raw] { raw->http_->listen_after_bind(); });
  return s;
}

ApiServer::~ApiServer() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::Routes() {
  auto& h = *http_;
  h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    Error(res, 500, what);
  });
  h.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) Error(res, 413, "request body too large");
    else if (res.status == 404) Error(res, 404, "no such route");
    else Error(res, res.status, "request failed");
  });
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/healthz") return httplib::Server::HandlerResponse::Unhandled;
    const TimeUs now = clock_->now();
    if (limiter_->Blocked(req.remote_addr, now)) {
      res.set_header("Retry-After", "60");
      Error(res, 429, "too many failed authentication attempts; retry later");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!CheckBearer(req.get_header_value("Authorization"), token_)) {
      limiter_->Failed(req.remote_addr, now);
      res.set_header("WWW-Authenticate", "Bearer realm=\"edgeflow\"");
      Error(res, 401, "missing or wrong bearer token");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (cfg_.read_only && req.method != "GET") {
      Error(res, 403, "this API is read-only");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  h.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { Reply(res, 200, json{{"status", "ok"}}); });

  h.Get("/api/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    json j = hooks_.status ? hooks_.status() : json::object();
    j["version"] = kVersion;
    Reply(res, 200, j);
  });

  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(PrometheusText(hooks_.status ? hooks_.status() : json::object()), "text/plain; version=0.0.4");
  });

  auto open_store = [this](httplib::Response& res) -> std::unique_ptr<Store> {
    const std::string path = hooks_.store_path ? hooks_.store_path() : "";
    if (path.empty()) {
      Error(res, 404, "this pipeline has no sqlite store");
      return nullptr;
    }
    auto s = Store::Open(path);
    if (!s.ok()) {
      Error(res, 503, s.status().message());
      return nullptr;
    }
    return std::move(s).value();
  };

  h.Get("/api/v1/sensors", [open_store](const httplib::Request&, httplib::Response& res) {
    auto store = open_store(res);
    if (!store) return;
    auto latest = store->Latest();
    if (!latest.ok()) return Error(res, 500, latest.status().message());
    json arr = json::array();
    for (const auto& r : *latest)
      arr.push_back({{"sensor", r.sensor}, {"metric", r.metric}, {"ts", FormatTimestamp(r.ts)}, {"value", r.value},
                     {"quality", QualityName(static_cast<Quality>(r.quality))}});
    Reply(res, 200, json{{"sensors", arr}});
  });

  h.Get("/api/v1/readings", [this, open_store](const httplib::Request& req, httplib::Response& res) {
    const std::string sensor = req.get_param_value("sensor"), metric = req.get_param_value("metric");
    if (sensor.empty()) return Error(res, 400, "'sensor' is required");
    TimeUs from, to;
    std::string err;
    const TimeUs now = clock_->now();
    if (!TimeParam(req, "from", now - 3600 * kUsPerSec, &from, &err) || !TimeParam(req, "to", now + kUsPerSec, &to, &err))
      return Error(res, 400, err);
    if (from >= to) return Error(res, 400, "'from' must be before 'to'");
    double step_s = 0;
    if (req.has_param("step")) {
      try {
        step_s = std::stod(req.get_param_value("step"));
      } catch (...) {
        step_s = -1;
      }
      if (!(step_s > 0)) return Error(res, 400, "'step' must be a positive number of seconds");
    }
    auto store = open_store(res);
    if (!store) return;
    constexpr int64_t kMaxPoints = 100000;
    auto rows = store->Readings(sensor, metric, from, to, step_s > 0 ? INT64_MAX : kMaxPoints + 1);
    if (!rows.ok()) return Error(res, 500, rows.status().message());
    json points = json::array();
    if (step_s > 0) {  // mean, min, max and count per step, stamped at the bucket start
      const TimeUs step = std::max<TimeUs>(1, SecondsToUs(step_s));
      if ((to - from) / step > kMaxPoints) return Error(res, 400, "'step' too small: more than 100000 points");
      std::map<std::pair<std::string, TimeUs>, std::array<double, 4>> buckets;  // sum, min, max, n
      for (const auto& r : *rows) {
        auto& b = buckets.try_emplace({r.metric, from + (r.ts - from) / step * step},
                                      std::array<double, 4>{0, INFINITY, -INFINITY, 0}).first->second;
        b[0] += r.value;
        b[1] = std::min(b[1], r.value);
        b[2] = std::max(b[2], r.value);
        b[3] += 1;
      }
      for (const auto& [k, b] : buckets)
        points.push_back({{"metric", k.first}, {"ts", FormatTimestamp(k.second)}, {"mean", b[0] / b[3]}, {"min", b[1]},
                          {"max", b[2]}, {"count", b[3]}});
    } else {
      if (static_cast<int64_t>(rows->size()) > kMaxPoints)
        return Error(res, 400, "more than 100000 readings in range; narrow it or give 'step'");
      for (const auto& r : *rows)
        points.push_back({{"metric", r.metric}, {"ts", FormatTimestamp(r.ts)}, {"value", r.value}, {"seq", r.seq}});
    }
    Reply(res, 200, json{{"sensor", sensor}, {"from", FormatTimestamp(from)}, {"to", FormatTimestamp(to)}, {"points", points}});
  });

  h.Get("/api/v1/alerts", [open_store](const httplib::Request& req, httplib::Response& res) {
    const std::string state = req.has_param("state") ? req.get_param_value("state") : "";
    if (!state.empty() && state != "open" && state != "cleared") return Error(res, 400, "'state' must be open or cleared");
    auto store = open_store(res);
    if (!store) return;
    auto rows = store->Alerts(1000000);
    if (!rows.ok()) return Error(res, 500, rows.status().message());
    // The log holds transitions; an alert is open when its latest transition is an open.
    std::map<std::tuple<std::string, std::string, std::string, TimeUs>, const AlertRow*> latest;
    for (const auto& a : *rows) latest[{a.rule, a.sensor, a.metric, a.opened_at}] = &a;
    json arr = json::array();
    for (const auto& [k, a] : latest) {
      const bool open = a->state == "open";
      if ((state == "open" && !open) || (state == "cleared" && open)) continue;
      json j = {{"rule", a->rule}, {"sensor", a->sensor}, {"metric", a->metric}, {"severity", a->severity},
                {"state", open ? "open" : "cleared"}, {"opened_at", FormatTimestamp(a->opened_at)}, {"value", a->value}};
      if (!open) j["cleared_at"] = FormatTimestamp(a->ts);
      arr.push_back(j);
    }
    Reply(res, 200, json{{"alerts", arr}});
  });

  h.Get("/api/v1/rules", [this](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, hooks_.get_rules ? hooks_.get_rules() : json::object());
  });

  h.Put("/api/v1/rules", [this](const httplib::Request& req, httplib::Response& res) {
    if (!hooks_.put_rules) return Error(res, 404, "rules cannot be changed here");
    std::string errors;
    Status st = hooks_.put_rules(req.body, &errors);
    if (st.ok()) return Reply(res, 200, hooks_.get_rules());
    if (st.code() == StatusCode::kInvalidArgument) {
      json list = json::array();
      std::stringstream ss(errors);
      for (std::string line; std::getline(ss, line);)
        if (!line.empty()) list.push_back(line);
      return Reply(res, 400, json{{"error", st.message()}, {"errors", list}});
    }
    Error(res, 503, st.message());
  });

  h.Post("/api/v1/ingest", [this](const httplib::Request& req, httplib::Response& res) {
    IngestSource* src = hooks_.ingest ? hooks_.ingest(req.get_param_value("source")) : nullptr;
    if (!src) return Error(res, 404, "no ingest source (add a source of type 'ingest', or name it with ?source=)");
    auto out = src->Submit(req.body, clock_->now());
    if (!out.ok()) {
      const int code = out.status().code() == StatusCode::kOutOfRange ? 413
                       : out.status().code() == StatusCode::kUnavailable ? 503 : 400;
      return Error(res, code, out.status().message());
    }
    Reply(res, out->rejected.empty() ? 200 : (out->accepted > 0 ? 207 : 400),
          json{{"accepted", out->accepted}, {"rejected", out->rejected.size()}, {"errors", out->rejected}});
  });
}

std::string PrometheusText(const json& status) {
  std::string out;
  auto metric = [&](const std::string& name, const std::string& type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto num = [](const json& v) { return v.is_number() ? v.dump() : std::string("0"); };
  if (status.contains("uptime_secs")) {
    metric("edgeflow_uptime_seconds", "gauge", "Seconds since the pipeline started.");
    out += "edgeflow_uptime_seconds " + num(status["uptime_secs"]) + "\n";
  }
  if (!status.contains("components")) return out;
  const json& comps = status["components"];
  struct Counter {
    const char* field;
    const char* name;
    const char* help;
  };
  static const Counter counters[] = {
      {"in_events", "edgeflow_component_in_events_total", "Events received by the component."},
      {"out_events", "edgeflow_component_out_events_total", "Events emitted by the component."},
      {"written_events", "edgeflow_sink_written_events_total", "Events a sink wrote."},
      {"write_errors", "edgeflow_sink_write_errors_total", "Failed sink writes."},
      {"lost_events", "edgeflow_sink_lost_events_total", "Events a sink gave up on."},
  };
  for (const auto& c : counters) {
    metric(c.name, "counter", c.help);
    for (auto it = comps.begin(); it != comps.end(); ++it)
      if (it.value().contains(c.field))
        out += std::string(c.name) + "{component=\"" + it.key() + "\",kind=\"" + it.value().value("kind", "") + "\"} " +
               num(it.value()[c.field]) + "\n";
  }
  metric("edgeflow_created_events_total", "counter", "Aggregates, alerts and dead letters created by a component.");
  for (auto it = comps.begin(); it != comps.end(); ++it)
    if (it.value().contains("created"))
      for (auto k = it.value()["created"].begin(); k != it.value()["created"].end(); ++k)
        out += "edgeflow_created_events_total{component=\"" + it.key() + "\",event=\"" + k.key() + "\"} " + num(k.value()) + "\n";
  metric("edgeflow_queue_depth", "gauge", "Batches waiting in a component's queue.");
  for (auto it = comps.begin(); it != comps.end(); ++it)
    if (it.value().contains("queue"))
      out += "edgeflow_queue_depth{component=\"" + it.key() + "\"} " + num(it.value()["queue"]["depth"]) + "\n";
  metric("edgeflow_queue_dropped_events_total", "counter", "Events dropped by a full queue's policy.");
  for (auto it = comps.begin(); it != comps.end(); ++it)
    if (it.value().contains("queue"))
      out += "edgeflow_queue_dropped_events_total{component=\"" + it.key() + "\",when_full=\"" +
             it.value()["queue"].value("when_full", "") + "\"} " + num(it.value()["queue"]["dropped_events"]) + "\n";
  return out;
}

}  // namespace edgeflow
