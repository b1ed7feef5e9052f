// edgeflow: the IoT edge runtime's command line.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/remote_control.h"
#include "cli/bench.h"
#include "cli/commands.h"
#include "edgeflow/version.h"
#include "engine/pipeline_config.h"

int main(int argc, char** argv) {
  CLI::App app{"edgeflow: process sensor data on the edge node, next to the devices."};
  app.require_subcommand(1);

  std::string run_config, log_level;
  auto* run = app.add_subcommand("run", "Run the pipelines of a configuration until SIGINT/SIGTERM; SIGHUP reloads it.");
  run->add_option("-c,--config", run_config, "Configuration file (default: the built-in demo)");
  run->add_option("--log-level", log_level, "Override node.log_level (trace, debug, info, warn, error)");

  std::string check_path;
  auto* check = app.add_subcommand("check", "Validate a configuration without side effects; lists every error.");
  check->add_option("file", check_path, "Configuration file")->required();

  edgeflow::cli::ReplayOptions replay_opt;
  auto* replay = app.add_subcommand("replay",
                                    "Run a configuration's pipelines over a recording as fast as possible; events go "
                                    "to stdout as JSON lines, then a summary line.");
  replay->add_option("-c,--config", replay_opt.config_path, "Configuration file")->required();
  replay->add_option("--input", replay_opt.input_path, "Recording (.csv or .jsonl)")->required();
  replay->add_flag("--with-sinks", replay_opt.with_sinks, "Also write to the configuration's sinks (default: stdout only)");
  replay->add_flag("--emit-readings", replay_opt.emit_readings, "Print readings too, not only aggregates, alerts and dead letters");

  edgeflow::cli::BenchOptions bench_opt;
  auto* bench = app.add_subcommand("bench",
                                   "MQTT load and latency test of a running node: publishes readings that each must "
                                   "raise an alert and measures reading-to-alert latency (one JSON line of results).");
  bench->add_option("--host", bench_opt.host, "Broker host")->capture_default_str();
  bench->add_option("--port", bench_opt.port, "Broker port")->capture_default_str();
  bench->add_option("--topic", bench_opt.topic, "Reading topic; {sensor} is replaced")->capture_default_str();
  bench->add_option("--alerts", bench_opt.alerts, "Alert topic filter to subscribe")->capture_default_str();
  bench->add_option("--sensors", bench_opt.sensors, "Number of sensors (round robin)")->capture_default_str();
  bench->add_option("--count", bench_opt.count, "Readings to send (bounded)")->capture_default_str();
  bench->add_option("--rate", bench_opt.rate, "Readings per second; 0: as fast as possible")->capture_default_str();
  bench->add_option("--batch", bench_opt.batch, "Readings per message (JSON array when > 1)")->capture_default_str();
  bench->add_option("--qos", bench_opt.qos, "QoS of readings and the alert subscription")->capture_default_str();
  bench->add_option("--value", bench_opt.value, "Value of every reading")->capture_default_str();
  bench->add_option("--timeout", bench_opt.timeout_secs, "Give up after this many seconds")->capture_default_str();

  std::string sign_key, sign_input = "-";
  auto* sign = app.add_subcommand("sign-command",
                                  "Sign a remote command (JSON) with the node's shared key; prints the MQTT payload to "
                                  "publish on <topic_prefix>/<node>/commands.");
  sign->add_option("--key-file", sign_key, "The key file (as in the node's remote.key_file)")->required();
  sign->add_option("command", sign_input, "File with the command JSON; - for standard input")->capture_default_str();

  auto* version = app.add_subcommand("version", "Print the version");
  auto* docs = app.add_subcommand("docs", "Print the configuration reference (docs/configuration.md)");

  CLI11_PARSE(app, argc, argv);

  // Warnings and errors of every command on stderr; `run` sets its own level.
  edgeflow::cli::SetupLogging("warn");
  if (*run) return edgeflow::cli::Run(run_config, log_level);
  if (*check) return edgeflow::cli::Check(check_path, std::cout, std::cerr);
  if (*replay) return edgeflow::cli::Replay(replay_opt, std::cerr);
  if (*bench) return edgeflow::cli::Bench(bench_opt, std::cout, std::cerr);
  if (*sign) {
    auto key = edgeflow::ReadKeyFile(sign_key);
    if (!key.ok()) {
      std::cerr << key.status().message() << "\n";
      return 2;
    }
    std::ostringstream body;
    if (sign_input == "-") body << std::cin.rdbuf();
    else body << std::ifstream(sign_input).rdbuf();
    std::string text = body.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    std::cout << edgeflow::SignCommand(text, *key);
    return 0;
  }
  if (*version) {
    std::cout << "edgeflow " << edgeflow::kVersion << "\n";
    return 0;
  }
  if (*docs) {
    std::cout << edgeflow::ConfigurationReference();
    return 0;
  }
  return 0;
}
