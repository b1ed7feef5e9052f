#pragma once
// The subcommands of the `edgeflow` binary, callable from tests.
#include <iosfwd>
#include <string>

namespace edgeflow::cli {

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitInvalidConfig = 2;

// The built-in demo configuration (examples/demo.yaml, compiled in).
const std::string& DemoConfig();

// Logs go to stderr (stdout carries each command's output) at `level`.
void SetupLogging(const std::string& level);

int Check(const std::string& path, std::ostream& out, std::ostream& err);

struct ReplayOptions {
  std::string config_path;
  std::string input_path;
  bool with_sinks = false;
  bool emit_readings = false;
};
int Replay(const ReplayOptions& opt, std::ostream& err);

// Runs the daemon until SIGINT/SIGTERM (or until every source has finished).
// SIGHUP reloads `config_path` after validating it. Empty path: built-in demo.
int Run(const std::string& config_path, const std::string& log_level);

}  // namespace edgeflow::cli
