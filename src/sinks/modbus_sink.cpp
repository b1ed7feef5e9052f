#include "sinks/modbus_sink.h"

#include <cerrno>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {

const std::vector<std::pair<std::string, WordOrder>> kOrders = {{"big", WordOrder::kBig}, {"little", WordOrder::kLittle}};

const Schema<ModbusOutputConfig>& ModbusOutputSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusOutputConfig>("output", "");
    WithActuatorOutput(*s)
        .Enum<ModbusTable>("table", &ModbusOutputConfig::table, ModbusTable::kCoil,
                           {{"coil", ModbusTable::kCoil}, {"holding", ModbusTable::kHolding}},
                           "A coil or a holding register.")
        .Number<int64_t>("address", &ModbusOutputConfig::address, 0, "", "Zero-based address.", 0, 65535)
        .Enum<ModbusType>("type", &ModbusOutputConfig::type, ModbusType::kBool,
                          {{"bool", ModbusType::kBool}, {"int16", ModbusType::kInt16}, {"uint16", ModbusType::kUint16},
                           {"int32", ModbusType::kInt32}, {"uint32", ModbusType::kUint32},
                           {"float32", ModbusType::kFloat32}},
                          "bool for coils; a register type for holding registers.")
        .Enum<WordOrder>("byte_order", &ModbusOutputConfig::byte_order, WordOrder::kBig, kOrders, "Byte order.")
        .Enum<WordOrder>("word_order", &ModbusOutputConfig::word_order, WordOrder::kBig, kOrders, "Word order.")
        .Check([](const ModbusOutputConfig& c, const YAML::Node& n, Diagnostics& d) {
          if ((c.table == ModbusTable::kCoil) != (c.type == ModbusType::kBool))
            d.Error(n, "coils have type bool; holding registers a register type");
        });
    return s;
  }();
  return *s;
}

class ModbusOutputs final : public OutputBackend {
 public:
  ModbusOutputs(std::unique_ptr<ModbusLink> link, std::vector<ModbusOutputConfig> outs)
      : link_(std::move(link)), outs_(std::move(outs)) {}
  bool Ready(TimeUs now) override { return link_->Ensure(now); }
  Status Write(size_t i, double value) override {
    const auto& o = outs_[i];
    const int addr = static_cast<int>(o.address);
    int rc;
    if (o.table == ModbusTable::kCoil) {
      rc = modbus_write_bit(link_->ctx(), addr, value != 0 ? 1 : 0);
    } else {
      uint16_t regs[4] = {};
      EncodeModbus(value, o.type, o.byte_order, o.word_order, regs);
      const int n = ModbusRegisters(o.type);
      rc = n == 1 ? modbus_write_register(link_->ctx(), addr, regs[0]) : modbus_write_registers(link_->ctx(), addr, n, regs);
    }
    if (rc >= 0) return Status::Ok();
    const int err = errno;
    link_->Failed(err);
    return Status::Unavailable(modbus_strerror(err));
  }
  Result<double> Read(size_t i) override {
    const auto& o = outs_[i];
    const int addr = static_cast<int>(o.address);
    if (o.table == ModbusTable::kCoil) {
      uint8_t bit = 0;
      if (modbus_read_bits(link_->ctx(), addr, 1, &bit) == 1) return static_cast<double>(bit);
    } else {
      uint16_t got[4] = {};
      const int n = ModbusRegisters(o.type);
      if (modbus_read_registers(link_->ctx(), addr, n, got) == n) return DecodeModbus(got, o.type, o.byte_order, o.word_order);
    }
    const int err = errno;
    link_->Failed(err);
    return Status::Unavailable(modbus_strerror(err));
  }
  double Stored(size_t i, double value) override {
    const auto& o = outs_[i];
    if (o.table == ModbusTable::kCoil) return value != 0 ? 1.0 : 0.0;
    uint16_t regs[4] = {};
    EncodeModbus(value, o.type, o.byte_order, o.word_order, regs);
    return DecodeModbus(regs, o.type, o.byte_order, o.word_order);
  }

 private:
  std::unique_ptr<ModbusLink> link_;
  std::vector<ModbusOutputConfig> outs_;
};

}  // namespace

const Schema<ModbusSinkConfig>& ModbusSinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusSinkConfig>("modbus", "");
    WithModbusConnection(*s).ObjectList("outputs", &ModbusSinkConfig::outputs, ModbusOutputSchema(),
                                        "Coils and registers this sink may write.", true);
    WithActuatorSettings(*s);
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Sink>> ModbusSink::Create(const ModbusSinkConfig& cfg, const BuildContext& ctx) {
  auto link = ModbusLink::Create(cfg, "modbus sink '" + ctx.component_id + "'");
  if (!link.ok()) return link.status();
  std::vector<ActuatorOutputConfig> common(cfg.outputs.begin(), cfg.outputs.end());
  return ActuatorSink::Create("modbus", std::move(common), cfg,
                              std::make_unique<ModbusOutputs>(std::move(link).value(), cfg.outputs), ctx);
}

}  // namespace edgeflow
