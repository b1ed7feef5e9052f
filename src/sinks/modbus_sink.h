#pragma once
// The `modbus` sink: local automation on Modbus coils and holding registers
// (libmodbus, TCP or RTU), with the logic of actuator_sink.h.
#include "sinks/actuator_sink.h"
#include "sources/modbus_source.h"

namespace edgeflow {

struct ModbusOutputConfig : ActuatorOutputConfig {
  ModbusTable table = ModbusTable::kCoil;
  int64_t address = 0;
  ModbusType type = ModbusType::kBool;
  WordOrder byte_order = WordOrder::kBig;
  WordOrder word_order = WordOrder::kBig;
};
struct ModbusSinkConfig : ModbusConnectionConfig, ActuatorSettings {
  std::vector<ModbusOutputConfig> outputs;
};
const config::Schema<ModbusSinkConfig>& ModbusSinkSchema();
struct ModbusSink {
  static Result<std::unique_ptr<Sink>> Create(const ModbusSinkConfig& cfg, const BuildContext& ctx);
};

}  // namespace edgeflow
