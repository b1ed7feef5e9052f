#include "sources/gpio_source.h"

#include <gtest/gtest.h>

#include "engine/pipeline_config.h"

namespace edgeflow {
namespace {

constexpr TimeUs kMs = 1000;

TEST(Debouncer, BounceShorterThanTheWindowNeverShows) {
  Debouncer d(0, 20 * kMs);
  int level;
  TimeUs since;
  d.Edge(1, 0);
  d.Edge(0, 3 * kMs);
  d.Edge(1, 5 * kMs);
  d.Edge(0, 9 * kMs);  // back to the stable level: nothing pending
  EXPECT_FALSE(d.Due(100 * kMs, &level, &since));
  EXPECT_EQ(d.stable(), 0);
}

TEST(Debouncer, AHeldChangeCountsOnceFromItsFirstEdge) {
  Debouncer d(0, 20 * kMs);
  int level;
  TimeUs since;
  d.Edge(1, 100 * kMs);
  d.Edge(1, 105 * kMs);  // the same level again: the window is not restarted
  EXPECT_EQ(d.deadline(), 120 * kMs);
  EXPECT_FALSE(d.Due(119 * kMs, &level, &since));
  ASSERT_TRUE(d.Due(120 * kMs, &level, &since));
  EXPECT_EQ(level, 1);
  EXPECT_EQ(since, 100 * kMs);
  EXPECT_FALSE(d.Due(200 * kMs, &level, &since)) << "reported once";
  EXPECT_EQ(d.deadline(), 0);
}

TEST(Gpio, ChipNamesMapToDevicePaths) {
  EXPECT_EQ(GpioChipPath("gpiochip2"), "/dev/gpiochip2");
  EXPECT_EQ(GpioChipPath("0"), "/dev/gpiochip0");
  EXPECT_EQ(GpioChipPath("/dev/gpiochip1"), "/dev/gpiochip1");
}

TEST(Gpio, AMissingChipIsAConfigurationErrorWithItsLocation) {
  PipelineConfig cfg;
  config::Diagnostics d("c.yaml");
  EXPECT_FALSE(ParsePipelineConfig("sources:\n  - id: door\n    type: gpio\n    chip: gpiochip99\n"
                                   "    lines: [{line: 4, sensor: door}]\n"
                                   "sinks: [{id: o, type: file, inputs: [door]}]\n",
                                   &cfg, d));
  EXPECT_NE(d.Format().find("c.yaml:4:11: GPIO chip /dev/gpiochip99 not found"), std::string::npos) << d.Format();
}

TEST(Gpio, OpeningAMissingChipFailsWithAClearError) {
  GpioSourceConfig cfg;
  cfg.chip = "/nonexistent/gpiochip0";
  cfg.lines.push_back(GpioLineConfig{4, "door", "state", false, 0.02});
  auto s = GpioSource::Create(cfg, BuildContext{});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("cannot open /nonexistent/gpiochip0: No such file or directory"), std::string::npos)
      << s.status().ToString();
}

}  // namespace
}  // namespace edgeflow
