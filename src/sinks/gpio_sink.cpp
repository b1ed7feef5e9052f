#include "sinks/gpio_sink.h"

#include <gpiod.h>

#include <cerrno>
#include <cstring>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

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
