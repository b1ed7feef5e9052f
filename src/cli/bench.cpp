#include "cli/bench.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "transport/mqtt.h"

namespace edgeflow::cli {

namespace {

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

int Bench(const BenchOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.count <= 0 || opt.sensors <= 0 || opt.batch <= 0 || opt.rate < 0) {
    err << "bench: count, sensors and batch must be positive, rate not negative\n";
    return 2;
  }
  Clock& clock = SystemClock::Instance();
  StopToken stop;
  MqttBrokerConfig b;
  MqttBrokerSchema().SetDefaults(b);
  b.host = opt.host;
  b.port = opt.port;
  auto sub = MqttConnection::Create(b, "edgeflow-bench-sub", clock);
  auto pub = MqttConnection::Create(b, "edgeflow-bench-pub", clock);
  if (!sub.ok() || !pub.ok()) {
    err << "bench: " << (sub.ok() ? pub.status() : sub.status()).ToString() << "\n";
    return 1;
  }
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<size_t>(opt.count));
  int64_t received = 0, bad = 0;
  bool subscribed = false;
  simdjson::dom::parser parser;
  (*sub)->on_connect([&](MqttConnection& c) { subscribed = c.Subscribe(opt.alerts, opt.qos).ok(); });
  (*sub)->on_message([&](const mosquitto_message& m) {
    const TimeUs now = clock.now();
    simdjson::dom::element doc;
    int64_t ts = 0;
    if (parser.parse(static_cast<const char*>(m.payload), static_cast<size_t>(m.payloadlen)).get(doc) || doc["ts"].get_int64().get(ts)) {
      ++bad;
      return;
    }
    ++received;
    latencies_ms.push_back(static_cast<double>(now - ts) / 1000.0);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(opt.timeout_secs * 1000));
  auto expired = [&] { return std::chrono::steady_clock::now() > deadline; };
  while ((!(*sub)->connected() || !subscribed || !(*pub)->connected()) && !expired()) {
    (*sub)->Loop(10, stop);
    (*pub)->Loop(10, stop);
  }
  if (expired()) {
    err << "bench: cannot connect to " << opt.host << ":" << opt.port << ": " << (*sub)->last_error() << "\n";
    return 1;
  }
  // Let the subscription settle before the first reading.
  for (int i = 0; i < 20; ++i) (*sub)->Loop(5, stop);

  std::string payload, topic;
  const TimeUs start = clock.now();
  int sent = 0;
  uint64_t seq = 0;
  while (sent < opt.count && !expired()) {
    if (opt.rate > 0) {  // pace: the n-th reading is due at start + n / rate
      const TimeUs due = start + static_cast<TimeUs>(static_cast<double>(sent) * 1e6 / opt.rate);
      while (clock.now() < due && !expired()) (*sub)->Loop(0, stop);
    }
    const int n = std::min(opt.batch, opt.count - sent);
    const std::string sensor = fmt::format("B{}", sent / opt.batch % opt.sensors);
    topic = opt.topic;
    if (auto p = topic.find("{sensor}"); p != std::string::npos) topic.replace(p, 8, sensor);
    payload.clear();
    if (n > 1) payload += '[';
    for (int i = 0; i < n; ++i) {
      if (i) payload += ',';
      fmt::format_to(std::back_inserter(payload), R"({{"sensor":"{}","seq":{},"ts":{},"value":{}}})", sensor, ++seq,
                     clock.now(), opt.value);
    }
    if (n > 1) payload += ']';
    Status st = (*pub)->Publish(topic, payload.data(), payload.size(), opt.qos, false);
    if (!st.ok()) {
      (*pub)->Loop(1, stop);  // back off briefly and retry this message
      continue;
    }
    sent += n;
    (*pub)->Loop(0, stop);
    (*sub)->Loop(0, stop);
  }
  const TimeUs sent_done = clock.now();
  // Wait for the alerts (bounded by the timeout and by 2 s of silence).
  TimeUs last_progress = clock.now();
  int64_t seen = received;
  while (received < sent && !expired() && clock.now() - last_progress < 2 * kUsPerSec) {
    (*sub)->Loop(20, stop);
    (*pub)->Loop(0, stop);
    if (received != seen) {
      seen = received;
      last_progress = clock.now();
    }
  }
  const double secs = static_cast<double>(clock.now() - start) / 1e6;
  nlohmann::json j = {{"sent", sent},
                      {"alerts", received},
                      {"unparsed_alerts", bad},
                      {"publish_seconds", static_cast<double>(sent_done - start) / 1e6},
                      {"seconds", secs},
                      {"alerts_per_s", secs > 0 ? static_cast<double>(received) / secs : 0},
                      {"lat_p50_ms", Percentile(latencies_ms, 0.50)},
                      {"lat_p99_ms", Percentile(latencies_ms, 0.99)},
                      {"lat_max_ms", latencies_ms.empty() ? 0 : *std::max_element(latencies_ms.begin(), latencies_ms.end())}};
  out << j.dump() << std::endl;
  return received == sent ? 0 : 1;
}

}  // namespace edgeflow::cli
