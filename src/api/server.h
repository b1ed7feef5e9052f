#pragma once
// The node's local REST API (cpp-httplib): health, status, sensors, readings,
// alerts, rules, ingest and Prometheus metrics. Safe by default: binds
// 127.0.0.1, every route but /healthz needs the node's bearer token, request
// bodies and times are bounded, failed authentication is rate limited.
//
// Threads: cpp-httplib's own pool serves requests; handlers read the store
// through their own SQLite connections (WAL) and reach the running pipeline
// only through the Hooks, which the daemon keeps valid across reloads.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api/api_config.h"
#include "api/auth.h"
#include "config/schema.h"
#include "core/clock.h"
#include "core/status.h"

namespace httplib {
class Server;
}

namespace edgeflow {

class IngestSource;

struct ApiRoute {
  const char* method;
  const char* path;
};
// Every route the server answers (docs/api/openapi.yaml is tested against it).
const std::vector<ApiRoute>& ApiRoutes();

class ApiServer {
 public:
  struct Hooks {
    std::function<nlohmann::json()> status;                              // runtime counters
    std::function<std::string()> store_path;                             // "" when there is no store
    std::function<IngestSource*(const std::string& id)> ingest;          // "" picks the only one
    std::function<nlohmann::json()> get_rules;                           // {processor: [rules]}
    std::function<Status(const std::string& body, std::string* errors)> put_rules;
  };
  // Binds (failing at once when the address is taken) and serves on a thread.
  static Result<std::unique_ptr<ApiServer>> Start(const ApiConfig& cfg, const std::string& data_dir, Hooks hooks,
                                                  Clock& clock);
  ~ApiServer();
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  bool token_created() const { return token_created_; }

 private:
  ApiServer() = default;
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

// Prometheus text exposition of the runtime status JSON.
std::string PrometheusText(const nlohmann::json& status);

}  // namespace edgeflow
