// The modbus source against a Modbus TCP server edgeflow did not write:
// Debian's python3-pymodbus (tests/peers/modbus_server.py, run with
// /usr/bin/python3), on a loopback port, controlled through its stdin.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "modbus_peer.h"
#include "sources/modbus_source.h"


namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Child;
using testing::ModbusPeer;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;
// The last reading of each sensor in the JSON lines file.
std::map<std::string, json> Latest(const std::string& path) {
  std::map<std::string, json> last;
  std::istringstream in(testing::ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("type", "") == "reading") last[j["sensor"]] = j;
  }
  return last;
}

std::string Config(const std::string& dir, int port, const std::string& points) {
  std::ostringstream c;
  c << "node: {data_dir: " << dir << "}\n"
    << "sources:\n  - id: plc\n    type: modbus\n    host: 127.0.0.1\n    port: " << port
    << "\n    timeout_secs: 0.3\n    retries: 0\n    reconnect_min_secs: 0.1\n    reconnect_max_secs: 0.3\n"
    << "    groups:\n" << points << "sinks: [{id: out, type: file, inputs: [plc], path: " << dir << "/readings.jsonl}]\n";
  return c.str();
}

TEST(Modbus, PollsEveryDataTypeAndOrderFromARealServer) {
  TempDir dir;
  const int port = testing::FreePort();
  ModbusPeer peer(dir.path(), port);
  peer.SetValue(0, -1234, ModbusType::kInt16);
  peer.SetValue(1, 65000, ModbusType::kUint16);
  peer.SetValue(10, -123456789, ModbusType::kInt32);
  peer.SetValue(12, 4000000000, ModbusType::kUint32, WordOrder::kBig, WordOrder::kLittle);
  peer.SetValue(20, 21.5, ModbusType::kFloat32, WordOrder::kLittle, WordOrder::kBig);
  peer.SetValue(30, -0.000123456789, ModbusType::kFloat64, WordOrder::kLittle, WordOrder::kLittle);
  peer.SetValue(40, -1234567890123, ModbusType::kInt64);
  peer.SetValue(50, 9.0e15, ModbusType::kUint64, WordOrder::kBig, WordOrder::kLittle);
  peer.SetValue(3, 777, ModbusType::kUint16, WordOrder::kBig, WordOrder::kBig, "ir");
  const uint16_t on = 1;
  peer.Set("co", 7, &on, 1);
  peer.Set("di", 9, &on, 1);
  const std::string points =
      "      - interval_secs: 0.1\n        points:\n"
      "          - {sensor: i16, address: 0, type: int16}\n"
      "          - {sensor: u16, address: 1, type: uint16}\n"
      "          - {sensor: i32, address: 10, type: int32}\n"
      "          - {sensor: u32, address: 12, type: uint32, word_order: little}\n"
      "          - {sensor: f32, address: 20, type: float32, byte_order: little}\n"
      "          - {sensor: f64, address: 30, type: float64, byte_order: little, word_order: little}\n"
      "          - {sensor: i64, address: 40, type: int64}\n"
      "          - {sensor: u64, address: 50, type: uint64, word_order: little}\n"
      "          - {sensor: coil, table: coil, address: 7, type: bool}\n"
      "          - {sensor: din, table: discrete, address: 9, type: bool}\n"
      "      - interval_secs: 0.3\n        points:\n"
      "          - {sensor: flow, metric: m3h, table: input, address: 3, scale: 0.1, offset: -10}\n";
  std::ofstream(dir / "c.yaml") << Config(dir.path(), port, points);
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  std::map<std::string, json> last;
  ASSERT_TRUE(testing::WaitFor([&] {
    last = Latest(dir / "readings.jsonl");
    return last.size() == 11;
  })) << daemon.err() << testing::ReadFile(dir / "modbus-peer.out.err");
  const std::map<std::string, double> want = {
      {"i16", -1234}, {"u16", 65000}, {"i32", -123456789}, {"u32", 4000000000}, {"f32", 21.5},
      {"f64", -0.000123456789}, {"i64", -1234567890123}, {"u64", 9.0e15}, {"coil", 1}, {"din", 1}, {"flow", 67.7}};
  for (const auto& [sensor, value] : want) {
    EXPECT_EQ(last[sensor]["quality"], "good") << sensor;
    EXPECT_NEAR(last[sensor]["value"].get<double>(), value, std::abs(value) * 1e-12 + 1e-9) << sensor;
  }
  EXPECT_EQ(last["flow"]["metric"], "m3h");

  // A change on the device shows up at the next poll.
  peer.SetValue(0, 42, ModbusType::kInt16);
  EXPECT_TRUE(testing::WaitFor([&] { return Latest(dir / "readings.jsonl")["i16"]["value"] == 42; }));
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
}

