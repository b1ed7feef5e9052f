#include "api/remote_control.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;
using nlohmann::json;

const Schema<RemoteConfig>& RemoteSchema() {
  static const auto* s = [] {
    auto* s = new Schema<RemoteConfig>(
        "remote", "Remote configuration from the cloud over MQTT. Present in the file: enabled unless `enabled: false`.");
    s->Bool("enabled", &RemoteConfig::enabled, true, "Listen for commands.")
        .Object("broker", &RemoteConfig::broker, MqttBrokerSchema(), "The cloud broker (TLS recommended).")
        .String("topic_prefix", &RemoteConfig::topic_prefix, "edgeflow",
                "Commands arrive on `<topic_prefix>/<node.id>/commands`, replies go to `.../replies`.")
        .String("key_file", &RemoteConfig::key_file, "",
                "File with the key shared with the cloud side (HMAC-SHA256); must not be readable by group or others.",
                true)
        .Number<double>("max_clock_skew_secs", &RemoteConfig::max_clock_skew_secs, 300, "s",
                        "Commands whose `ts` is further than this from the node's clock are refused.", 1, 86400)
        .Check([](const RemoteConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.topic_prefix.find_first_of("+#") != std::string::npos)
            d.Error(n["topic_prefix"], "topic_prefix must not contain MQTT wildcards");
        });
    return s;
  }();
  return *s;
}

namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(d[p[i] >> 4]);
    out.push_back(d[p[i] & 15]);
  }
  return out;
}

std::string Mac(std::string_view data, const std::string& key) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return Hex(out, len);
}

}  // namespace

std::string SignCommand(std::string_view json_text, const std::string& key) {
  return "hmac-sha256=" + Mac(json_text, key) + "\n" + std::string(json_text);
}

Result<RemoteCommand> VerifyCommand(std::string_view payload, const std::string& key, TimeUs now, double max_skew_secs) {
  static constexpr std::string_view kPrefix = "hmac-sha256=";
  const size_t nl = payload.find('\n');
  if (payload.substr(0, kPrefix.size()) != kPrefix || nl == std::string_view::npos)
    return Status::Invalid("unsigned command (expected a first line hmac-sha256=<hex>)");
  const std::string_view given = payload.substr(kPrefix.size(), nl - kPrefix.size());
  const std::string_view body = payload.substr(nl + 1);
  const std::string want = Mac(body, key);
  if (given.size() != want.size() || CRYPTO_memcmp(given.data(), want.data(), want.size()) != 0)
    return Status::Invalid("signature does not verify");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Invalid("command is not a JSON object");
  RemoteCommand c;
  if (!j.contains("id") || !j["id"].is_string() || j["id"].get<std::string>().empty())
    return Status::Invalid("command has no 'id' string");
  c.id = j["id"];
  if (!j.contains("type") || !j["type"].is_string()) return Status::Invalid("command has no 'type' string");
  c.type = j["type"];
  if (!j.contains("ts") || !j["ts"].is_number_integer()) return Status::Invalid("command has no integer 'ts' (epoch seconds)");
  c.ts = j["ts"];
  const double skew = static_cast<double>(now) / 1e6 - static_cast<double>(c.ts);
  if (std::abs(skew) > max_skew_secs)
    return Status::Invalid("command 'ts' is " + std::to_string(static_cast<int64_t>(skew)) +
                           " s away from the node's clock (limit " + std::to_string(static_cast<int64_t>(max_skew_secs)) + " s)");
  c.body = j.value("body", json());
  return c;
}

Result<std::string> ReadKeyFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("remote: key file " + path + " not found");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return Status::FailedPrecondition("remote: key file " + path + " is accessible by group or others (chmod 600 it)");
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.size() < 16) return Status::Invalid("remote: key in " + path + " is shorter than 16 bytes");
  return key;
}

