// The REST API's HTTP server, built as the module libedgeflow-api.so (see
// api/server.h for why it is loaded on demand). Core symbols (store, ingest,
// auth, time formats) resolve against the daemon executable, which exports them.
#include "api/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <thread>

#include "core/timefmt.h"
#include "edgeflow/version.h"
#include "sources/ingest_source.h"
#include "store/block_codec.h"
#include "store/store.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;
using nlohmann::json;

namespace {

class HttpApiServer final : public ApiServer {
 public:
  static Result<std::unique_ptr<HttpApiServer>> Start(const ApiConfig& cfg, const std::string& data_dir,
                                                      ApiServer::Hooks hooks, Clock& clock);
  ~HttpApiServer() override;
  int port() const override { return port_; }
  const std::string& token() const override { return token_; }
  bool token_created() const override { return token_created_; }

 private:
  HttpApiServer() = default;
  void Routes();
  ApiConfig cfg_;
  Hooks hooks_;
  Clock* clock_ = nullptr;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string token_;
  bool token_created_ = false;
  int port_ = 0;
  std::unique_ptr<AuthLimiter> limiter_;
};

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

Result<std::unique_ptr<HttpApiServer>> HttpApiServer::Start(const ApiConfig& cfg, const std::string& data_dir,
                                                            ApiServer::Hooks hooks, Clock& clock) {
  std::unique_ptr<HttpApiServer> s(new HttpApiServer());
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
  HttpApiServer* raw = s.get();
  s->thread_ = std::thread([raw] { raw->http_->listen_after_bind(); });
  return s;
}

HttpApiServer::~HttpApiServer() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpApiServer::Routes() {
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

}  // namespace
}  // namespace edgeflow

extern "C" {
__attribute__((visibility("default"))) const char* edgeflow_api_module_version() { return edgeflow::kVersion; }
__attribute__((visibility("default"))) void edgeflow_api_module_start(const edgeflow::ApiModuleArgs* a) {
  auto s = edgeflow::HttpApiServer::Start(*a->cfg, *a->data_dir, std::move(*a->hooks), *a->clock);
  if (s.ok()) *a->out = std::unique_ptr<edgeflow::ApiServer>(std::move(s).value());
  else *a->out = s.status();
}
}
