#pragma once
// A real Mosquitto broker for tests: started on a free loopback port with a
// generated config, stopped by its PID (never the system service).
#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/testing.h"
#include "process.h"

namespace edgeflow::testing {

inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool PortOpen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class Broker {
 public:
  // `extra` is appended to the generated configuration (more listeners, TLS).
  explicit Broker(const std::string& dir, std::string extra = "") : dir_(dir), port_(FreePort()), extra_(std::move(extra)) {
    Start();
  }
  ~Broker() { Stop(); }
  void Start() {
    std::ofstream(dir_ + "/mosquitto.conf") << "listener " << port_ << " 127.0.0.1\n"
                                            << "allow_anonymous true\npersistence false\nmax_queued_messages 0\n"
                                            << "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
                                            << extra_;
    child_ = std::make_unique<Child>(std::vector<std::string>{"/usr/sbin/mosquitto", "-c", dir_ + "/mosquitto.conf"},
                                     dir_ + "/mosquitto.out", dir_ + "/mosquitto.err");
    WaitFor([&] { return PortOpen(port_); }, std::chrono::seconds(10));
  }
  // Freezes the broker (SIGSTOP): connections stay open, nothing is read or
  // acknowledged, as with a broker stuck on a slow disk or a saturated link.
  void Pause() { child_->Signal(SIGSTOP); }
  void Resume() { child_->Signal(SIGCONT); }
  void Stop() {
    if (!child_) return;
    child_->Signal(SIGCONT);  // a paused broker cannot handle SIGTERM
    child_->Signal(SIGTERM);
    child_->Wait(std::chrono::seconds(10));
    child_.reset();
  }
  int port() const { return port_; }
  std::string log() const { return ReadFile(dir_ + "/mosquitto.err"); }
  bool running() { return child_ && child_->running(); }

 private:
  std::string dir_;
  int port_;
  std::string extra_;
  std::unique_ptr<Child> child_;
};

// A plain libmosquitto client for the test side: publishes (waiting for
// PUBACKs at QoS 1) and records what arrives on its subscriptions.
class TestClient {
 public:
  explicit TestClient(int port, const std::string& id = "edgeflow-test", const std::string& user = "",
                      const std::string& password = "") {
    mosquitto_lib_init();
    m_ = mosquitto_new(id.c_str(), true, this);
    if (!user.empty()) mosquitto_username_pw_set(m_, user.c_str(), password.c_str());
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* c = static_cast<TestClient*>(self);
      std::lock_guard l(c->mu_);
      c->messages_.push_back({msg->topic, std::string(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen))});
    });
    mosquitto_publish_callback_set(m_, [](mosquitto*, void* self, int) { ++static_cast<TestClient*>(self)->acked_; });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
      ++static_cast<TestClient*>(self)->subscribed_;
    });
    connected_ = mosquitto_connect(m_, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS;
  }
  ~TestClient() {
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  bool connected() const { return connected_; }
  void Pump(int ms = 5) { mosquitto_loop(m_, ms, 1); }
  bool Subscribe(const std::string& topic, int qos = 1) {
    int before = subscribed_;
    mosquitto_subscribe(m_, nullptr, topic.c_str(), qos);
    return WaitFor([&] {
      Pump();
      return subscribed_ > before;
    });
  }
  // Publishes and waits until every QoS 1 message is acknowledged.
  bool Publish(const std::string& topic, const std::string& payload, int qos = 1) {
    const int before = acked_;
    if (mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, false) !=
        MOSQ_ERR_SUCCESS)
      return false;
    return WaitFor([&] {
      Pump(1);
      return acked_ > before;
    });
  }
  // Waits (bounded) until `n` messages have arrived.
  bool WaitMessages(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    return WaitFor(
        [&] {
          Pump();
          std::lock_guard l(mu_);
          return messages_.size() >= n;
        },
        limit);
  }
  std::vector<std::pair<std::string, std::string>> messages() {
    std::lock_guard l(mu_);
    return messages_;
  }

 private:
  mosquitto* m_;
  bool connected_ = false;
  std::atomic<int> acked_{0}, subscribed_{0};
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> messages_;
};

}  // namespace edgeflow::testing
