#include "sources/modbus_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {

const std::vector<std::pair<std::string, WordOrder>> kOrders = {{"big", WordOrder::kBig}, {"little", WordOrder::kLittle}};

const Schema<ModbusPointConfig>& PointSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusPointConfig>("point", "");
    s->String("sensor", &ModbusPointConfig::sensor, "", "Sensor id of the readings.", true)
        .String("metric", &ModbusPointConfig::metric, "value", "Metric name.")
        .Enum<ModbusTable>("table", &ModbusPointConfig::table, ModbusTable::kHolding,
                           {{"holding", ModbusTable::kHolding}, {"input", ModbusTable::kInput},
                            {"coil", ModbusTable::kCoil}, {"discrete", ModbusTable::kDiscrete}},
                           "Holding or input registers, coils or discrete inputs.")
        .Number<int64_t>("address", &ModbusPointConfig::address, 0, "", "Zero-based address (protocol address).", 0,
                         65535)
        .Enum<ModbusType>("type", &ModbusPointConfig::type, ModbusType::kUint16,
                          {{"bool", ModbusType::kBool}, {"int16", ModbusType::kInt16}, {"uint16", ModbusType::kUint16},
                           {"int32", ModbusType::kInt32}, {"uint32", ModbusType::kUint32},
                           {"float32", ModbusType::kFloat32}, {"int64", ModbusType::kInt64},
                           {"uint64", ModbusType::kUint64}, {"float64", ModbusType::kFloat64}},
                          "Data type; coils and discrete inputs are bool.")
        .Enum<WordOrder>("byte_order", &ModbusPointConfig::byte_order, WordOrder::kBig, kOrders,
                         "Byte order within a register (big: as the Modbus standard).")
        .Enum<WordOrder>("word_order", &ModbusPointConfig::word_order, WordOrder::kBig, kOrders,
                         "Register order of 32- and 64-bit values (big: most significant register first).")
        .Number<double>("scale", &ModbusPointConfig::scale, 1, "", "Reading = raw value * scale + offset.")
        .Number<double>("offset", &ModbusPointConfig::offset, 0, "sensor unit", "Added after scaling.")
        .Check([](const ModbusPointConfig& c, const YAML::Node& n, Diagnostics& d) {
          const bool bits = c.table == ModbusTable::kCoil || c.table == ModbusTable::kDiscrete;
          if (bits != (c.type == ModbusType::kBool))
            d.Error(n, bits ? "coils and discrete inputs have type bool" : "registers cannot have type bool");
          if (c.address + ModbusRegisters(c.type) > 65536) d.Error(n["address"], "the value runs past address 65535");
        });
    return s;
  }();
  return *s;
}

const Schema<ModbusGroupConfig>& GroupSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusGroupConfig>("group", "");
    s->Number<double>("interval_secs", &ModbusGroupConfig::interval_secs, 1, "s", "Poll interval of the group.", 0.001,
                      86400)
        .ObjectList("points", &ModbusGroupConfig::points, PointSchema(), "The values read.", true);
    return s;
  }();
  return *s;
}

}  // namespace

const Schema<ModbusSourceConfig>& ModbusSourceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ModbusSourceConfig>("modbus", "");
    WithModbusConnection(*s)
        .ObjectList("groups", &ModbusSourceConfig::groups, GroupSchema(), "Point groups, each with its poll interval.",
                    true)
        .Check([](const ModbusSourceConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.groups.empty()) d.Error(n["groups"], "modbus: at least one group");
        });
    return s;
  }();
  return *s;
}

Result<std::unique_ptr<ModbusLink>> ModbusLink::Create(const ModbusConnectionConfig& cfg, std::string owner) {
  std::unique_ptr<ModbusLink> l(new ModbusLink());
  l->cfg_ = cfg;
  l->owner_ = std::move(owner);
  if (!cfg.host.empty()) {
    l->ctx_ = modbus_new_tcp(cfg.host.c_str(), static_cast<int>(cfg.port));
    l->where_ = cfg.host + ":" + std::to_string(cfg.port);
  } else {
    l->ctx_ = modbus_new_rtu(cfg.serial_port.c_str(), static_cast<int>(cfg.baud), cfg.parity[0],
                             static_cast<int>(cfg.data_bits), static_cast<int>(cfg.stop_bits));
    l->where_ = cfg.serial_port;
  }
  if (!l->ctx_) return Status::Invalid(l->owner_ + ": cannot create a Modbus context: " + modbus_strerror(errno));
  modbus_set_slave(l->ctx_, static_cast<int>(cfg.unit_id));
  const auto usec = static_cast<uint32_t>(cfg.timeout_secs * 1e6);
  modbus_set_response_timeout(l->ctx_, usec / 1000000, usec % 1000000);
  return l;
}

ModbusLink::~ModbusLink() {
  Disconnect();
  if (ctx_) modbus_free(ctx_);
}

void ModbusLink::Disconnect() {
  if (connected_) modbus_close(ctx_);
  connected_ = false;
}

