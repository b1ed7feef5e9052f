#pragma once
// Test helper: the diagnostics of a configuration that must not validate.
#include <gtest/gtest.h>

#include <string>

#include "engine/pipeline_config.h"

namespace edgeflow::testing {

// Errors of `sinks_yaml` (the items of `sinks:`) after one ingest source `in`.
inline std::string SinkConfigErrors(const std::string& sinks_yaml) {
  PipelineConfig cfg;
  config::Diagnostics d("c.yaml");
  EXPECT_FALSE(ParsePipelineConfig("sources: [{id: in, type: ingest}]\nsinks:\n" + sinks_yaml, &cfg, d));
  return d.Format();
}

}  // namespace edgeflow::testing
