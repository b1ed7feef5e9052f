// Remote configuration from the cloud: signed commands on the node's command
// topic (a real Mosquitto), replies on its reply topic, nothing applied from an
// unverifiable source.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/remote_control.h"
#include "broker.h"
#include "core/base64.h"
#include "process.h"

namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Broker;
using testing::Child;
using testing::TempDir;
using testing::TestClient;

const std::string kBin = EDGEFLOW_BINARY;
const std::string kKey = "0123456789abcdef-node-n1-shared-key";

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Command(const std::string& id, const json& body, int64_t ts = Now(), const std::string& type = "rules") {
  return json{{"id", id}, {"type", type}, {"ts", ts}, {"body", body}}.dump();
}

struct RemoteNode {
  TempDir dir;
  std::unique_ptr<Child> daemon;

  RemoteNode(int port, mode_t key_mode = 0600) {
    std::ofstream(dir / "key") << kKey << "\n";
    ::chmod((dir / "key").c_str(), key_mode);
    std::ofstream(dir / "c.yaml")
        << "node: {id: n1, data_dir: " << dir.path() << "}\n"
        << "remote: {key_file: " << (dir / "key") << ", broker: {port: " << port
        << ", reconnect_min_secs: 0.05, reconnect_max_secs: 0.2}}\n"
        << "sources: [{id: in, type: ingest}]\n"
        << "processors:\n  - {id: hot, type: rules, inputs: [in], rules: [{id: hot, when: value > 80}]}\n"
        << "sinks: [{id: out, type: file, inputs: [hot], path: " << (dir / "events.jsonl") << "}]\n";
    daemon = std::make_unique<Child>(std::vector<std::string>{kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  }
  json Rules() {
    const std::string text = testing::ReadFile(dir / "rules-override.json");
    return text.empty() ? json() : json::parse(text);
  }
};

// Waits until the node answers on its reply topic: it subscribes to its
// command topic right after connecting, so the cloud probes until it does.
bool NodeAnswers(TestClient& cloud) {
  return testing::WaitFor([&] {
    cloud.Publish("edgeflow/n1/commands", "probe");
    return cloud.WaitMessages(1, std::chrono::milliseconds(200));
  });
}

// The latest reply to command `id` (waits for a new one, bounded).
json Reply(TestClient& cloud, const std::string& id, size_t* seen) {
  json found;
  testing::WaitFor([&] {
    cloud.Pump();
    auto msgs = cloud.messages();
    for (size_t i = *seen; i < msgs.size(); ++i) {
      json j = json::parse(msgs[i].second, nullptr, false);
      if (j.is_object() && j.value("id", json()) == id) {
        found = j;
        *seen = i + 1;
        return true;
      }
    }
    return false;
  }, std::chrono::seconds(10));
  return found;
}

TEST(Remote, SignedRuleSetsAreAppliedAndEverythingElseIsRefused) {
  TempDir bdir;
  Broker broker(bdir.path());
  TestClient cloud(broker.port(), "cloud");
  ASSERT_TRUE(cloud.Subscribe("edgeflow/n1/replies"));
  RemoteNode node(broker.port());
  ASSERT_TRUE(testing::WaitFor([&] { return node.daemon->err().find("mqtt: connected") != std::string::npos; }))
      << node.daemon->err();
  const json warm = {{"hot", {{{"id", "warm"}, {"when", "value > 50"}}}}};
  ASSERT_TRUE(NodeAnswers(cloud)) << node.daemon->err();
  size_t seen = 0;

  // Unsigned, wrongly signed, stale: refused, nothing changes.
  cloud.Publish("edgeflow/n1/commands", Command("c-1", warm));
  json r = Reply(cloud, "c-1", &seen);
  EXPECT_EQ(r["status"], "rejected");
  EXPECT_NE(r["errors"][0].get<std::string>().find("unsigned"), std::string::npos) << r;
  cloud.Publish("edgeflow/n1/commands", SignCommand(Command("c-2", warm), "some-other-key-0123456789"));
  r = Reply(cloud, "c-2", &seen);
  EXPECT_EQ(r["errors"][0], "signature does not verify") << r;
  cloud.Publish("edgeflow/n1/commands", SignCommand(Command("c-3", warm, Now() - 3600), kKey));
  r = Reply(cloud, "c-3", &seen);
  EXPECT_NE(r["errors"][0].get<std::string>().find("away from the node's clock"), std::string::npos) << r;
  EXPECT_TRUE(node.Rules().is_null()) << "nothing was applied";

  // Signed but invalid: every error, nothing changes.
  cloud.Publish("edgeflow/n1/commands",
                SignCommand(Command("c-4", {{"hot", {{{"id", "a"}, {"when", "value >> 1"}}, {{"when", "value > 2"}}}},
                                            {"ghost", json::array()}}),
                            kKey));
  r = Reply(cloud, "c-4", &seen);
  EXPECT_EQ(r["id"], "c-4");
  EXPECT_EQ(r["status"], "rejected");
  EXPECT_GE(r["errors"].size(), 3u) << r;
  EXPECT_TRUE(node.Rules().is_null());

  // Signed and valid: applied and persisted; a replay of it is refused.
  const std::string good = SignCommand(Command("c-5", warm), kKey);
  cloud.Publish("edgeflow/n1/commands", good);
  r = Reply(cloud, "c-5", &seen);
  EXPECT_EQ(r, (json{{"id", "c-5"}, {"status", "applied"}})) << node.daemon->err();
  EXPECT_EQ(node.Rules()["hot"][0]["id"], "warm");
  cloud.Publish("edgeflow/n1/commands", good);
  r = Reply(cloud, "c-5", &seen);
  EXPECT_NE(r["errors"][0].get<std::string>().find("replay"), std::string::npos) << r;

  // Unknown command types are refused.
  cloud.Publish("edgeflow/n1/commands", SignCommand(Command("c-6", json::object(), Now(), "reboot"), kKey));
  r = Reply(cloud, "c-6", &seen);
  EXPECT_NE(r["errors"][0].get<std::string>().find("unknown command type 'reboot'"), std::string::npos) << r;

  // A whole configuration: invalid ones change nothing, a valid one replaces the file and runs.
  const std::string original = testing::ReadFile(node.dir / "c.yaml");
  cloud.Publish("edgeflow/n1/commands",
                SignCommand(Command("c-7", {{"yaml", "node: {id: n1}\nsources: [{id: in, type: nope}]\nsinkz: []\n"}}, Now(),
                                    "config"),
                            kKey));
  r = Reply(cloud, "c-7", &seen);
  EXPECT_EQ(r["status"], "rejected");
  EXPECT_GE(r["errors"].size(), 2u) << r;
  EXPECT_NE(r["errors"].dump().find("config:"), std::string::npos) << "errors carry their location: " << r;
  EXPECT_EQ(testing::ReadFile(node.dir / "c.yaml"), original);
  // Valid, but its pipeline cannot start (a model that is not deployed): the old pipeline runs
  // on, and the file and the API's rules are as they were (the next start failed on the new file).
  std::string broken = original;
  broken.insert(broken.find("sinks:"), "  - {id: m, type: inference, inputs: [in], model: ghost}\n");
  cloud.Publish("edgeflow/n1/commands", SignCommand(Command("c-7b", {{"yaml", broken}}, Now(), "config"), kKey));
  r = Reply(cloud, "c-7b", &seen);
  EXPECT_EQ(r["status"], "rejected") << r;
  EXPECT_NE(r.dump().find("model 'ghost' is not deployed"), std::string::npos) << r;
  EXPECT_EQ(testing::ReadFile(node.dir / "c.yaml"), original);
  EXPECT_EQ(node.Rules()["hot"][0]["id"], "warm") << "the rules set through commands stay";
  std::string next = original;
  next.replace(next.find("value > 80"), 10, "value > 10");
  cloud.Publish("edgeflow/n1/commands", SignCommand(Command("c-8", {{"yaml", next}}, Now(), "config"), kKey));
  r = Reply(cloud, "c-8", &seen);
  EXPECT_EQ(r, (json{{"id", "c-8"}, {"status", "applied"}})) << node.daemon->err();
  EXPECT_EQ(testing::ReadFile(node.dir / "c.yaml"), next);
  EXPECT_EQ(testing::ReadFile(node.dir / "c.yaml.previous"), original);
  EXPECT_TRUE(node.Rules().is_null()) << "API rule overrides give way to the new file";

  node.daemon->Signal(SIGTERM);
  EXPECT_EQ(node.daemon->Wait(std::chrono::seconds(20)), 0);
}

// Models through the cloud command topic: deployed, refused when broken,
// shadowed, promoted and rolled back, as through the REST API.
TEST(Remote, ModelsAreDeployedShadowedPromotedAndRolledBackByCommand) {
  TempDir bdir;
  Broker broker(bdir.path());
  TestClient cloud(broker.port(), "cloud");
  ASSERT_TRUE(cloud.Subscribe("edgeflow/n1/replies"));
  RemoteNode node(broker.port());
  ASSERT_TRUE(NodeAnswers(cloud)) << node.daemon->err();
  size_t seen = 0;
  // The cloud side trains two versions on exported readings.
  {
    std::ofstream csv(node.dir / "export.csv");
    csv << "ts,value\n";
    for (int i = 0; i < 2000; ++i) csv << i << "," << std::sin(i / 3.0) + 0.1 * std::sin(i * 1.7) << "\n";
  }
  for (const char* v : {"1", "2"}) {
    std::string out, err;
    ASSERT_EQ(testing::RunCommand({"/usr/bin/python3", std::string(EDGEFLOW_SOURCE_DIR) + "/tools/train_autoencoder.py",
                                   "--input", node.dir / "export.csv", "--name", "pump", "--version", v, "--window", "16",
                                   "--components", "4", "--out", node.dir / (std::string("v") + v)},
                                  &out, &err, node.dir.path()),
              0)
        << err;
  }
  auto deploy = [&](const std::string& id, const std::string& v, const std::string& action, const std::string& model) {
    const json body = {{"name", "pump"},
                       {"action", action},
                       {"manifest", testing::ReadFile(node.dir / ("v" + v + "/manifest.yaml"))},
                       {"model_base64", Base64Encode(model)}};
    cloud.Publish("edgeflow/n1/commands", SignCommand(Command(id, body, Now(), "model"), kKey));
    return Reply(cloud, id, &seen);
  };
  json r = deploy("m-1", "1", "live", testing::ReadFile(node.dir / "v1/model.onnx"));
  EXPECT_EQ(r["status"], "applied") << r;
  EXPECT_EQ(testing::ReadFile(node.dir / "models/pump/current"), "1\n");
  r = deploy("m-2", "2", "live", "garbage");
  EXPECT_EQ(r["status"], "rejected");
  EXPECT_NE(r["errors"][0].get<std::string>().find("cannot load"), std::string::npos) << r;
  EXPECT_EQ(testing::ReadFile(node.dir / "models/pump/current"), "1\n");
  r = deploy("m-3", "2", "shadow", testing::ReadFile(node.dir / "v2/model.onnx"));
  EXPECT_EQ(r["status"], "applied") << r;
  cloud.Publish("edgeflow/n1/commands",
                SignCommand(Command("m-4", {{"name", "pump"}, {"action", "promote"}}, Now(), "model"), kKey));
  EXPECT_EQ(Reply(cloud, "m-4", &seen)["status"], "applied");
  EXPECT_EQ(testing::ReadFile(node.dir / "models/pump/current"), "2\n");
  cloud.Publish("edgeflow/n1/commands",
                SignCommand(Command("m-5", {{"name", "pump"}, {"action", "rollback"}}, Now(), "model"), kKey));
  EXPECT_EQ(Reply(cloud, "m-5", &seen)["status"], "applied");
  EXPECT_EQ(testing::ReadFile(node.dir / "models/pump/current"), "1\n");
  cloud.Publish("edgeflow/n1/commands",
                SignCommand(Command("m-6", {{"name", "pump"}, {"action", "retrain"}}, Now(), "model"), kKey));
  r = Reply(cloud, "m-6", &seen);
  EXPECT_NE(r["errors"][0].get<std::string>().find("live, shadow, promote or rollback"), std::string::npos) << r;
  // Fields of the wrong type are refused like any bad command (an action of 5
  // ended the process: the JSON library throws, and nothing caught it).
  cloud.Publish("edgeflow/n1/commands", SignCommand(Command("m-6b", {{"name", "pump"}, {"action", 5}}, Now(), "model"), kKey));
  r = Reply(cloud, "m-6b", &seen);
  EXPECT_EQ(r["status"], "rejected") << r;
  EXPECT_NE(r.dump().find("action"), std::string::npos) << r;
  ASSERT_TRUE(node.daemon->running()) << node.daemon->err();
  // A name is a directory under the models folder: one that climbs out of it is refused
  // (it was written to <data_dir>/../x/<version>/).
  {
    std::string manifest = testing::ReadFile(node.dir / "v2/manifest.yaml");
    const size_t at = manifest.find("name: pump");
    ASSERT_NE(at, std::string::npos) << manifest;
    manifest.replace(at, 10, "name: \"../../x\"");
    manifest.replace(manifest.find("version: \""), 10, "version: \"9");  // "92": a version not deployed
    const json body = {{"name", "../../x"}, {"action", "live"}, {"manifest", manifest},
                       {"model_base64", Base64Encode(testing::ReadFile(node.dir / "v2/model.onnx"))}};
    cloud.Publish("edgeflow/n1/commands", SignCommand(Command("m-7", body, Now(), "model"), kKey));
    r = Reply(cloud, "m-7", &seen);
    EXPECT_EQ(r["status"], "rejected") << r;
    EXPECT_NE(r.dump().find("a model's name is a letter or digit"), std::string::npos) << r;
    EXPECT_FALSE(fs::exists(node.dir / "x")) << "nothing outside the models folder";
    EXPECT_FALSE(fs::exists(fs::path(node.dir.path()).parent_path() / "x"));
  }
  node.daemon->Signal(SIGTERM);
  EXPECT_EQ(node.daemon->Wait(std::chrono::seconds(20)), 0);
}

TEST(Remote, AKeyFileOthersCanReadIsAStartupError) {
  TempDir bdir;
  Broker broker(bdir.path());
  RemoteNode node(broker.port(), 0644);
  EXPECT_EQ(node.daemon->Wait(std::chrono::seconds(20)), 1);
  EXPECT_NE(node.daemon->err().find("accessible by group or others (chmod 600 it)"), std::string::npos)
      << node.daemon->err();
}

}  // namespace
}  // namespace edgeflow
