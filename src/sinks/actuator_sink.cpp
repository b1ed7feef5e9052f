#include "sinks/actuator_sink.h"

#include <gpiod.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<ActuatorActionConfig>& ActuatorActionSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ActuatorActionConfig>("action", "");
    s->String("rule", &ActuatorActionConfig::rule, "", "The rule whose alerts trigger the write.", true)
        .String("state", &ActuatorActionConfig::state, "open", "open or clear: which alert event triggers it.")
        .String("output", &ActuatorActionConfig::output, "", "The output to write.", true)
        .Number<double>("value", &ActuatorActionConfig::value, 0, "", "The value to write.")
        .StringList("unless_open", &ActuatorActionConfig::unless_open,
                    "Refuse the write while any of these rules has an open alert (interlock).")
        .Check([](const ActuatorActionConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.state != "open" && c.state != "clear") d.Error(n["state"], "state must be open or clear");
        });
    return s;
  }();
  return *s;
}

// ---- the logic ---------------------------------------------------------------

Result<std::unique_ptr<Sink>> ActuatorSink::Create(const std::string& kind, std::vector<ActuatorOutputConfig> outputs,
                                                   ActuatorSettings settings, std::unique_ptr<OutputBackend> backend,
                                                   const BuildContext& ctx) {
  std::unique_ptr<ActuatorSink> s(new ActuatorSink());
  s->id_ = ctx.component_id;
  s->name_ = kind + " sink '" + s->id_ + "'";
  s->settings_ = std::move(settings);
  s->clock_ = ctx.clock;
  s->backend_ = std::move(backend);
  for (size_t i = 0; i < outputs.size(); ++i) s->outputs_[outputs[i].name] = Output{outputs[i], i};
  const std::string audit = s->settings_.audit_path.empty()
                                ? (std::filesystem::path(ctx.data_dir) / "edgeflow.db").string()
                                : s->settings_.audit_path;
  auto store = Store::Open(audit);
  if (!store.ok()) return store.status();
  s->audit_ = std::move(store).value();
  const TimeUs now = ctx.clock->now();
  s->last_input_ = now;
  if (s->settings_.safe_on_start) s->SafeState("safe state: start", now);
  return std::unique_ptr<Sink>(std::move(s));
}

void ActuatorSink::Apply(Output& out, double value, const std::string& cause,
                         const std::vector<std::string>& unless_open, TimeUs now) {
  WriteRow row{now, id_, out.cfg.name, cause, value, "", ""};
  auto refuse = [&](const std::string& why) {
    row.result = "refused";
    row.detail = why;
    spdlog::warn("{}: {} -> {} = {} refused: {}", name_, cause, out.cfg.name, value, why);
  };
  // Going to the safe value is never held back by an interlock.
  const bool to_safe = value == out.cfg.safe_value;
  std::string blocking;
  for (const auto& r : unless_open)
    if (open_.count(r)) blocking = r;
  if (value < out.cfg.min || value > out.cfg.max) {
    refuse("value outside [" + config::FormatNumber(out.cfg.min) + ", " + config::FormatNumber(out.cfg.max) + "]");
  } else if (!to_safe && out.has_written && out.cfg.min_interval_secs > 0 &&
             now - out.last_write < SecondsToUs(out.cfg.min_interval_secs)) {
    refuse("less than min_interval_secs since the last write");
  } else if (!to_safe && !blocking.empty()) {
    refuse("interlock: rule '" + blocking + "' has an open alert");
  } else if (!backend_->Ready(now)) {
    row.result = "failed";
    row.detail = "device not reachable";
  } else if (Status st = backend_->Write(out.index, value); !st.ok()) {
    row.result = "failed";
    row.detail = st.message();
  } else {
    out.last_write = now;
    out.has_written = true;
    row.result = "written";
    if (out.cfg.verify) {
      auto back = backend_->Read(out.index);
      const double want = backend_->Stored(out.index, value);
      if (back.ok() && *back == want) {
        row.result = "verified";
      } else {
        row.result = "failed";
        row.detail = back.ok() ? "read back " + config::FormatNumber(*back) : "read-back failed: " + back.status().message();
      }
    }
  }
  if (row.result == "failed") spdlog::error("{}: {} -> {} = {} failed: {}", name_, cause, out.cfg.name, value, row.detail);
  Status st = audit_->Audit(row);
  if (!st.ok()) spdlog::error("{}: audit not written: {}", name_, st.ToString());
}

void ActuatorSink::SafeState(const std::string& why, TimeUs now) {
  for (auto& [name, out] : outputs_) Apply(out, out.cfg.safe_value, why, {}, now);
}