TEST(Modbus, ExceptionsAndAnOfflineDeviceGiveBadQualityThenRecover) {
  TempDir dir;
  const int port = testing::FreePort();
  auto peer = std::make_unique<ModbusPeer>(dir.path(), port);
  peer->SetValue(0, 5, ModbusType::kUint16);
  const std::string points =
      "      - interval_secs: 0.1\n        points:\n"
      "          - {sensor: ok, address: 0}\n"
      "          - {sensor: missing, address: 5000}\n";  // beyond the server's map: exception response
  std::ofstream(dir / "c.yaml") << Config(dir.path(), port, points);
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  std::map<std::string, json> last;
  ASSERT_TRUE(testing::WaitFor([&] {
    last = Latest(dir / "readings.jsonl");
    return last.size() == 2;
  })) << daemon.err();
  EXPECT_EQ(last["ok"]["quality"], "good");
  EXPECT_EQ(last["ok"]["value"], 5);
  EXPECT_EQ(last["missing"]["quality"], "bad") << "an exception response is not skipped silently";
  EXPECT_TRUE(last["missing"]["value"].is_null());
  EXPECT_NE(daemon.err().find("Illegal data address"), std::string::npos) << daemon.err();

  // The device goes away: its readings turn bad, the daemon keeps polling.
  peer->Stop();
  ASSERT_TRUE(testing::WaitFor([&] { return Latest(dir / "readings.jsonl")["ok"]["quality"] == "bad"; })) << daemon.err();
  // It comes back (same port): good readings resume after the reconnect.
  peer = std::make_unique<ModbusPeer>(dir.path(), port);
  peer->SetValue(0, 6, ModbusType::kUint16);
  ASSERT_TRUE(testing::WaitFor([&] {
    auto l = Latest(dir / "readings.jsonl");
    return l["ok"]["quality"] == "good" && l["ok"]["value"] == 6;
  })) << daemon.err();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
}

// A device that answers with malformed frames (wrong transaction id, bad
// length, truncated, garbage): readings turn bad, the daemon keeps running
// and reads again once real answers come back.
TEST(Modbus, MalformedFramesGiveBadQualityAndTheDaemonKeepsRunning) {
  TempDir dir;
  const int port = testing::FreePort();
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // not inherited by the daemon
  int yes = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 8), 0);
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread bad([&] {
    // Replies to each request with the next kind of broken frame, in turn.
    const std::vector<std::string> frames = {
        std::string("\xFF\xFF\x00\x00\x00\x05\x01\x03\x02\x00\x07", 11),  // wrong transaction id
        std::string("\x00\x01\x00\x00\xFF\xFF\x01\x03", 8),                  // absurd length
        std::string("\x00\x01\x00", 3),                                          // truncated
        std::string("garbage that is not modbus at all........", 40)};
    while (!stop) {
      pollfd p{lfd, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      // Close with a reset: no TIME_WAIT left on the port the real server binds next.
      const linger hard{1, 0};
      ::setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      for (int k = 0; !stop; ++k) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 50) != 1) continue;
        char req[260];
        if (::recv(c, req, sizeof req, 0) <= 0) break;
        const std::string& f = frames[static_cast<size_t>(answered++) % frames.size()];
        if (::send(c, f.data(), f.size(), MSG_NOSIGNAL) < 0) break;
        if (answered % frames.size() == 3) break;  // and sometimes hang up
      }
      ::close(c);
    }
  });
  const std::string points = "      - interval_secs: 0.05\n        points:\n          - {sensor: x, address: 0}\n";
  std::ofstream(dir / "c.yaml") << Config(dir.path(), port, points);
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  EXPECT_TRUE(testing::WaitFor([&] { return answered > 12; })) << daemon.err();
  EXPECT_TRUE(daemon.running()) << daemon.err();
  auto last = Latest(dir / "readings.jsonl");
  EXPECT_EQ(last["x"]["quality"], "bad") << daemon.err();
  size_t good = 0;
  {
    std::istringstream in(testing::ReadFile(dir / "readings.jsonl"));
    for (std::string line; std::getline(in, line);) good += line.find("\"quality\":\"good\"") != std::string::npos;
  }
  EXPECT_EQ(good, 0u) << "no malformed frame became a value";
  stop = true;
  bad.join();
  ::close(lfd);
  // A real server on the same port: values again.
  ModbusPeer peer(dir / "peer", port);
  peer.SetValue(0, 9, ModbusType::kUint16);
  EXPECT_TRUE(testing::WaitFor([&] {
    auto l = Latest(dir / "readings.jsonl");
    return l["x"]["quality"] == "good" && l["x"]["value"] == 9;
  })) << daemon.err();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
}

// Modbus RTU: a pty pair (socat) stands for the serial line; pymodbus serves
// RTU frames on one end, edgeflow polls the other.
TEST(Modbus, PollsOverRtuThroughASerialLine) {
  TempDir dir;
  Child line({"/usr/bin/socat", "pty,raw,echo=0,link=" + dir / "ttyA", "pty,raw,echo=0,link=" + dir / "ttyB"},
             dir / "socat.out", dir / "socat.err");
  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(dir / "ttyA") && fs::exists(dir / "ttyB"); })) << line.err();
  ModbusPeer peer(dir / "peer", dir / "ttyB");
  peer.SetValue(4, -273.15, ModbusType::kFloat32, WordOrder::kBig, WordOrder::kLittle);
  std::ostringstream c;
  c << "node: {data_dir: " << dir.path() << "}\n"
    << "sources:\n  - id: plc\n    type: modbus\n    serial_port: " << (dir / "ttyA")
    << "\n    baud: 19200\n    parity: N\n    unit_id: 1\n    timeout_secs: 0.5\n"
    << "    groups:\n      - interval_secs: 0.1\n        points:\n"
    << "          - {sensor: probe, metric: temperature, address: 4, type: float32, word_order: little}\n"
    << "sinks: [{id: out, type: file, inputs: [plc], path: " << dir.path() << "/readings.jsonl}]\n";
  std::ofstream(dir / "c.yaml") << c.str();
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  ASSERT_TRUE(testing::WaitFor([&] {
    auto l = Latest(dir / "readings.jsonl");
    return l.count("probe") && l["probe"]["quality"] == "good";
  })) << daemon.err() << testing::ReadFile(dir / "peer/modbus-peer.out.err");
  EXPECT_NEAR(Latest(dir / "readings.jsonl")["probe"]["value"].get<double>(), -273.15, 1e-4);
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
}

}  // namespace
}  // namespace edgeflow