Result<std::unique_ptr<RemoteControl>> RemoteControl::Start(const RemoteConfig& cfg, const std::string& node_id,
                                                             Hooks hooks, Clock& clock) {
  std::unique_ptr<RemoteControl> r(new RemoteControl());
  r->cfg_ = cfg;
  r->hooks_ = std::move(hooks);
  r->clock_ = &clock;
  auto key = ReadKeyFile(cfg.key_file);
  if (!key.ok()) return key.status();
  r->key_ = std::move(key).value();
  r->commands_ = cfg.topic_prefix + "/" + node_id + "/commands";
  r->replies_ = cfg.topic_prefix + "/" + node_id + "/replies";
  auto c = MqttConnection::Create(cfg.broker, node_id + "-remote", clock);
  if (!c.ok()) return c.status();
  r->conn_ = std::move(c).value();
  RemoteControl* raw = r.get();
  r->conn_->on_connect([raw](MqttConnection& cc) {
    Status st = cc.Subscribe(raw->commands_, 1);
    if (!st.ok()) spdlog::warn("remote: {}", st.ToString());
  });
  r->conn_->on_message([raw](const mosquitto_message& m) {
    raw->inbox_.emplace_back(static_cast<const char*>(m.payload), static_cast<size_t>(m.payloadlen));
  });
  r->thread_ = std::thread([raw] { raw->Run(); });
  spdlog::info("remote: listening for commands on {}", r->commands_);
  return r;
}

RemoteControl::~RemoteControl() {
  stop_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void RemoteControl::Handle(const std::string& payload) {
  json reply;
  auto cmd = VerifyCommand(payload, key_, clock_->now(), cfg_.max_clock_skew_secs);
  std::vector<std::string> errors;
  if (!cmd.ok()) {
    errors.push_back(cmd.status().message());
    // The id of an unverified command is echoed only when it parses; it is not trusted.
    const size_t nl = payload.find('\n');
    json j = json::parse(nl == std::string::npos ? payload : payload.substr(nl + 1), nullptr, false);
    reply["id"] = j.is_object() && j.contains("id") && j["id"].is_string() ? j["id"] : json();
  } else {
    reply["id"] = cmd->id;
    if (seen_.count(cmd->id)) {
      errors.push_back("command '" + cmd->id + "' was already received (replay)");
    } else {
      seen_.insert(cmd->id);
      seen_order_.push_back(cmd->id);
      if (seen_order_.size() > 10000) {
        seen_.erase(seen_order_.front());
        seen_order_.pop_front();
      }
      const bool rules = cmd->type == "rules", config = cmd->type == "config", model = cmd->type == "model";
      if (!rules && !config && !model) {
        errors.push_back("unknown command type '" + cmd->type + "' (supported: rules, config, model)");
      } else if ((rules && !hooks_.put_rules) || (config && !hooks_.put_config) || (model && !hooks_.model)) {
        errors.push_back(cmd->type + " cannot be changed on this node");
      } else if (config && !(cmd->body.is_object() && cmd->body.contains("yaml") && cmd->body["yaml"].is_string())) {
        errors.push_back("a config command's body is {\"yaml\": \"<the whole configuration file>\"}");
      } else {
        std::string detail;
        Status st;
        // A command is input from the network: whatever a handler missed in
        // it (a JSON type error) refuses the command, never ends the process.
        try {
          st = model ? hooks_.model(cmd->body)
               : rules ? hooks_.put_rules(cmd->body.dump(), &detail)
                       : hooks_.put_config(cmd->body["yaml"].get<std::string>(), &detail);
        } catch (const std::exception& e) {
          st = Status::Invalid(std::string("the command could not be carried out: ") + e.what());
        }
        if (!st.ok()) {
          std::stringstream lines(detail.empty() ? st.message() : detail);
          for (std::string line; std::getline(lines, line);)
            if (!line.empty()) errors.push_back(line);
        }
      }
    }
  }
  reply["status"] = errors.empty() ? "applied" : "rejected";
  if (!errors.empty()) reply["errors"] = errors;
  if (errors.empty()) {
    ++counters_.applied;
    spdlog::info("remote: command '{}' applied", reply["id"].is_string() ? reply["id"].get<std::string>() : "");
  } else {
    ++counters_.rejected;
    spdlog::warn("remote: command refused: {}", errors.front());
  }
  outbox_.push_back(reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void RemoteControl::Run() {
  while (!stop_.stop_requested()) {
    conn_->Loop(inbox_.empty() && outbox_.empty() ? 100 : 0, stop_);
    while (!inbox_.empty()) {
      std::string p = std::move(inbox_.front());
      inbox_.pop_front();
      Handle(p);
    }
    while (!outbox_.empty() && conn_->connected()) {
      if (!conn_->Publish(replies_, outbox_.front().data(), outbox_.front().size(), 1, false).ok()) break;
      outbox_.pop_front();
    }
  }
  for (int i = 0; i < 20 && conn_->connected(); ++i) conn_->Loop(5, stop_);  // flush the last replies
}

}  // namespace edgeflow
