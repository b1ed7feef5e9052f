#include "api/server.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <filesystem>
#include <map>

#include "core/module.h"
#include "edgeflow/version.h"

namespace edgeflow {

using nlohmann::json;

const std::vector<ApiRoute>& ApiRoutes() {
  static const std::vector<ApiRoute> routes = {
      {"get", "/healthz"},         {"get", "/metrics"},         {"get", "/api/v1/status"},
      {"get", "/api/v1/sensors"},  {"get", "/api/v1/readings"}, {"get", "/api/v1/alerts"},
      {"get", "/api/v1/rules"},    {"put", "/api/v1/rules"},    {"post", "/api/v1/ingest"},
      {"post", "/api/v1/alerts/{id}/ack"}, {"get", "/api/v1/events"}, {"post", "/api/v1/session"},
      {"delete", "/api/v1/session"}, {"get", "/"}, {"get", "/ui/{path}"},
      {"get", "/api/v1/models"}, {"get", "/api/v1/models/{name}"}, {"put", "/api/v1/models/{name}"},
      {"post", "/api/v1/models/{name}/promote"}, {"post", "/api/v1/models/{name}/rollback"},
      {"get", "/api/v1/cameras"}, {"get", "/api/v1/cameras/{id}/preview.mjpg"}, {"get", "/api/v1/vision/events"},
      {"get", "/api/v1/vision/events/{id}"}, {"get", "/api/v1/vision/events/{id}/snapshot.jpg"},
      {"get", "/api/v1/vision/events/{id}/clip.avi"},
  };
  return routes;
}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiConfig& cfg, const std::string& data_dir, Hooks hooks,
                                                    Clock& clock) {
  auto module = LoadModule(kApiModuleFile, "the api section (or remove it to run without the REST API)");
  if (!module.ok()) return module.status();
  auto start = reinterpret_cast<ApiModuleStartFn>(ModuleSymbol(*module, kApiModuleStartSymbol));
  if (!start) return Status::Unavailable(std::string(kApiModuleFile) + " is not the API module");
  Result<std::unique_ptr<ApiServer>> out = Status::Internal("API module returned nothing");
  const ApiModuleArgs args{&cfg, &data_dir, &hooks, &clock, &out};
  start(&args);
  return out;
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
  // Source- and sink-specific metrics (an MQTT connection's state, the
  // uplink's outbox), one gauge family each: edgeflow_<kind>_<name>.
  std::map<std::string, std::string> families;
  for (auto it = comps.begin(); it != comps.end(); ++it)
    if (it.value().contains("metrics")) {
      const std::string prefix = "edgeflow_" + it.value().value("kind", std::string("sink")) + "_";
      for (auto m = it.value()["metrics"].begin(); m != it.value()["metrics"].end(); ++m)
        families[prefix + m.key()] += prefix + m.key() + "{component=\"" + it.key() + "\"} " + num(m.value()) + "\n";
    }
  for (const auto& [name, lines] : families) {
    metric(name, "gauge", "Component-specific metric (docs/api/openapi.yaml; docs/outbox.md for the uplink's).");
    out += lines;
  }
  return out;
}

}  // namespace edgeflow
