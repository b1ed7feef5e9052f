#include "sources/gpio_source.h"

#include <gpiod.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

namespace {

const Schema<GpioLineConfig>& LineSchema() {
  static const auto* s = [] {
    auto* s = new Schema<GpioLineConfig>("line", "");
    s->Number<int64_t>("line", &GpioLineConfig::line, 0, "", "Line offset on the chip.", 0, 4095)
        .String("sensor", &GpioLineConfig::sensor, "", "Sensor id of the readings.", true)
        .String("metric", &GpioLineConfig::metric, "state", "Metric name.")
        .Bool("active_low", &GpioLineConfig::active_low, false, "Report 1 when the line is low.")
        .Number<double>("debounce_secs", &GpioLineConfig::debounce_secs, 0.02, "s",
                        "A level must hold this long to count (contact bounce).", 0, 10);
    return s;
  }();
  return *s;
}

}  // namespace

std::string GpioChipPath(const std::string& chip) {
  if (chip.find('/') != std::string::npos) return chip;
  if (!chip.empty() && std::all_of(chip.begin(), chip.end(), ::isdigit)) return "/dev/gpiochip" + chip;
  return "/dev/" + chip;
}

const Schema<GpioSourceConfig>& GpioSourceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<GpioSourceConfig>("gpio", "");
    WithGpioChip(*s)
        .ObjectList("lines", &GpioSourceConfig::lines, LineSchema(), "Input lines.", true)
        .Check([](const GpioSourceConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.lines.empty()) d.Error(n["lines"], "gpio: at least one line");
        });
    return s;
  }();
  return *s;
}

void Debouncer::Edge(int level, TimeUs t) {
  if (level == stable_) {
    pending_ = false;  // bounced back: nothing changed
    return;
  }
  if (!pending_ || pending_level_ != level) {
    pending_ = true;
    pending_level_ = level;
    pending_at_ = t;
  }
}

bool Debouncer::Due(TimeUs now, int* level, TimeUs* since) {
  if (!pending_ || now < pending_at_ + debounce_) return false;
  pending_ = false;
  stable_ = pending_level_;
  *level = stable_;
  *since = pending_at_;
  return true;
}

Result<std::unique_ptr<Source>> GpioSource::Create(const GpioSourceConfig& cfg, const BuildContext& ctx) {
  std::unique_ptr<GpioSource> s(new GpioSource());
  s->cfg_ = cfg;
  s->id_ = ctx.component_id;
  const std::string path = GpioChipPath(cfg.chip);
  s->chip_ = gpiod_chip_open(path.c_str());
  if (!s->chip_) return Status::NotFound("gpio source '" + s->id_ + "': cannot open " + path + ": " + std::strerror(errno));
  const unsigned n = gpiod_chip_num_lines(s->chip_);
  for (const auto& l : cfg.lines)
    if (l.line < 0 || static_cast<unsigned>(l.line) >= n)
      return Status::Invalid("gpio source '" + s->id_ + "': " + path + " has " + std::to_string(n) + " lines, no line " +
                             std::to_string(l.line));
  return std::unique_ptr<Source>(std::move(s));
}

GpioSource::~GpioSource() {
  if (chip_) gpiod_chip_close(chip_);
}

Status GpioSource::Run(SourceContext& ctx) {
  struct Input {
    GpioLineConfig cfg;
    gpiod_line* line;
    Debouncer deb;
    Symbol sensor, metric;
  };
  std::vector<Input> in;
  Batch batch;
  uint64_t seq = 0;
  auto emit = [&](const Input& i, int level, TimeUs ts) {
    Reading r{};
    r.ts = ts;
    r.sensor = i.sensor;
    r.metric = i.metric;
    r.value = level;
    r.seq = ++seq;
    batch.readings.push_back(r);
  };
  const std::string consumer = "edgeflow:" + id_;
  for (const auto& lc : cfg_.lines) {
    gpiod_line* line = gpiod_chip_get_line(chip_, static_cast<unsigned>(lc.line));
    const int flags = lc.active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (!line || gpiod_line_request_both_edges_events_flags(line, consumer.c_str(), flags) != 0)
      return Status::Unavailable("gpio source '" + id_ + "': cannot request line " + std::to_string(lc.line) + ": " +
                                 std::strerror(errno));
    const int level = gpiod_line_get_value(line);
    in.push_back(Input{lc, line, Debouncer(level, SecondsToUs(lc.debounce_secs)), Intern(lc.sensor), Intern(lc.metric)});
    emit(in.back(), level, ctx.clock->now());
  }
  ctx.emit(batch);
  while (!ctx.stopping()) {
    // Wait for an edge, at most until the next debounce deadline (or 100 ms).
    TimeUs now = ctx.clock->now();
    TimeUs wake = now + 100'000;
    for (const auto& i : in)
      if (i.deb.deadline()) wake = std::min(wake, i.deb.deadline());
    const TimeUs wait = std::max<TimeUs>(0, wake - now);
    gpiod_line_bulk bulk, events;
    gpiod_line_bulk_init(&bulk);
    for (auto& i : in) gpiod_line_bulk_add(&bulk, i.line);
    timespec ts{static_cast<time_t>(wait / 1'000'000), static_cast<long>(wait % 1'000'000) * 1000};
    const int rc = gpiod_line_event_wait_bulk(&bulk, &ts, &events);
    if (rc < 0) return Status::Unavailable("gpio source '" + id_ + "': waiting for edges: " + std::strerror(errno));
    now = ctx.clock->now();
    if (rc > 0) {
      for (unsigned k = 0; k < gpiod_line_bulk_num_lines(&events); ++k) {
        gpiod_line* line = gpiod_line_bulk_get_line(&events, k);
        gpiod_line_event ev;
        if (gpiod_line_event_read(line, &ev) != 0) continue;
        for (auto& i : in)
          if (i.line == line) i.deb.Edge(ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE ? 1 : 0, now);
      }
    }
    for (auto& i : in) {
      int level;
      TimeUs since;
      if (i.deb.Due(now, &level, &since)) emit(i, level, since);
    }
    if (!batch.empty()) ctx.emit(batch);
  }
  for (auto& i : in) gpiod_line_release(i.line);
  return Status::Ok();
}

}  // namespace edgeflow
