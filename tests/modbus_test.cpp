// The modbus source against a Modbus TCP server edgeflow did not write:
// Debian's python3-pymodbus (tests/peers/modbus_server.py, run with
// /usr/bin/python3), on a loopback port, controlled through its stdin.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker.h"
#include "process.h"
#include "sources/modbus_source.h"

extern char** environ;

namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Child;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;
const std::string kPeer = std::string(EDGEFLOW_SOURCE_DIR) + "/tests/peers/modbus_server.py";

class ModbusPeer {
 public:
  ModbusPeer(const std::string& dir, int port) : out_(dir + "/modbus-peer.out"), port_(port) { Start(); }
  ~ModbusPeer() { Stop(); }
  void Start() {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (out_ + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const std::string port = std::to_string(port_);
    const char* argv[] = {"/usr/bin/python3", kPeer.c_str(), port.c_str(), nullptr};
    posix_spawn(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[0]);
    in_ = fds[1];
    lines_ = 0;
    testing::WaitFor([&] { return testing::PortOpen(port_); }, std::chrono::seconds(20));
    testing::WaitFor([&] { return Lines() >= 1; });  // "ready"
    lines_ = 1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::close(in_);
    pid_ = -1;
  }
  // Sends a command and waits for its answer line.
  std::string Command(const std::string& cmd) {
    const std::string line = cmd + "\n";
    if (::write(in_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return "err write";
    const size_t want = ++lines_;
    testing::WaitFor([&] { return Lines() >= want; });
    std::istringstream all(testing::ReadFile(out_));
    std::string l;
    for (size_t i = 0; i < want && std::getline(all, l); ++i) {
    }
    return l;
  }
  void Set(const char* table, int addr, const uint16_t* regs, int n) {
    std::ostringstream c;
    c << "set " << table << " " << addr;
    for (int i = 0; i < n; ++i) c << " " << regs[i];
    const std::string cmd = c.str();
    EXPECT_EQ(Command(cmd), "ok") << cmd;
  }
  void SetValue(int addr, double v, ModbusType t, WordOrder bo = WordOrder::kBig, WordOrder wo = WordOrder::kBig,
                const char* table = "hr") {
    uint16_t regs[4];
    EncodeModbus(v, t, bo, wo, regs);
    Set(table, addr, regs, ModbusRegisters(t));
  }

 private:
  size_t Lines() {
    const std::string s = testing::ReadFile(out_);
    return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  }
  std::string out_;
  int port_;
  pid_t pid_ = -1;
  int in_ = -1;
  size_t lines_ = 0;
};

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

}  // namespace
}  // namespace edgeflow