bool ModbusLink::Ensure(TimeUs now) {
  if (connected_) return true;
  if (now < next_connect_) return false;
  if (modbus_connect(ctx_) == 0) {
    connected_ = true;
    attempt_ = 0;
    last_error_.clear();
    spdlog::info("{}: connected to {}", owner_, where_);
    return true;
  }
  const std::string why = modbus_strerror(errno);
  if (why != last_error_) spdlog::warn("{}: cannot connect to {}: {}", owner_, where_, why);
  last_error_ = why;
  const double delay =
      std::min(cfg_.reconnect_max_secs, cfg_.reconnect_min_secs * static_cast<double>(1 << std::min(attempt_, 20)));
  ++attempt_;
  next_connect_ = now + SecondsToUs(delay);
  return false;
}

bool ModbusLink::Failed(int err) {
  if (err > MODBUS_ENOBASE && err < MODBUS_ENOBASE + 20) return true;  // an exception response
  if (err == ECONNRESET || err == EPIPE || err == EBADF || err == ENOTCONN) Disconnect();
  else modbus_flush(ctx_);
  return false;
}

int ModbusRegisters(ModbusType t) {
  switch (t) {
    case ModbusType::kBool:
    case ModbusType::kInt16:
    case ModbusType::kUint16: return 1;
    case ModbusType::kInt32:
    case ModbusType::kUint32:
    case ModbusType::kFloat32: return 2;
    default: return 4;
  }
}

