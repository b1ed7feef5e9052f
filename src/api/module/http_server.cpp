// The REST API's HTTP server, built as the module libedgeflow-api.so (see
// api/server.h for why it is loaded on demand). Core symbols (store, ingest,
// auth, time formats) resolve against the daemon executable, which exports them.
#include "api/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "core/timefmt.h"
#include "edgeflow/version.h"
#include "sources/ingest_source.h"
#include "store/block_codec.h"
#include "core/base64.h"
#include "core/files.h"
#include "engine/pipeline_config.h"
#include "ml/registry.h"
#include "store/store.h"
#include "vision/media.h"
#include "web_assets.h"

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
  std::string data_dir_;
  Hooks hooks_;
  Clock* clock_ = nullptr;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string token_;
  bool token_created_ = false;
  int port_ = 0;
  std::unique_ptr<AuthLimiter> limiter_;
  Sessions sessions_{12 * 3600 * kUsPerSec, 64};
  // Live event streams (GET /api/v1/events): each holds one of the server's
  // threads, so they are bounded; stopping wakes them.
  std::atomic<int> streams_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listen_ended_{false};
  // The server's stop() does nothing until its loop runs: a server stopped
  // right after starting (a later start-up step failed, an early SIGTERM)
  // would never end. Waits until the loop runs or has returned.
  void AwaitListenLoop() const {
    while (thread_.joinable() && !http_->is_running() && !listen_ended_)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
};

constexpr const char* kSessionCookie = "edgeflow_session";
constexpr int kMaxStreams = 4;
// A preview whose camera sends no frame for this long (or three preview
// periods of a slow one) ends (see the preview route).
constexpr auto kPreviewIdle = std::chrono::seconds(5);
// Cookie-authenticated requests that change something must carry this header:
// another site cannot make a browser send it (no CORS is allowed), which
// closes cross-site request forgery on top of SameSite=Strict.
constexpr const char* kCsrfHeader = "X-Edgeflow-Request";

void SecurityHeaders(httplib::Response& res) {
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

// Names from devices are checked for UTF-8 where they come in; one that got
// past (an older store) is shown with U+FFFD instead of failing the request —
// or, in a live stream, ending the process.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, json{{"error", message}});
}

// Refuses a request whose body cannot be taken, and says so (411 or 415);
// false when it can be taken. See the pre-routing handler.
bool RefusedBody(const httplib::Request& req, httplib::Response& res) {
  const std::string te = req.get_header_value("Transfer-Encoding");
  const std::string ce = req.get_header_value("Content-Encoding");
  const bool has_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
  if (!te.empty() && te != "identity")
    Error(res, 411, "send the body with a Content-Length (chunked bodies are not accepted)");
  else if (!ce.empty() && ce != "identity")
    Error(res, 415, "compressed request bodies are not accepted");
  else if (has_body && !req.has_header("Content-Length"))
    Error(res, 411, "send the body with a Content-Length");
  else
    return false;
  res.set_header("Connection", "close");
  return true;
}

// A failed status as a reply: 400 with every error line for invalid input.
void StatusReply(httplib::Response& res, const Status& st) {
  const int code = st.code() == StatusCode::kInvalidArgument    ? 400
                   : st.code() == StatusCode::kNotFound           ? 404
                   : st.code() == StatusCode::kAlreadyExists ||
                           st.code() == StatusCode::kFailedPrecondition
                       ? 409
                       : 503;
  json list = json::array();
  std::stringstream ss(st.message());
  for (std::string line; std::getline(ss, line);)
    if (!line.empty()) list.push_back(line);
  Reply(res, code, json{{"error", list.empty() ? st.message() : list[0].get<std::string>()}, {"errors", list}});
}

// A query parameter that is a whole number in [lo, hi], in digits only and
// no more of them than hi has; `def` when absent. False when it is given
// otherwise.
bool WholeParam(const httplib::Request& req, const char* name, int64_t def, int64_t lo, int64_t hi, int64_t* out) {
  if (!req.has_param(name)) {
    *out = def;
    return true;
  }
  const std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > std::to_string(hi).size() || v.find_first_not_of("0123456789") != std::string::npos)
    return false;
  *out = std::stoll(v);
  return *out >= lo && *out <= hi;
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
  s->data_dir_ = data_dir;
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
  s->thread_ = std::thread([raw] {
    raw->http_->listen_after_bind();
    raw->listen_ended_ = true;
  });
  s->AwaitListenLoop();  // ready when Start returns
  return s;
}

