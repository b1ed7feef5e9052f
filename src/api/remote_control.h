#pragma once
// Remote configuration from the cloud: the node subscribes to its command
// topic on the cloud broker, verifies each command, applies it atomically
// through the same path as PUT /api/v1/rules, and answers on its reply topic.
//
//   commands  {topic_prefix}/{node}/commands
//   replies   {topic_prefix}/{node}/replies
//
// A command is authenticated with a key shared with the cloud side
// (HMAC-SHA256; the key file must not be readable by group or others):
//
//   hmac-sha256=<64 hex digits of HMAC(key, JSON)>\n
//   {"id":"c-17","type":"rules","ts":1767225600,"body":{"<rules processor>":[…]}}
//
// Refused without side effects: a missing or wrong signature, a `ts` more than
// max_clock_skew_secs away from the node's clock, an `id` seen before (replay),
// an unknown type, and a body that does not validate (every error is
// returned). Types: `rules` (body as PUT /api/v1/rules) and `config` (body
// {"yaml": "<the whole configuration file>"}, validated like a SIGHUP reload,
// then written to the node's configuration file and applied) and `model`
// (body {"name", "action": "live"|"shadow", "manifest": "<yaml>", "model_base64"}
// to deploy a version as PUT /api/v1/models/{name} does, or {"name",
// "action": "promote"|"rollback"}). Replies: {"id":"c-17","status":"applied"} or
// {"id":"c-17","status":"rejected","errors":["…",…]}.
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "config/schema.h"
#include "core/clock.h"
#include "core/status.h"
#include "transport/mqtt.h"

namespace edgeflow {

struct RemoteConfig {
  bool enabled = false;
  MqttBrokerConfig broker;
  std::string topic_prefix;
  std::string key_file;
  double max_clock_skew_secs = 300;
};
const config::Schema<RemoteConfig>& RemoteSchema();

struct RemoteCommand {
  std::string id;
  std::string type;
  int64_t ts = 0;
  nlohmann::json body;
};

// Verifies signature, shape and freshness (not replays: the caller keeps ids).
Result<RemoteCommand> VerifyCommand(std::string_view payload, const std::string& key, TimeUs now, double max_skew_secs);
// The signed payload for `json` (for the cloud side, tools and tests).
std::string SignCommand(std::string_view json, const std::string& key);
// Reads a key file, refusing one that group or others may read.
Result<std::string> ReadKeyFile(const std::string& path);

class RemoteControl {
 public:
  struct Hooks {
    std::function<Status(const std::string& body, std::string* errors)> put_rules;
    std::function<Status(const std::string& yaml, std::string* errors)> put_config;
    std::function<Status(const nlohmann::json& body)> model;
  };
  struct Counters {
    std::atomic<uint64_t> applied{0}, rejected{0};
  };
  static Result<std::unique_ptr<RemoteControl>> Start(const RemoteConfig& cfg, const std::string& node_id, Hooks hooks,
                                                      Clock& clock);
  ~RemoteControl();
  const Counters& counters() const { return counters_; }

 private:
  RemoteControl() = default;
  void Run();
  void Handle(const std::string& payload);
  RemoteConfig cfg_;
  std::string key_, commands_, replies_;
  Hooks hooks_;
  Clock* clock_ = nullptr;
  std::unique_ptr<MqttConnection> conn_;
  std::deque<std::string> inbox_;           // received on the loop, handled after it
  std::deque<std::string> seen_order_;      // replay protection, bounded
  std::set<std::string> seen_;
  std::deque<std::string> outbox_;          // replies not yet accepted by the client library
  Counters counters_;
  StopToken stop_;
  std::thread thread_;
};

}  // namespace edgeflow
