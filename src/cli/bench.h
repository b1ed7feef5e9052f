#pragma once
// `edgeflow bench`: an MQTT load and latency tool for measuring a node (ours
// or any other) on the "threshold" job: it publishes readings that must each
// raise an alert, subscribes to the alerts and reports throughput and the
// latency from a reading's timestamp to its alert's arrival.
#include <iosfwd>
#include <string>

namespace edgeflow::cli {

struct BenchOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string topic = "sensors/{sensor}/temperature";  // {sensor} is replaced
  std::string alerts = "alerts/#";
  int sensors = 100;
  int count = 50000;
  double rate = 0;        // readings per second; 0: as fast as possible
  int batch = 1;          // readings per message (JSON array when > 1)
  int qos = 0;
  double value = 95;      // every reading's value (choose one that alerts)
  double timeout_secs = 60;
};

// Prints one JSON line with the results; returns the exit code.
int Bench(const BenchOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace edgeflow::cli
