// edgeflow: the IoT edge runtime's command line.
#include <CLI/CLI.hpp>
#include <iostream>

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

  auto* version = app.add_subcommand("version", "Print the version");
  auto* docs = app.add_subcommand("docs", "Print the configuration reference (docs/configuration.md)");

  CLI11_PARSE(app, argc, argv);

  if (*run) return edgeflow::cli::Run(run_config, log_level);
  if (*check) return edgeflow::cli::Check(check_path, std::cout, std::cerr);
  if (*replay) return edgeflow::cli::Replay(replay_opt, std::cerr);
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
