#include "engine/pipeline_config.h"

#include <gtest/gtest.h>

namespace edgeflow {
namespace {

struct Parsed {
  bool ok;
  config::Diagnostics diag{"t.yaml"};
  PipelineConfig cfg;
};

std::unique_ptr<Parsed> Parse(const std::string& yaml) {
  auto p = std::make_unique<Parsed>();
  p->ok = ParsePipelineConfig(yaml, &p->cfg, p->diag);
  return p;
}

const char* kValid = R"(
node: {id: n1}
sources:
  - id: sim
    type: simulator
    sensors: [{id: t1, kind: temperature}]
processors:
  - id: v
    type: validate
    inputs: [sim]
  - id: w
    type: window
    inputs: [v]
    size_secs: 10
sinks:
  - id: out
    type: file
    inputs: [w]
)";

TEST(PipelineConfig, ValidConfigParses) {
  auto p = Parse(kValid);
  ASSERT_TRUE(p->ok) << p->diag.Format();
  ASSERT_EQ(p->cfg.components.size(), 4u);
  EXPECT_EQ(p->cfg.node.id, "n1");
  EXPECT_EQ(p->cfg.node.data_dir, "data") << "defaults come from the declaration";
  EXPECT_EQ(p->cfg.Find("w")->inputs, std::vector<std::string>{"v"});
}

// Every kind of mistake at once: all are reported, each at its own line.
TEST(PipelineConfig, ReportsEveryErrorWithItsLine) {
  const char* broken = R"(node:
  id: n1
  colour: blue
sources:
  - id: sim
    type: simulator
    speed: fast
    sensors: [{id: t1, kind: plasma}]
  - id: sim
    type: file
    path: x.csv
processors:
  - id: v
    type: validate
    inputs: [nowhere]
  - id: w
    type: window
    inputs: [v, loop2]
    size_secs: -5
  - id: loop1
    type: window
    inputs: [loop2]
  - id: loop2
    type: window
    inputs: [loop1]
  - id: r
    type: rules
    inputs: [w]
    rules:
      - id: hot
        when: value >> 3
  - id: q
    type: teleport
    inputs: [w]
sinks:
  - id: out
    type: sqlite
    inputs: [w]
    max_bytes: lots
    queue: {capacity: 0, when_full: maybe}
)";
  auto p = Parse(broken);
  ASSERT_FALSE(p->ok);
  const std::string out = p->diag.Format();
  auto has = [&](const std::string& needle) { return out.find(needle) != std::string::npos; };
  EXPECT_TRUE(has("t.yaml:3:3: unknown key 'colour' in node")) << out;
  EXPECT_TRUE(has("t.yaml:7:12: 'speed' must be a number, got 'fast'")) << out;
  EXPECT_TRUE(has("t.yaml:8:30: 'kind' must be one of temperature")) << out;
  EXPECT_TRUE(has("t.yaml:9:5: duplicate id 'sim' (first declared at line 5)")) << out;
  EXPECT_TRUE(has("t.yaml:15:14: 'v' reads from unknown component 'nowhere'")) << out;
  EXPECT_TRUE(has("t.yaml:19:16: 'size_secs' = -5 is out of range")) << out;
  EXPECT_TRUE(has("t.yaml:20:5: cycle in pipeline: loop2 <- loop1 <- loop2")) << out;
  EXPECT_TRUE(has("t.yaml:31:15: rule 'hot': expression 'value >> 3': unexpected '>' at column 8")) << out;
  EXPECT_TRUE(has("t.yaml:33:11: unknown processor type 'teleport'")) << out;
  EXPECT_TRUE(has("t.yaml:39:16: 'max_bytes' must be an integer, got 'lots'")) << out;
  EXPECT_TRUE(has("t.yaml:40:23: 'capacity' = 0 is out of range")) << out;
  EXPECT_TRUE(has("t.yaml:40:37: 'when_full' must be one of block, drop_oldest, drop_newest, got 'maybe'")) << out;
  EXPECT_GE(p->diag.size(), 12u) << out;
}

