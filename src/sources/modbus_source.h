#pragma once
// `modbus` source: polls Modbus TCP or RTU (serial) devices with libmodbus.
//
// Points are grouped; each group is polled at its own interval. Within a
// group, points of the same table at nearby addresses are read with one
// request (at most 125 registers or 2000 bits). Registers decode as int16,
// uint16, int32, uint32, float32, int64, uint64 or float64 with a declared
// byte order (within a register) and word order (between registers), then
// value * scale + offset. A failed request (timeout, exception response,
// lost connection) yields its points with quality `bad` and no value, never
// silence; the connection is re-established with exponential backoff.
#include <modbus/modbus.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/schema.h"
#include "engine/component.h"

namespace edgeflow {

enum class ModbusTable { kHolding, kInput, kCoil, kDiscrete };
enum class ModbusType { kBool, kInt16, kUint16, kInt32, kUint32, kFloat32, kInt64, kUint64, kFloat64 };
enum class WordOrder { kBig, kLittle };

struct ModbusPointConfig {
  std::string sensor;
  std::string metric;
  ModbusTable table = ModbusTable::kHolding;
  int64_t address = 0;
  ModbusType type = ModbusType::kUint16;
  WordOrder byte_order = WordOrder::kBig;  // within a register
  WordOrder word_order = WordOrder::kBig;  // between registers
  double scale = 1;
  double offset = 0;
};

struct ModbusGroupConfig {
  double interval_secs = 1;
  std::vector<ModbusPointConfig> points;
};

// Where a Modbus device is and how to talk to it (shared by source and sink).
struct ModbusConnectionConfig {
  std::string host;
  int64_t port = 502;
  std::string serial_port;
  int64_t baud = 9600;
  std::string parity = "N";
  int64_t data_bits = 8;
  int64_t stop_bits = 1;
  int64_t unit_id = 1;
  double timeout_secs = 0.5;
  int64_t retries = 1;
  double reconnect_min_secs = 0.5;
  double reconnect_max_secs = 30;
};
// Declares the connection options on a component's schema.
template <class T>
config::Schema<T>& WithModbusConnection(config::Schema<T>& s) {
  s.String("host", &T::host, "", "Modbus TCP device address (or use serial_port).")
      .template Number<int64_t>("port", &T::port, 502, "", "Modbus TCP port.", 1, 65535)
      .String("serial_port", &T::serial_port, "", "Modbus RTU device, e.g. /dev/ttyUSB0.")
      .template Number<int64_t>("baud", &T::baud, 9600, "bit/s", "RTU baud rate.", 50, 4000000)
      .String("parity", &T::parity, "N", "RTU parity: N, E or O.")
      .template Number<int64_t>("data_bits", &T::data_bits, 8, "", "RTU data bits.", 5, 8)
      .template Number<int64_t>("stop_bits", &T::stop_bits, 1, "", "RTU stop bits.", 1, 2)
      .template Number<int64_t>("unit_id", &T::unit_id, 1, "", "Unit (slave) id.", 0, 247)
      .template Number<double>("timeout_secs", &T::timeout_secs, 0.5, "s", "Response timeout per request.", 0.001, 60)
      .template Number<int64_t>("retries", &T::retries, 1, "", "Retries of a failed request.", 0, 10)
      .template Number<double>("reconnect_min_secs", &T::reconnect_min_secs, 0.5, "s",
                               "First reconnect delay; doubles per failure.", 0.01, 3600)
      .template Number<double>("reconnect_max_secs", &T::reconnect_max_secs, 30, "s", "Reconnect delay cap.", 0.01, 3600)
      .Check([](const T& c, const YAML::Node& n, config::Diagnostics& d) {
        if (c.host.empty() == c.serial_port.empty()) d.Error(n, "modbus: set exactly one of 'host' and 'serial_port'");
        if (c.parity != "N" && c.parity != "E" && c.parity != "O") d.Error(n["parity"], "parity must be N, E or O");
      });
  return s;
}


struct ModbusSourceConfig : ModbusConnectionConfig {
  std::vector<ModbusGroupConfig> groups;
};
const config::Schema<ModbusSourceConfig>& ModbusSourceSchema();

// One libmodbus context: connects lazily with exponential backoff, reports
// errors once per change, reconnects after connection errors.
class ModbusLink {
 public:
  static Result<std::unique_ptr<ModbusLink>> Create(const ModbusConnectionConfig& cfg, std::string owner);
  ~ModbusLink();
  // Connects if due; true when connected.
  bool Ensure(TimeUs now);
  bool connected() const { return connected_; }
  modbus_t* ctx() { return ctx_; }
  // After a failed call: drops the connection when the error means it is broken.
  // Returns true for exception responses (the device answered).
  bool Failed(int err);
  TimeUs next_attempt() const { return next_connect_; }
  void Disconnect();

 private:
  ModbusLink() = default;
  ModbusConnectionConfig cfg_;
  std::string owner_, where_, last_error_;
  modbus_t* ctx_ = nullptr;
  bool connected_ = false;
  int attempt_ = 0;
  TimeUs next_connect_ = 0;
};

// Registers a type occupies (bits: 1 coil or discrete input).
int ModbusRegisters(ModbusType t);
// Decodes `ModbusRegisters(t)` registers starting at `regs`.
double DecodeModbus(const uint16_t* regs, ModbusType t, WordOrder byte_order, WordOrder word_order);
// The inverse, for tests and writes: fills ModbusRegisters(t) registers.
void EncodeModbus(double value, ModbusType t, WordOrder byte_order, WordOrder word_order, uint16_t* regs);

class ModbusSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> Create(const ModbusSourceConfig& cfg, const BuildContext& ctx);
  Status Run(SourceContext& ctx) override;

 private:
  struct Point {
    ModbusPointConfig cfg;
    Symbol sensor, metric;
  };
  struct Request {
    ModbusTable table;
    int start = 0, count = 0;  // registers or bits
    std::vector<size_t> points;  // into group points
  };
  struct Group {
    TimeUs interval = 0;
    TimeUs next = 0;
    std::vector<Point> points;
    std::vector<Request> requests;
  };
  // One request, with retries; false when it failed (errno-based reason in `why`).
  bool Read(const Request& r, std::string* why);
  void Poll(Group& g, TimeUs now, Batch& out);

  ModbusSourceConfig cfg_;
  std::string id_;
  Symbol origin_ = kNoSymbol;
  std::unique_ptr<ModbusLink> link_;
  std::vector<Group> groups_;
  std::vector<uint16_t> regs_;
  std::vector<uint8_t> bits_;
  uint64_t seq_ = 0;
  std::string last_error_;
};

}  // namespace edgeflow
