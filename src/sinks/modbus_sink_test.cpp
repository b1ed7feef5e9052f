#include "sinks/modbus_sink.h"

#include <gtest/gtest.h>

#include "core/testing.h"
#include "engine/config_testing.h"

namespace edgeflow {
namespace {

using testing::SinkConfigErrors;

TEST(Sequences, BadStepsAreConfigurationErrors) {
  const std::string plc =
      "  - id: plc\n    type: modbus\n    host: h\n    inputs: [in]\n    outputs: [{name: motor, table: coil, address: 0}]\n"
      "    sequences:\n";
  std::string e = SinkConfigErrors(plc +
                         "      - {id: a, rule: jam, steps: [{output: motor, wait_secs: 1}]}\n"
                         "      - {id: b, rule: jam, on_abort: pause, steps: [{wait_clear: [jam], value: 1}, "
                         "{wait_secs: 1, timeout_secs: 3}]}\n"
                         "      - {id: c, rule: jam, steps: []}\n");
  EXPECT_NE(e.find("c.yaml:9:36: a step has exactly one of output, wait_secs, wait_clear/wait_open"), std::string::npos)
      << e;
  EXPECT_NE(e.find("c.yaml:10:38: 'on_abort' must be one of safe, hold, got 'pause'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:10:80: value belongs to a step with output"), std::string::npos) << e;
  EXPECT_NE(e.find("timeout_secs belongs to a wait_clear/wait_open step"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:11:35: a sequence needs at least one step"), std::string::npos) << e;
  // Checks across sequences run once each sequence parses.
  e = SinkConfigErrors(plc +
             "      - {id: a, rule: jam, steps: [{output: motor, value: 1}]}\n"
             "      - {id: a, rule: jam, steps: [{output: belt, value: 1}]}\n");
  EXPECT_NE(e.find("c.yaml:10:14: duplicate sequence 'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:10:45: unknown output 'belt'"), std::string::npos) << e;
}

}  // namespace
}  // namespace edgeflow
