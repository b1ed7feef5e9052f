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
config::Schema<T>& WithModbusConnection(config::Schema<T>& s);

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
