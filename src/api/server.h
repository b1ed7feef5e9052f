#pragma once
// The node's local REST API (cpp-httplib, in a module): health, status, sensors, readings,
// alerts, rules, ingest and Prometheus metrics. Safe by default: binds
// 127.0.0.1, every route but /healthz needs the node's bearer token, request
// bodies and times are bounded, failed authentication is rate limited.
//
// Threads: the HTTP library's own pool serves requests; handlers read the
// store through their own SQLite connections (WAL) and reach the running
// pipeline only through the Hooks, which the daemon keeps valid across reloads.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/api_config.h"
#include "api/auth.h"
#include "config/schema.h"
#include "core/clock.h"
#include "core/status.h"

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
    std::function<std::shared_ptr<IngestSource>(const std::string& id)> ingest;          // "" picks the only one
    std::function<nlohmann::json()> get_rules;                           // {processor: [rules]}
    std::function<Status(const std::string& body, std::string* errors)> put_rules;
    std::function<std::string()> models_dir;                             // deployed models (ml/registry.h)
  };
  // Loads the API module (see below), binds (failing at once when the address
  // is taken) and serves on the module's threads.
  static Result<std::unique_ptr<ApiServer>> Start(const ApiConfig& cfg, const std::string& data_dir, Hooks hooks,
                                                  Clock& clock);
  virtual ~ApiServer() = default;
  virtual int port() const = 0;
  virtual const std::string& token() const = 0;
  virtual bool token_created() const = 0;
};

// The HTTP server lives in a module, libedgeflow-api.so, loaded only when the
// configuration has an `api` section: the HTTP library initialises OpenSSL's
// string tables when it is loaded, which costs a node that serves no API about
// 3 MB of resident memory. The module is built with the daemon and must come
// from the same build (its version is checked). It is looked up in
// $EDGEFLOW_MODULE_DIR, then beside the executable, then in
// <executable>/../lib/edgeflow.
inline constexpr const char* kApiModuleFile = "libedgeflow-api.so";
struct ApiModuleArgs {
  const ApiConfig* cfg;
  const std::string* data_dir;
  ApiServer::Hooks* hooks;
  Clock* clock;
  Result<std::unique_ptr<ApiServer>>* out;
};
// Exported by the module with C linkage (besides edgeflow_module_version, core/module.h).
using ApiModuleStartFn = void (*)(const ApiModuleArgs*);
inline constexpr const char* kApiModuleStartSymbol = "edgeflow_api_module_start";

// Prometheus text exposition of the runtime status JSON.
std::string PrometheusText(const nlohmann::json& status);

}  // namespace edgeflow
