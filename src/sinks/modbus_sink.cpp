#include "sinks/modbus_sink.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {

const std::vector<std::pair<std::string, WordOrder>> kOrders = {{"big", WordOrder::kBig}, {"little", WordOrder::kLittle}};

const Schema<ModbusOutputConfig>& OutputSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusOutputConfig>("output", "");
    s->String("name", &ModbusOutputConfig::name, "", "Name used by actions and in the audit.", true)
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
        .Number<double>("safe_value", &ModbusOutputConfig::safe_value, 0, "",
                        "Written at start, at shutdown and when the inputs go stale.")
        .Number<double>("min", &ModbusOutputConfig::min, -1e300, "", "Lowest value a write may set (interlock).")
        .Number<double>("max", &ModbusOutputConfig::max, 1e300, "", "Highest value a write may set (interlock).")
        .Number<double>("min_interval_secs", &ModbusOutputConfig::min_interval_secs, 0, "s",
                        "Writes closer together than this are refused (interlock).", 0, 86400)
        .Bool("verify", &ModbusOutputConfig::verify, true, "Read the value back after writing it.")
        .Check([](const ModbusOutputConfig& c, const YAML::Node& n, Diagnostics& d) {
          if ((c.table == ModbusTable::kCoil) != (c.type == ModbusType::kBool))
            d.Error(n, "coils have type bool; holding registers a register type");
          if (c.min > c.max) d.Error(n, "min is above max");
          if (c.safe_value < c.min || c.safe_value > c.max) d.Error(n["safe_value"], "safe_value outside [min, max]");
        });
    return s;
  }();
  return *s;
}

const Schema<ModbusActionConfig>& ActionSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusActionConfig>("action", "");
    s->String("rule", &ModbusActionConfig::rule, "", "The rule whose alerts trigger the write.", true)
        .String("state", &ModbusActionConfig::state, "open", "open or clear: which alert event triggers it.")
        .String("output", &ModbusActionConfig::output, "", "The output to write.", true)
        .Number<double>("value", &ModbusActionConfig::value, 0, "", "The value to write.")
        .StringList("unless_open", &ModbusActionConfig::unless_open,
                    "Refuse the write while any of these rules has an open alert (interlock).")
        .Check([](const ModbusActionConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.state != "open" && c.state != "clear") d.Error(n["state"], "state must be open or clear");
        });
    return s;
  }();
  return *s;
}

}  // namespace