HttpApiServer::~HttpApiServer() {
  {
    std::lock_guard l(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (http_) {
    AwaitListenLoop();
    http_->stop();
  }
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
  // A client that asks before sending its body (Expect: 100-continue) is
  // told at once when the body cannot be taken, instead of sending it first.
  h.set_expect_100_continue_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!RefusedBody(req, res)) return 100;
    SecurityHeaders(res);
    return res.status;
  });
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    SecurityHeaders(res);
    // Bodies are read after this handler, and the size limit holds only for a
    // body with a Content-Length: a chunked one, or one read to the end of the
    // connection, could be of any size, and a compressed one unpacks to any
    // size. So a body must come with its length, uncompressed. For every
    // route: the open ones take bodies too.
    if (RefusedBody(req, res)) return httplib::Server::HandlerResponse::Handled;
    // Open: health, the dashboard's static files (they hold no data), logging in.
    const bool reading = req.method == "GET" || req.method == "HEAD";
    if (req.path == "/healthz" || req.path == "/" || req.path.rfind("/ui/", 0) == 0) {
      if (reading) return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("Allow", "GET, HEAD");
      res.set_header("Connection", "close");  // its body, if any, is not read
      Error(res, 405, req.method + " is not allowed on " + req.path);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path == "/api/v1/session" && req.method == "POST") return httplib::Server::HandlerResponse::Unhandled;
    // The failed-authentication limiter and sessions count monotonic time: on
    // the wall clock, a node whose time NTP sets back by a day would keep an
    // address blocked, and sessions open, a day longer.
    const TimeUs now = MonotonicUs();
    if (limiter_->Blocked(req.remote_addr, now)) {
      res.set_header("Retry-After", "60");
      Error(res, 429, "too many failed authentication attempts; retry later");
      return httplib::Server::HandlerResponse::Handled;
    }
    bool by_cookie = false;
    if (!CheckBearer(req.get_header_value("Authorization"), token_)) {
      const std::string sid = CookieValue(req.get_header_value("Cookie"), kSessionCookie);
      by_cookie = !sid.empty() && sessions_.Valid(sid, now);
      if (!by_cookie) {
        // Only a wrong token counts as a guess: a page loaded before signing
        // in, or a session that ended, does not.
        if (req.has_header("Authorization")) limiter_->Failed(req.remote_addr, now);
        res.set_header("WWW-Authenticate", "Bearer realm=\"edgeflow\"");
        Error(res, 401, "missing or wrong bearer token");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    const bool changes = req.method != "GET" && req.method != "HEAD";
    if (by_cookie && changes && req.get_header_value(kCsrfHeader) != "1") {
      Error(res, 403, std::string("a session-authenticated change needs the header ") + kCsrfHeader + ": 1");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (cfg_.read_only && changes && req.path != "/api/v1/session") {
      Error(res, 403, "this API is read-only");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // ---- the dashboard -------------------------------------------------------
  h.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ui/"); });
  h.Get(R"(/ui/(.*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    if (name.empty()) name = "index.html";
    const WebAsset* a = FindWebAsset(name);
    if (!a) return Error(res, 404, "no such file");
    res.set_content(reinterpret_cast<const char*>(a->data), a->size, std::string(a->content_type) + "; charset=utf-8");
    res.set_header("Cache-Control", "no-cache");
    // Scripts and styles from this node only; nothing inline, no frames.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  });

  h.Post("/api/v1/session", [this](const httplib::Request& req, httplib::Response& res) {
    const TimeUs now = MonotonicUs();
    if (limiter_->Blocked(req.remote_addr, now)) {
      res.set_header("Retry-After", "60");
      return Error(res, 429, "too many failed authentication attempts; retry later");
    }
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string())
      return Error(res, 400, "expected {\"token\": \"<the node's API token>\"}");
    if (!CheckToken(body["token"].get<std::string>(), token_)) {
      limiter_->Failed(req.remote_addr, now);
      return Error(res, 401, "wrong token");
    }
    const std::string sid = sessions_.Create(now);
    if (sid.empty()) return Error(res, 500, "no random bytes for a session");
    const bool tls = !cfg_.tls_cert.empty();
    res.set_header("Set-Cookie", fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kSessionCookie,
                                             sid, sessions_.ttl() / kUsPerSec, tls ? "; Secure" : ""));
    res.set_header("Cache-Control", "no-store");
    Reply(res, 200, json{{"expires_in_secs", sessions_.ttl() / kUsPerSec}});
  });

  h.Delete("/api/v1/session", [this](const httplib::Request& req, httplib::Response& res) {
    sessions_.Remove(CookieValue(req.get_header_value("Cookie"), kSessionCookie));
    res.set_header("Set-Cookie", fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict", kSessionCookie));
    res.status = 204;
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
    // Checked before anything is read: at most 100000 points, and the memory
    // held is that of the answer (readings are aggregated or counted as they
    // are decoded, never all loaded first).
    constexpr int64_t kMaxPoints = 100000;
    const double width = static_cast<double>(to) - static_cast<double>(from);  // to - from may not fit
    if (width > 9e18) return Error(res, 400, "'from' and 'to' are too far apart");
    double step_s = 0;
    TimeUs step = 0;
    if (req.has_param("step")) {
      try {
        step_s = std::stod(req.get_param_value("step"));
      } catch (...) {
        step_s = -1;
      }
      if (!(step_s > 0) || !(step_s <= 1e9)) return Error(res, 400, "'step' must be a positive number of seconds (at most 1e9)");
      step = std::max<TimeUs>(1, SecondsToUs(step_s));
      if (std::ceil(width / static_cast<double>(step)) > kMaxPoints)
        return Error(res, 400, "'step' too small: more than 100000 points");
    }
    auto store = open_store(res);
    if (!store) return;
    json points = json::array();
    if (step > 0) {  // mean, min, max and count per step, stamped at the bucket start
      std::map<std::pair<std::string, TimeUs>, std::array<double, 4>> buckets;  // sum, min, max, n
      Status st = store->ForEachReading(sensor, metric, from, to, [&](const ReadingRow& r) {
        auto& b = buckets.try_emplace({r.metric, from + (r.ts - from) / step * step},
                                      std::array<double, 4>{0, INFINITY, -INFINITY, 0}).first->second;
        b[0] += r.value;
        b[1] = std::min(b[1], r.value);
        b[2] = std::max(b[2], r.value);
        b[3] += 1;
        // Several metrics of the sensor share the range: the answer stays bounded all the same.
        return static_cast<int64_t>(buckets.size()) <= kMaxPoints;
      });
      if (!st.ok()) return Error(res, 500, st.message());
      if (static_cast<int64_t>(buckets.size()) > kMaxPoints)
        return Error(res, 400, "more than 100000 points (several metrics); give 'metric' or a larger 'step'");
      for (const auto& [k, b] : buckets)
        points.push_back({{"metric", k.first}, {"ts", FormatTimestamp(k.second)}, {"mean", b[0] / b[3]}, {"min", b[1]},
                          {"max", b[2]}, {"count", b[3]}});
    } else {
      std::vector<ReadingRow> rows;
      Status st = store->ForEachReading(sensor, metric, from, to, [&](const ReadingRow& r) {
        rows.push_back(r);
        return static_cast<int64_t>(rows.size()) <= kMaxPoints;
      });
      if (!st.ok()) return Error(res, 500, st.message());
      if (static_cast<int64_t>(rows.size()) > kMaxPoints)
        return Error(res, 400, "more than 100000 readings in range; narrow it or give 'step'");
      std::stable_sort(rows.begin(), rows.end(), [](const ReadingRow& a, const ReadingRow& b) { return a.ts < b.ts; });
      for (const auto& r : rows)
        points.push_back({{"metric", r.metric}, {"ts", FormatTimestamp(r.ts)}, {"value", r.value}, {"seq", r.seq}});
    }
    Reply(res, 200, json{{"sensor", sensor}, {"from", FormatTimestamp(from)}, {"to", FormatTimestamp(to)}, {"points", points}});
  });

  h.Get("/api/v1/alerts", [open_store](const httplib::Request& req, httplib::Response& res) {
    const std::string state = req.has_param("state") ? req.get_param_value("state") : "";
    if (!state.empty() && state != "open" && state != "cleared" && state != "event")
      return Error(res, 400, "'state' must be open, cleared or event");
    const std::string acked = req.has_param("acknowledged") ? req.get_param_value("acknowledged") : "";
    if (!acked.empty() && acked != "true" && acked != "false")
      return Error(res, 400, "'acknowledged' must be true or false");
    int64_t limit = 0;
    if (!WholeParam(req, "limit", 1000, 1, 100000, &limit)) return Error(res, 400, "'limit' must be a number from 1 to 100000");
    // Older pages: the alerts after the one with this id in the list's order.
    int64_t before = 0;
    if (!WholeParam(req, "before", 0, 0, 999'999'999'999'999'999, &before)) return Error(res, 400, "'before' must be an alert id");
    // Text: alerts whose rule, sensor or metric contains it (case-insensitive).
    const std::string q = req.has_param("q") ? req.get_param_value("q") : "";
    if (q.size() > 200) return Error(res, 400, "'q' must be at most 200 characters");
    const auto lower = [](std::string t) {
      for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return t;
    };
    const std::string needle = lower(q);
    auto store = open_store(res);
    if (!store) return;
    auto current = store->CurrentAlerts();
    if (!current.ok()) return Error(res, 500, current.status().message());
    auto acks = store->Acks();
    if (!acks.ok()) return Error(res, 500, acks.status().message());
    // Newest first (by opening, then id); `limit` of them, with the number
    // that matched and the count of every state.
    struct Match {
      const AlertRow* row;
      int64_t id;
      const char* state;
    };
    std::vector<Match> matches;
    std::map<std::string, int64_t> counts{{"open", 0}, {"cleared", 0}, {"event", 0}};
    for (const auto& c : *current) {
      const AlertRow* a = &c.latest;
      // A one-off event (a rule with `emit: every`) never clears: it is an "event", never open.
      const char* now_state = !a->lasting ? "event" : a->state == "open" ? "open" : "cleared";
      ++counts[now_state];
      if (!state.empty() && state != now_state) continue;
      const int64_t id = c.first;
      const bool is_acked = acks->count(id) > 0;
      if ((acked == "true" && !is_acked) || (acked == "false" && is_acked)) continue;
      if (!needle.empty() && lower(a->rule).find(needle) == std::string::npos &&
          lower(a->sensor).find(needle) == std::string::npos && lower(a->metric).find(needle) == std::string::npos)
        continue;
      matches.push_back({a, id, now_state});
    }
    const auto newer = [](const Match& x, const Match& y) {
      return x.row->opened_at != y.row->opened_at ? x.row->opened_at > y.row->opened_at : x.id > y.id;
    };
    const size_t total = matches.size();
    if (before > 0) {
      const auto ref = std::find_if(matches.begin(), matches.end(), [&](const Match& m) { return m.id == before; });
      if (ref == matches.end()) return Error(res, 400, "'before': no alert " + std::to_string(before) + " matches these filters");
      const Match at = *ref;
      std::erase_if(matches, [&](const Match& m) { return !newer(at, m); });
    }
    const size_t shown = std::min(static_cast<size_t>(limit), matches.size());
    std::partial_sort(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(shown), matches.end(), newer);
    json arr = json::array();
    for (size_t i = 0; i < shown; ++i) {
      const AlertRow* a = matches[i].row;
      const char* now_state = matches[i].state;
      const bool open = a->state == "open";
      const int64_t id = matches[i].id;
      auto ack = acks->find(id);
      json j = {{"id", id},
                {"rule", a->rule},
                {"sensor", a->sensor},
                {"metric", a->metric},
                {"severity", a->severity},
                {"state", now_state},
                {"opened_at", FormatTimestamp(a->opened_at)},
                {"value", a->value}};
      if (!open) j["cleared_at"] = FormatTimestamp(a->ts);
      if (ack != acks->end()) {
        j["acknowledged_at"] = FormatTimestamp(ack->second.acked_at);
        j["acknowledged_by"] = ack->second.acked_by;
        if (!ack->second.note.empty()) j["note"] = ack->second.note;
      }
      arr.push_back(j);
    }
    json body{{"alerts", arr}, {"total", total}, {"counts", counts}};
    if (shown < matches.size()) body["next"] = matches[shown - 1].id;  // before= this for the next page
    Reply(res, 200, body);
  });

  h.Post(R"(/api/v1/alerts/(\d{1,18})/ack)", [this, open_store](const httplib::Request& req, httplib::Response& res) {
    const int64_t id = std::stoll(req.matches[1]);
    std::string note;
    if (!req.body.empty()) {
      json body = json::parse(req.body, nullptr, false);
      if (!body.is_object() || (body.contains("note") && !body["note"].is_string()))
        return Error(res, 400, "expected {\"note\": \"...\"} or no body");
      note = body.value("note", "");
      const auto chars = std::count_if(note.begin(), note.end(), [](char c) { return (c & 0xC0) != 0x80; });
      if (chars > 1000) return Error(res, 400, "'note' is longer than 1000 characters");
    }
    auto store = open_store(res);
    if (!store) return;
    // Who: the dashboard (a session) or an API client (the token), and from where.
    const std::string by =
        (CheckBearer(req.get_header_value("Authorization"), token_) ? "api " : "dashboard ") + req.remote_addr;
    const TimeUs now = clock_->now();
    Status st = store->Acknowledge(id, now, by, note);
    if (st.code() == StatusCode::kNotFound) return Error(res, 404, st.message());
    if (st.code() == StatusCode::kAlreadyExists) return Error(res, 409, st.message());
    if (!st.ok()) return Error(res, 503, st.message());
    Reply(res, 200, json{{"id", id}, {"acknowledged_at", FormatTimestamp(now)}, {"acknowledged_by", by}});
  });

  // A live stream opened with a session ends with the session (signed out or
  // expired); one opened with the token runs until it is closed.
  auto stream_session = [this](const httplib::Request& req) {
    return CheckBearer(req.get_header_value("Authorization"), token_)
               ? std::string()
               : CookieValue(req.get_header_value("Cookie"), kSessionCookie);
  };
  auto session_ended = [this](const std::string& sid) { return !sid.empty() && !sessions_.Valid(sid, MonotonicUs()); };

  // Live updates for the dashboard as server-sent events: `status` every
  // second, `readings` (the latest value of each series that changed) and
  // `alerts` (the alert list changed: fetch it again) within 250 ms.
  h.Get("/api/v1/events", [this, open_store, stream_session, session_ended](const httplib::Request& req,
                                                                           httplib::Response& res) {
    if (streams_.fetch_add(1) >= kMaxStreams) {
      --streams_;
      return Error(res, 503, "too many live event streams; close one and retry");
    }
    std::shared_ptr<Store> store = open_store(res);
    if (!store && res.status == 503) {
      --streams_;
      return;
    }
    res.status = 200;
    res.body.clear();
    res.headers.erase("Content-Type");  // open_store's 404 (no store on this node) set one
    res.set_header("Cache-Control", "no-store");
    const std::string sid = stream_session(req);
    struct Live {
      std::map<std::pair<std::string, std::string>, TimeUs> seen;
      std::pair<int64_t, int64_t> alerts{-1, -1};
      TimeUs next_status = 0;
      bool first = true;
    };
    auto live = std::make_shared<Live>();
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, store, live, sid, session_ended](size_t, httplib::DataSink& sink) {
          if (stopping_ || session_ended(sid)) return false;
          std::string out;
          if (live->first) out += "retry: 2000\n\n";
          const TimeUs now = clock_->now();
          if (now >= live->next_status) {
            json j = hooks_.status ? hooks_.status() : json::object();
            j["version"] = kVersion;
            out += "event: status\ndata: " + Dump(j) + "\n\n";
            live->next_status = now + kUsPerSec;
          }
          if (store) {
            if (auto latest = store->Latest(); latest.ok()) {
              json changed = json::array();
              for (const auto& r : *latest) {
                TimeUs& seen = live->seen[{r.sensor, r.metric}];
                if (r.ts == seen) continue;
                seen = r.ts;
                changed.push_back({{"sensor", r.sensor}, {"metric", r.metric}, {"ts", FormatTimestamp(r.ts)},
                                   {"value", r.value}, {"quality", QualityName(static_cast<Quality>(r.quality))}});
              }
              if (!changed.empty()) out += "event: readings\ndata: " + Dump(json{{"readings", changed}}) + "\n\n";
            }
            auto n = store->Count("alerts");
            auto k = store->Count("alert_acks");
            if (n.ok() && k.ok() && std::pair{*n, *k} != live->alerts) {
              live->alerts = {*n, *k};
              if (!live->first) out += "event: alerts\ndata: {}\n\n";
            }
          }
          if (out.empty()) out = ": keep-alive\n\n";
          live->first = false;
          if (!sink.write(out.data(), out.size())) return false;
          std::unique_lock l(stop_mu_);
          stop_cv_.wait_for(l, std::chrono::milliseconds(250), [this] { return stopping_.load(); });
          return !stopping_;
        },
        [this](bool) { --streams_; });
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

  // ---- cameras and vision events (vision/media.h) ---------------------------
  h.Get("/api/v1/cameras", [](const httplib::Request&, httplib::Response& res) {
    json list = json::array();
    for (const auto& c : vision::CameraHub::Instance().List()) list.push_back(c->Describe());
    Reply(res, 200, json{{"cameras", list}});
  });
  h.Get("/api/v1/vision/events", [this](const httplib::Request& req, httplib::Response& res) {
    TimeUs from, to;
    std::string err;
    if (!TimeParam(req, "from", 0, &from, &err) || !TimeParam(req, "to", INT64_MAX, &to, &err))
      return Error(res, 400, err);
    const std::string camera = req.get_param_value("camera");
    if (!camera.empty() && (!IsComponentId(camera) || camera == "." || camera == ".."))
      return Error(res, 400, "'camera' is not a component id");
    int64_t limit = 0;
    if (!WholeParam(req, "limit", 100, 1, 99999, &limit)) return Error(res, 400, "'limit' must be a number from 1 to 99999");
    Reply(res, 200, json{{"events", vision::ListEvents(data_dir_, camera, from, to, static_cast<size_t>(limit))}});
  });
  const std::string event_re = R"(/api/v1/vision/events/([A-Za-z0-9_.-]{1,64}-[0-9]{1,19}))";
  h.Get(event_re, [this](const httplib::Request& req, httplib::Response& res) {
    std::string camera;
    TimeUs start = 0;
    const std::string id = req.matches[1];
    if (!vision::ParseEventId(id, &camera, &start)) return Error(res, 404, "no event '" + id + "'");
    if (start == INT64_MAX) return Error(res, 404, "no event '" + id + "'");
    for (auto& e : vision::ListEvents(data_dir_, camera, start, start + 1, 1)) return Reply(res, 200, e);
    Error(res, 404, "no event '" + id + "'");
  });
  auto serve_event_file = [this](const std::string& ext, const char* type) {
    return [this, ext, type](const httplib::Request& req, httplib::Response& res) {
      auto path = vision::EventFile(data_dir_, req.matches[1], ext);
      if (!path.ok()) return Error(res, 404, path.status().message());
      auto body = ReadWholeFile(*path);
      if (!body.ok()) return Error(res, 404, body.status().message());
      res.set_header("Cache-Control", "private, max-age=3600");
      res.set_content(std::move(*body), type);
    };
  };
  h.Get(event_re + "/snapshot\\.jpg", serve_event_file("jpg", "image/jpeg"));
  h.Get(event_re + "/clip\\.avi", serve_event_file("avi", "video/x-msvideo"));
  // The live preview as MJPEG (multipart/x-mixed-replace): masked frames at the
  // camera's preview_fps, encoded only while somebody watches.
  h.Get(R"(/api/v1/cameras/([A-Za-z0-9_.-]{1,64})/preview\.mjpg)", [this, stream_session, session_ended](
                                                                          const httplib::Request& req,
                                                                          httplib::Response& res) {
    auto cam = vision::CameraHub::Instance().Find(req.matches[1]);
    if (!cam) return Error(res, 404, "no running camera '" + std::string(req.matches[1]) + "'");
    // Previews leave the last slot to the live updates (/api/v1/events): a
    // page showing four cameras still gets its alerts and readings.
    if (streams_.fetch_add(1) >= kMaxStreams - 1) {
      --streams_;
      return Error(res, 503, "too many live streams; close one and retry");
    }
    cam->AddViewer();
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    auto seq = std::make_shared<uint64_t>(0);
    auto last_write = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    const std::string sid = stream_session(req);
    res.set_chunked_content_provider(
        "multipart/x-mixed-replace; boundary=edgeflowframe",
        [this, cam, seq, last_write, sid, session_ended](size_t, httplib::DataSink& sink) {
          if (stopping_ || session_ended(sid)) return false;
          auto jpeg = cam->WaitFrame(seq.get(), 500 * 1000);
          if (!jpeg) {
            // Only a write tells that the viewer left: a camera that sends
            // nothing for a while ends the stream (the page shows the camera's
            // state) instead of holding one of the few stream slots for ever.
            const auto idle = std::max<std::chrono::steady_clock::duration>(
                kPreviewIdle, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(3 * cam->preview_interval_secs.load())));
            if (std::chrono::steady_clock::now() - *last_write > idle) return false;
            return !stopping_ && vision::CameraHub::Instance().Find(cam->id()) == cam;
          }
          *last_write = std::chrono::steady_clock::now();
          const std::string head = "--edgeflowframe\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                   std::to_string(jpeg->size()) + "\r\n\r\n";
          return sink.write(head.data(), head.size()) && sink.write(jpeg->data(), jpeg->size()) &&
                 sink.write("\r\n", 2);
        },
        [this, cam](bool) {
          cam->RemoveViewer();
          --streams_;
        });
  });

  // ---- models (ml/registry.h) ---------------------------------------------
  auto models_dir = [this] { return hooks_.models_dir ? hooks_.models_dir() : std::string(); };
  h.Get("/api/v1/models", [models_dir](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, json{{"models", ml::DescribeModels(models_dir())}});
  });
  const std::string name_re = R"(/api/v1/models/([A-Za-z0-9][A-Za-z0-9._-]{0,63}))";
  h.Get(name_re, [models_dir](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (!std::filesystem::exists(std::filesystem::path(models_dir()) / name))
      return Error(res, 404, "no model '" + name + "'");
    Reply(res, 200, ml::Slot(models_dir(), name)->Describe());
  });
  h.Put(name_re, [models_dir](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const std::string mode = req.has_param("mode") ? req.get_param_value("mode") : "live";
    if (mode != "live" && mode != "shadow") return Error(res, 400, "'mode' must be live or shadow");
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("manifest") || !body["manifest"].is_string() ||
        !body.contains("model_base64") || !body["model_base64"].is_string())
      return Error(res, 400, R"(expected {"manifest": "<manifest.yaml text>", "model_base64": "<model file>"})");
    std::string bytes;
    if (!Base64Decode(body["model_base64"].get<std::string>(), &bytes)) return Error(res, 400, "model_base64 is not base64");
    auto slot = ml::Slot(models_dir(), name);
    (void)slot->EnsureLoaded();  // the live version from disk, if any, so that it can be rolled back to
    Status st = slot->Deploy(body["manifest"].get<std::string>(), bytes, mode == "shadow");
    if (!st.ok()) return StatusReply(res, st);
    Reply(res, 200, slot->Describe());
  });
  h.Post(name_re + "/promote", [models_dir](const httplib::Request& req, httplib::Response& res) {
    auto slot = ml::Slot(models_dir(), req.matches[1]);
    (void)slot->EnsureLoaded();
    Status st = slot->Promote();
    if (!st.ok()) return StatusReply(res, st);
    Reply(res, 200, slot->Describe());
  });
  h.Post(name_re + "/rollback", [models_dir](const httplib::Request& req, httplib::Response& res) {
    auto slot = ml::Slot(models_dir(), req.matches[1]);
    Status st = slot->Rollback("requested through the API");
    if (!st.ok()) return StatusReply(res, st);
    Reply(res, 200, slot->Describe());
  });

  h.Post("/api/v1/ingest", [this](const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<IngestSource> src = hooks_.ingest ? hooks_.ingest(req.get_param_value("source")) : nullptr;
    if (!src) return Error(res, 404, "no ingest source (add a source of type 'ingest', or name it with ?source=)");
    auto out = src->Submit(req.body, clock_->now());
    if (!out.ok()) {
      const int code = out.status().code() == StatusCode::kOutOfRange ? 413
                       : out.status().code() == StatusCode::kUnavailable ? 503 : 400;
      return Error(res, code, out.status().message());
    }
    json body{{"accepted", out->accepted}, {"rejected", out->rejected_count}, {"errors", out->rejected}};
    if (out->rejected_count > 0 && out->accepted == 0) body["error"] = "no reading was accepted";
    Reply(res, out->rejected_count == 0 ? 200 : (out->accepted > 0 ? 207 : 400), body);
  });
}

}  // namespace
}  // namespace edgeflow

extern "C" {
__attribute__((visibility("default"))) const char* edgeflow_module_version() { return edgeflow::kVersion; }
__attribute__((visibility("default"))) void edgeflow_api_module_start(const edgeflow::ApiModuleArgs* a) {
  auto s = edgeflow::HttpApiServer::Start(*a->cfg, *a->data_dir, std::move(*a->hooks), *a->clock);
  if (s.ok()) *a->out = std::unique_ptr<edgeflow::ApiServer>(std::move(s).value());
  else *a->out = s.status();
}
}