TEST(PipelineConfig, ARulesWindowMustNameAWindowStage) {
  // A typo in `window:` made the rule silently never fire.
  auto p = Parse(R"(
sources: [{id: in, type: ingest}]
processors:
  - {id: w1m, type: window, inputs: [in], size_secs: 60}
  - id: r
    type: rules
    inputs: [w1m]
    rules:
      - {id: ok, on: aggregates, window: w1m, when: mean > 1}
      - {id: typo, on: aggregates, window: w1n, when: mean > 1}
      - {id: wrong, on: aggregates, window: r, when: mean > 1}
sinks: [{id: out, type: file, inputs: [r]}]
)");
  ASSERT_FALSE(p->ok);
  const std::string out = p->diag.Format();
  EXPECT_NE(out.find("'r': rule 'typo' names window 'w1n', which does not exist"), std::string::npos) << out;
  EXPECT_NE(out.find("'r': rule 'wrong' names window 'r', which is a rules"), std::string::npos) << out;
  EXPECT_EQ(p->diag.size(), 2u) << out;
}

TEST(PipelineConfig, SyntaxErrorHasLocation) {
  auto p = Parse("sources:\n  - id: a\n    type: [simulator\n");
  ASSERT_FALSE(p->ok);
  EXPECT_NE(p->diag.Format().find("t.yaml:"), std::string::npos);
  EXPECT_NE(p->diag.Format().find("YAML syntax error"), std::string::npos) << p->diag.Format();
}

TEST(PipelineConfig, UnknownKeySuggestsNearestName) {
  auto p = Parse(R"(
sources:
  - id: sim
    type: simulator
    sensors: [{id: t1}]
processors:
  - id: w
    type: window
    inputs: [sim]
    size_sec: 10
sinks:
  - {id: out, type: file, inputs: [w]}
)");
  ASSERT_FALSE(p->ok);
  EXPECT_NE(p->diag.Format().find("t.yaml:10:5: unknown key 'size_sec' in window (did you mean 'size_secs'?)"),
            std::string::npos)
      << p->diag.Format();
}

TEST(PipelineConfig, MissingRequiredAndEmptyGraph) {
  auto p = Parse("processors:\n  - type: window\n");
  ASSERT_FALSE(p->ok);
  const std::string out = p->diag.Format();
  EXPECT_NE(out.find("missing required key 'id'"), std::string::npos) << out;
  EXPECT_NE(out.find("missing required key 'inputs'"), std::string::npos) << out;
  EXPECT_NE(out.find("the pipeline has no sources"), std::string::npos) << out;
  EXPECT_NE(out.find("the pipeline has no sinks"), std::string::npos) << out;
}

TEST(PipelineConfig, SinkCannotBeAnInput) {
  auto p = Parse(R"(
sources: [{id: s, type: simulator, sensors: [{id: a}]}]
sinks:
  - {id: o1, type: file, inputs: [s]}
  - {id: o2, type: file, inputs: [o1]}
)");
  ASSERT_FALSE(p->ok);
  EXPECT_NE(p->diag.Format().find("'o2' reads from sink 'o1'"), std::string::npos) << p->diag.Format();
}

TEST(PipelineConfig, ExpandsEnvironmentVariables) {
  setenv("EF_TEST_PORT", "1884", 1);
  unsetenv("EF_TEST_UNSET");
  config::Diagnostics d("t.yaml");
  EXPECT_EQ(ExpandEnvironment("port: ${EF_TEST_PORT}\nhost: ${EF_TEST_UNSET:-127.0.0.1}\ncost: $$5\n", d),
            "port: 1884\nhost: 127.0.0.1\ncost: $5\n");
  EXPECT_TRUE(d.ok());
  ExpandEnvironment("a: 1\nb: x ${EF_TEST_UNSET}\nc: ${bad-name}\nd: ${open\n", d);
  const std::string out = d.Format();
  EXPECT_NE(out.find("t.yaml:2:6: environment variable 'EF_TEST_UNSET' is not set"), std::string::npos) << out;
  EXPECT_NE(out.find("t.yaml:3:4: invalid environment variable name 'bad-name'"), std::string::npos) << out;
  EXPECT_NE(out.find("t.yaml:4:4: unterminated '${'"), std::string::npos) << out;
}

TEST(PipelineConfig, ReferenceDocumentsEveryType) {
  std::string ref = ConfigurationReference();
  for (const auto& t : ComponentTypes()) {
    EXPECT_NE(ref.find(std::string(KindName(t.kind)) + " `" + t.name + "`"), std::string::npos) << t.name;
    for (const auto& o : t.schema().options())
      EXPECT_NE(ref.find("| `" + o.name + "` |"), std::string::npos) << t.name << "." << o.name;
  }
}

}  // namespace
}  // namespace edgeflow