const Schema<ModbusSinkConfig>& ModbusSinkSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusSinkConfig>("modbus", "");
    WithModbusConnection(*s)
        .ObjectList("outputs", &ModbusSinkConfig::outputs, OutputSchema(), "Coils and registers this sink may write.",
                    true)
        .ObjectList("actions", &ModbusSinkConfig::actions, ActionSchema(), "Alert events that write an output.")
        .Number<double>("stale_after_secs", &ModbusSinkConfig::stale_after_secs, 0, "s",
                        "Inputs silent this long (processing time) put every output in its safe state; 0: off.", 0,
                        86400)
        .Bool("safe_on_start", &ModbusSinkConfig::safe_on_start, true,
              "Write the safe values at start (recovery after a crash).")
        .String("audit_path", &ModbusSinkConfig::audit_path, "",
                "Store for the write audit; empty: `<node.data_dir>/edgeflow.db`.")
        .Check([](const ModbusSinkConfig& c, const YAML::Node& n, Diagnostics& d) {
          std::set<std::string> names;
          for (size_t i = 0; i < c.outputs.size(); ++i)
            if (!names.insert(c.outputs[i].name).second) d.Error(n["outputs"][i], "duplicate output '" + c.outputs[i].name + "'");
          for (size_t i = 0; i < c.actions.size(); ++i) {
            const auto& a = c.actions[i];
            const ModbusOutputConfig* o = nullptr;
            for (const auto& oc : c.outputs)
              if (oc.name == a.output) o = &oc;
            if (!o) d.Error(n["actions"][i]["output"], "unknown output '" + a.output + "'");
            else if (a.value < o->min || a.value > o->max)
              d.Error(n["actions"][i]["value"], "value outside the output's [min, max]");
          }
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<Sink>> ModbusSink::Create(const ModbusSinkConfig& cfg, const BuildContext& ctx) {
  std::unique_ptr<ModbusSink> s(new ModbusSink());
  s->cfg_ = cfg;
  s->id_ = ctx.component_id;
  s->clock_ = ctx.clock;
  for (const auto& o : cfg.outputs) s->outputs_[o.name] = Output{o};
  auto link = ModbusLink::Create(cfg, "modbus sink '" + s->id_ + "'");
  if (!link.ok()) return link.status();
  s->link_ = std::move(link).value();
  const std::string audit =
      cfg.audit_path.empty() ? (std::filesystem::path(ctx.data_dir) / "edgeflow.db").string() : cfg.audit_path;
  auto store = Store::Open(audit);
  if (!store.ok()) return store.status();
  s->audit_ = std::move(store).value();
  const TimeUs now = ctx.clock->now();
  s->last_input_ = now;
  if (cfg.safe_on_start) s->SafeState("safe state: start", now);
  return std::unique_ptr<Sink>(std::move(s));
}

void ModbusSink::Apply(Output& out, double value, const std::string& cause, const std::vector<std::string>& unless_open,
                       TimeUs now) {
  WriteRow row{now, id_, out.cfg.name, cause, value, "", ""};
  auto refuse = [&](const std::string& why) {
    row.result = "refused";
    row.detail = why;
    spdlog::warn("modbus sink '{}': {} -> {} = {} refused: {}", id_, cause, out.cfg.name, value, why);
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
  } else if (!link_->Ensure(now)) {
    row.result = "failed";
    row.detail = "device not connected";
  } else {
    modbus_t* ctx = link_->ctx();
    const int addr = static_cast<int>(out.cfg.address);
    uint16_t regs[4] = {};
    int rc;
    if (out.cfg.table == ModbusTable::kCoil) {
      rc = modbus_write_bit(ctx, addr, value != 0 ? 1 : 0);
    } else {
      EncodeModbus(value, out.cfg.type, out.cfg.byte_order, out.cfg.word_order, regs);
      const int n = ModbusRegisters(out.cfg.type);
      rc = n == 1 ? modbus_write_register(ctx, addr, regs[0]) : modbus_write_registers(ctx, addr, n, regs);
    }
    if (rc < 0) {
      const int err = errno;
      link_->Failed(err);
      row.result = "failed";
      row.detail = modbus_strerror(err);
    } else {
      out.last_write = now;
      out.has_written = true;
      row.result = "written";
      if (out.cfg.verify) {
        double back = NAN;
        if (out.cfg.table == ModbusTable::kCoil) {
          uint8_t bit = 0;
          if (modbus_read_bits(ctx, addr, 1, &bit) == 1) back = bit;
        } else {
          uint16_t got[4] = {};
          if (modbus_read_registers(ctx, addr, ModbusRegisters(out.cfg.type), got) == ModbusRegisters(out.cfg.type))
            back = DecodeModbus(got, out.cfg.type, out.cfg.byte_order, out.cfg.word_order);
        }
        const double want = out.cfg.table == ModbusTable::kCoil ? (value != 0 ? 1.0 : 0.0) : DecodeModbus(regs, out.cfg.type, out.cfg.byte_order, out.cfg.word_order);
        if (back == want) {
          row.result = "verified";
        } else {
          row.result = "failed";
          row.detail = std::isnan(back) ? "read-back failed" : "read back " + config::FormatNumber(back);
        }
      }
    }
    if (row.result == "failed")
      spdlog::error("modbus sink '{}': {} -> {} = {} failed: {}", id_, cause, out.cfg.name, value, row.detail);
  }
  Status st = audit_->Audit(row);
  if (!st.ok()) spdlog::error("modbus sink '{}': audit not written: {}", id_, st.ToString());
}

void ModbusSink::SafeState(const std::string& why, TimeUs now) {
  for (auto& [name, out] : outputs_) Apply(out, out.cfg.safe_value, why, {}, now);
}

Status ModbusSink::Write(const Batch& b) {
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
    for (const auto& act : cfg_.actions) {
      if (act.rule != rule || act.state != (opened ? "open" : "clear")) continue;
      Apply(outputs_.at(act.output), act.value, "rule " + rule + " " + act.state, act.unless_open, now);
    }
  }
  return Status::Ok();
}

Status ModbusSink::Tick(TimeUs now) {
  link_->Ensure(now);
  if (cfg_.stale_after_secs > 0 && !safe_ && now - last_input_ > SecondsToUs(cfg_.stale_after_secs)) {
    safe_ = true;
    spdlog::warn("modbus sink '{}': no input for {} s: outputs to their safe values", id_, cfg_.stale_after_secs);
    SafeState("safe state: inputs stale", now);
  }
  return Status::Ok();
}

Status ModbusSink::Flush() {
  SafeState("safe state: shutdown", clock_->now());
  return Status::Ok();
}

}  // namespace edgeflow
