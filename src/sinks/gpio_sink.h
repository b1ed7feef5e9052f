#pragma once
// The `gpio` sink: local automation on GPIO output lines (libgpiod), with the
// logic of actuator_sink.h.
#include "sinks/actuator_sink.h"
#include "sources/gpio_source.h"

namespace edgeflow {

struct GpioOutputConfig : ActuatorOutputConfig {
  int64_t line = 0;
  bool active_low = false;
};
struct GpioSinkConfig : ActuatorSettings {
  std::string chip;
  std::vector<GpioOutputConfig> outputs;
};
const config::Schema<GpioSinkConfig>& GpioSinkSchema();
struct GpioSink {
  static Result<std::unique_ptr<Sink>> Create(const GpioSinkConfig& cfg, const BuildContext& ctx);
};

}  // namespace edgeflow
