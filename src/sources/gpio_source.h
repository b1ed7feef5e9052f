#pragma once
// `gpio` source: digital inputs through libgpiod (v1 API, the character
// device /dev/gpiochipN). Each line gives a reading of its initial level at
// start and one per debounced change (edge events, not polling), value 0 or 1
// (after `active_low`). A missing chip is reported by `edgeflow check`; a
// line the chip does not have, at start.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/schema.h"
#include "engine/component.h"

struct gpiod_chip;

namespace edgeflow {

struct GpioLineConfig {
  int64_t line = 0;
  std::string sensor;
  std::string metric;
  bool active_low = false;
  double debounce_secs = 0.02;
};

struct GpioSourceConfig {
  std::string chip;
  std::vector<GpioLineConfig> lines;
};
const config::Schema<GpioSourceConfig>& GpioSourceSchema();
// "/dev/gpiochip0" for "gpiochip0" or "0"; paths unchanged.
std::string GpioChipPath(const std::string& chip);
// Declares `chip` on a GPIO component's schema; a chip that does not exist
// is a configuration error (reading the file system is not a side effect).
template <class T>
config::Schema<T>& WithGpioChip(config::Schema<T>& s) {
  s.String("chip", &T::chip, "", "GPIO chip: gpiochip0, 0 or a path such as /dev/gpiochip0.", true)
      .Check([](const T& c, const YAML::Node& n, config::Diagnostics& d) {
        if (!c.chip.empty() && !std::filesystem::exists(GpioChipPath(c.chip)))
          d.Error(n["chip"], "GPIO chip " + GpioChipPath(c.chip) +
                                 " not found (ls /dev/gpiochip*; is the service allowed the device?)");
      });
  return s;
}

// A level becomes the new state once it has held for `debounce`: contact
// bounce shorter than that never shows. Pure logic (tested on its own).
class Debouncer {
 public:
  Debouncer(int initial, TimeUs debounce) : stable_(initial), debounce_(debounce) {}
  // A raw level seen at `t`.
  void Edge(int level, TimeUs t);
  // When a pending change is due by `now`: true and the new stable level.
  bool Due(TimeUs now, int* level, TimeUs* since);
  // When the pending change would be due (0: none pending).
  TimeUs deadline() const { return pending_ ? pending_at_ + debounce_ : 0; }
  int stable() const { return stable_; }

 private:
  int stable_;
  TimeUs debounce_;
  bool pending_ = false;
  int pending_level_ = 0;
  TimeUs pending_at_ = 0;
};

class GpioSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> Create(const GpioSourceConfig& cfg, const BuildContext& ctx);
  ~GpioSource() override;
  Status Run(SourceContext& ctx) override;

 private:
  GpioSourceConfig cfg_;
  std::string id_;
  gpiod_chip* chip_ = nullptr;
};

}  // namespace edgeflow
