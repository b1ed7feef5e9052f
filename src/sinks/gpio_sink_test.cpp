#include "sinks/gpio_sink.h"

#include <gtest/gtest.h>

#include "core/testing.h"
#include "engine/config_testing.h"

namespace edgeflow {
namespace {

using testing::SinkConfigErrors;

TEST(GpioSink, AMissingChipAndBadOutputsAreConfigurationErrors) {
  std::string e = SinkConfigErrors("  - id: relays\n    type: gpio\n    inputs: [in]\n    chip: gpiochip42\n"
                         "    outputs: [{name: pump, line: 5}]\n    actions: [{rule: dry, output: valve}]\n");
  EXPECT_NE(e.find("c.yaml:6:11: GPIO chip /dev/gpiochip42 not found"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:8:35: unknown output 'valve'"), std::string::npos) << e;
  e = SinkConfigErrors("  - {id: relays, type: gpio, inputs: [in], chip: gpiochip42, outputs: [{name: pump, line: 5, safe_value: 2}]}\n");
  EXPECT_NE(e.find("a GPIO output is 0 or 1"), std::string::npos) << e;
}

TEST(GpioSink, OpeningAMissingChipFailsWithAClearError) {
  testing::TempDir dir;
  GpioSinkConfig cfg;
  cfg.chip = "/nonexistent/gpiochip0";
  GpioOutputConfig o;
  o.name = "pump";
  o.line = 5;
  cfg.outputs.push_back(o);
  BuildContext ctx;
  ctx.data_dir = dir.path();
  ctx.component_id = "relays";
  auto s = GpioSink::Create(cfg, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("gpio sink 'relays': cannot open /nonexistent/gpiochip0"), std::string::npos)
      << s.status().ToString();
}

}  // namespace
}  // namespace edgeflow