Status ActuatorSink::Write(const Batch& b) {
  const TimeUs now = clock_->now();
  // Fresh input: a good reading or an alert (bad-quality readings from a
  // failing sensor device do not count: the control data is stale).
  bool fresh = !b.alerts.empty();
  for (const auto& r : b.readings) fresh |= r.quality == Quality::kGood;
  if (fresh) {
    last_input_ = now;
    safe_ = false;
  }
  for (const auto& a : b.alerts) {
    const std::string rule(SymName(a.rule));
    const bool opened = a.state == AlertState::kOpen;
    if (opened) open_.insert(rule);
    else open_.erase(rule);
    for (const auto& act : settings_.actions) {
      if (act.rule != rule || act.state != (opened ? "open" : "clear")) continue;
      Apply(outputs_.at(act.output), act.value, "rule " + rule + " " + act.state, act.unless_open, now);
    }
  }
  return Status::Ok();
}

Status ActuatorSink::Tick(TimeUs now) {
  backend_->Ready(now);
  if (settings_.stale_after_secs > 0 && !safe_ && now - last_input_ > SecondsToUs(settings_.stale_after_secs)) {
    safe_ = true;
    spdlog::warn("{}: no input for {} s: outputs to their safe values", name_, settings_.stale_after_secs);
    SafeState("safe state: inputs stale", now);
  }
  return Status::Ok();
}

Status ActuatorSink::Flush() {
  SafeState("safe state: shutdown", clock_->now());
  return Status::Ok();
}

// ---- modbus ------------------------------------------------------------------

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

// ---- gpio --------------------------------------------------------------------

namespace {

const Schema<GpioOutputConfig>& GpioOutputSchema() {
  static const auto* s = [] {
    auto* s = new Schema<GpioOutputConfig>("output", "");
    WithActuatorOutput(*s)
        .Number<int64_t>("line", &GpioOutputConfig::line, 0, "", "Line offset on the chip.", 0, 4095)
        .Bool("active_low", &GpioOutputConfig::active_low, false, "Value 1 drives the line low.")
        .Check([](const GpioOutputConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.safe_value != 0 && c.safe_value != 1) d.Error(n["safe_value"], "a GPIO output is 0 or 1");
        });
    return s;
  }();
  return *s;
}

class GpioOutputs final : public OutputBackend {
 public:
  ~GpioOutputs() override {
    for (auto* l : lines_) gpiod_line_release(l);
    if (chip_) gpiod_chip_close(chip_);
  }
  static Result<std::unique_ptr<GpioOutputs>> Open(const GpioSinkConfig& cfg, const std::string& id) {
    std::unique_ptr<GpioOutputs> g(new GpioOutputs());
    const std::string path = GpioChipPath(cfg.chip);
    g->chip_ = gpiod_chip_open(path.c_str());
    if (!g->chip_) return Status::NotFound("gpio sink '" + id + "': cannot open " + path + ": " + std::strerror(errno));
    const std::string consumer = "edgeflow:" + id;
    for (const auto& o : cfg.outputs) {
      gpiod_line* line = gpiod_chip_get_line(g->chip_, static_cast<unsigned>(o.line));
      const int flags = o.active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
      // Requested at the safe value: the line never shows anything else first.
      if (!line || gpiod_line_request_output_flags(line, consumer.c_str(), flags, o.safe_value != 0 ? 1 : 0) != 0)
        return Status::Unavailable("gpio sink '" + id + "': cannot request line " + std::to_string(o.line) + " of " +
                                   path + ": " + std::strerror(errno));
      g->lines_.push_back(line);
    }
    return g;
  }
  bool Ready(TimeUs) override { return true; }
  Status Write(size_t i, double value) override {
    if (gpiod_line_set_value(lines_[i], value != 0 ? 1 : 0) == 0) return Status::Ok();
    return Status::Unavailable(std::strerror(errno));
  }
  Result<double> Read(size_t i) override {
    const int v = gpiod_line_get_value(lines_[i]);
    if (v < 0) return Status::Unavailable(std::strerror(errno));
    return static_cast<double>(v);
  }
  double Stored(size_t, double value) override { return value != 0 ? 1.0 : 0.0; }

 private:
  GpioOutputs() = default;
  gpiod_chip* chip_ = nullptr;
  std::vector<gpiod_line*> lines_;
};

}  // namespace

const Schema<GpioSinkConfig>& GpioSinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<GpioSinkConfig>("gpio", "");
    WithGpioChip(*s)
        .ObjectList("outputs", &GpioSinkConfig::outputs, GpioOutputSchema(), "Lines this sink may drive.", true)
        .Check([](const GpioSinkConfig& c, const YAML::Node& n, Diagnostics& d) {
          for (size_t i = 0; i < c.actions.size(); ++i)
            if (c.actions[i].value != 0 && c.actions[i].value != 1)
              d.Error(n["actions"][i]["value"], "a GPIO output is 0 or 1");
        });
    WithActuatorSettings(*s);
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Sink>> GpioSink::Create(const GpioSinkConfig& cfg, const BuildContext& ctx) {
  auto g = GpioOutputs::Open(cfg, ctx.component_id);
  if (!g.ok()) return g.status();
  std::vector<ActuatorOutputConfig> common(cfg.outputs.begin(), cfg.outputs.end());
  return ActuatorSink::Create("gpio", std::move(common), cfg, std::move(g).value(), ctx);
}

}  // namespace edgeflow