double DecodeModbus(const uint16_t* regs, ModbusType t, WordOrder byte_order, WordOrder word_order) {
  const int n = ModbusRegisters(t);
  uint64_t raw = 0;
  for (int i = 0; i < n; ++i) {
    uint16_t r = regs[word_order == WordOrder::kBig ? i : n - 1 - i];
    if (byte_order == WordOrder::kLittle) r = static_cast<uint16_t>((r >> 8) | (r << 8));
    raw = (raw << 16) | r;
  }
  switch (t) {
    case ModbusType::kBool: return raw ? 1.0 : 0.0;
    case ModbusType::kInt16: return static_cast<int16_t>(raw);
    case ModbusType::kUint16: return static_cast<uint16_t>(raw);
    case ModbusType::kInt32: return static_cast<int32_t>(raw);
    case ModbusType::kUint32: return static_cast<uint32_t>(raw);
    case ModbusType::kFloat32: {
      float f;
      const uint32_t u = static_cast<uint32_t>(raw);
      std::memcpy(&f, &u, 4);
      return f;
    }
    case ModbusType::kInt64: return static_cast<double>(static_cast<int64_t>(raw));
    case ModbusType::kUint64: return static_cast<double>(raw);
    case ModbusType::kFloat64: {
      double v;
      std::memcpy(&v, &raw, 8);
      return v;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void EncodeModbus(double value, ModbusType t, WordOrder byte_order, WordOrder word_order, uint16_t* regs) {
  uint64_t raw = 0;
  switch (t) {
    case ModbusType::kBool: raw = value != 0; break;
    case ModbusType::kInt16: raw = static_cast<uint16_t>(static_cast<int16_t>(value)); break;
    case ModbusType::kUint16: raw = static_cast<uint16_t>(value); break;
    case ModbusType::kInt32: raw = static_cast<uint32_t>(static_cast<int32_t>(value)); break;
    case ModbusType::kUint32: raw = static_cast<uint32_t>(value); break;
    case ModbusType::kFloat32: {
      const float f = static_cast<float>(value);
      uint32_t u;
      std::memcpy(&u, &f, 4);
      raw = u;
      break;
    }
    case ModbusType::kInt64: raw = static_cast<uint64_t>(static_cast<int64_t>(value)); break;
    case ModbusType::kUint64: raw = static_cast<uint64_t>(value); break;
    case ModbusType::kFloat64: std::memcpy(&raw, &value, 8); break;
  }
  const int n = ModbusRegisters(t);
  for (int i = n - 1; i >= 0; --i) {
    uint16_t r = static_cast<uint16_t>(raw & 0xffff);
    raw >>= 16;
    if (byte_order == WordOrder::kLittle) r = static_cast<uint16_t>((r >> 8) | (r << 8));
    regs[word_order == WordOrder::kBig ? i : n - 1 - i] = r;
  }
}

Result<std::unique_ptr<Source>> ModbusSource::Create(const ModbusSourceConfig& cfg, const BuildContext& ctx) {
  std::unique_ptr<ModbusSource> s(new ModbusSource());
  s->cfg_ = cfg;
  s->id_ = ctx.component_id;
  s->origin_ = ctx.component;
  for (const auto& gc : cfg.groups) {
    Group g;
    g.interval = SecondsToUs(gc.interval_secs);
    for (const auto& pc : gc.points) g.points.push_back(Point{pc, Intern(pc.sensor), Intern(pc.metric)});
    // Coalesce points of one table at nearby addresses into one request.
    std::vector<size_t> order(g.points.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const auto& x = g.points[a].cfg;
      const auto& y = g.points[b].cfg;
      return std::tie(x.table, x.address) < std::tie(y.table, y.address);
    });
    for (size_t i : order) {
      const auto& p = g.points[i].cfg;
      const bool bits = p.table == ModbusTable::kCoil || p.table == ModbusTable::kDiscrete;
      const int limit = bits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS;
      const int start = static_cast<int>(p.address), end = start + ModbusRegisters(p.type);
      if (!g.requests.empty()) {
        Request& r = g.requests.back();
        if (r.table == p.table && start <= r.start + r.count + 16 && std::max(end, r.start + r.count) - r.start <= limit) {
          r.count = std::max(end, r.start + r.count) - r.start;
          r.points.push_back(i);
          continue;
        }
      }
      g.requests.push_back(Request{p.table, start, end - start, {i}});
    }
    s->groups_.push_back(std::move(g));
  }
  auto link = ModbusLink::Create(cfg, "modbus source '" + s->id_ + "'");
  if (!link.ok()) return link.status();
  s->link_ = std::move(link).value();
  return std::unique_ptr<Source>(std::move(s));
}

bool ModbusSource::Read(const Request& r, std::string* why) {
  for (int64_t attempt = 0; attempt <= cfg_.retries; ++attempt) {
    int rc = -1;
    modbus_t* ctx = link_->ctx();
    switch (r.table) {
      case ModbusTable::kHolding: rc = modbus_read_registers(ctx, r.start, r.count, regs_.data()); break;
      case ModbusTable::kInput: rc = modbus_read_input_registers(ctx, r.start, r.count, regs_.data()); break;
      case ModbusTable::kCoil: rc = modbus_read_bits(ctx, r.start, r.count, bits_.data()); break;
      case ModbusTable::kDiscrete: rc = modbus_read_input_bits(ctx, r.start, r.count, bits_.data()); break;
    }
    if (rc == r.count) return true;
    const int err = errno;
    *why = rc < 0 ? modbus_strerror(err) : "short response";
    // An exception response (illegal address, device failure…) will not
    // change on a retry; a broken connection needs a reconnect.
    if (rc < 0 && (link_->Failed(err) || !link_->connected())) return false;
  }
  return false;
}

void ModbusSource::Poll(Group& g, TimeUs now, Batch& out) {
  bool all_ok = true;
  for (const auto& r : g.requests) {
    std::string why;
    const bool ok = link_->connected() && Read(r, &why);
    if (!ok && why.empty()) why = "not connected";
    if (!ok && why != last_error_) {
      spdlog::warn("modbus source '{}': reading {} at {} failed: {}", id_,
                   r.table == ModbusTable::kHolding ? "holding registers" : r.table == ModbusTable::kInput ? "input registers"
                   : r.table == ModbusTable::kCoil ? "coils" : "discrete inputs",
                   r.start, why);
    }
    if (!ok) {
      last_error_ = why;
      all_ok = false;
    }
    for (size_t i : r.points) {
      const Point& p = g.points[i];
      Reading rd{};
      rd.ts = now;
      rd.sensor = p.sensor;
      rd.metric = p.metric;
      rd.seq = ++seq_;
      if (ok) {
        const int off = static_cast<int>(p.cfg.address) - r.start;
        const double raw = p.cfg.type == ModbusType::kBool
                               ? (bits_[off] ? 1.0 : 0.0)
                               : DecodeModbus(regs_.data() + off, p.cfg.type, p.cfg.byte_order, p.cfg.word_order);
        rd.value = raw * p.cfg.scale + p.cfg.offset;
        rd.quality = Quality::kGood;
      } else {
        rd.value = std::numeric_limits<double>::quiet_NaN();
        rd.quality = Quality::kBad;
      }
      out.readings.push_back(rd);
    }
  }
  if (all_ok && !last_error_.empty()) {
    spdlog::info("modbus source '{}': reads succeed again", id_);
    last_error_.clear();
  }
}

Status ModbusSource::Run(SourceContext& ctx) {
  regs_.assign(MODBUS_MAX_READ_REGISTERS, 0);
  bits_.assign(MODBUS_MAX_READ_BITS, 0);
  const TimeUs start = ctx.clock->now();
  for (auto& g : groups_) g.next = start;
  Batch batch;
  while (!ctx.stopping()) {
    TimeUs now = ctx.clock->now();
    link_->Ensure(now);
    TimeUs next = now + kUsPerSec;
    for (auto& g : groups_) {
      if (now >= g.next) {
        Poll(g, now, batch);
        // Keep the cadence: the next poll is due one interval after this one
        // was due, skipping polls a slow device made us miss.
        g.next += g.interval;
        if (g.next <= now) g.next = now + g.interval;
      }
      next = std::min(next, g.next);
    }
    if (!batch.empty()) ctx.emit(batch);
    if (!link_->connected()) next = std::min(next, std::max(link_->next_attempt(), now + 1000));
    ctx.clock->sleep_until(next, *ctx.stop);
  }
  return Status::Ok();
}

}  // namespace edgeflow
