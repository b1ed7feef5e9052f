#pragma once
// A Modbus TCP server edgeflow did not write, for tests: Debian's
// python3-pymodbus behind tests/peers/modbus_server.py (run with
// /usr/bin/python3), on a loopback port, driven through its stdin.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <vector>

#include "broker.h"
#include "process.h"
#include "sources/modbus_source.h"

extern char** environ;

namespace edgeflow::testing {

inline const std::string kModbusPeer = std::string(EDGEFLOW_SOURCE_DIR) + "/tests/peers/modbus_server.py";

class ModbusPeer {
 public:
  ModbusPeer(const std::string& dir, int port) : out_(dir + "/modbus-peer.out"), port_(port) {
    std::filesystem::create_directories(dir);
    Start();
  }
  // Modbus RTU on a serial device instead of TCP.
  ModbusPeer(const std::string& dir, const std::string& rtu_device) : out_(dir + "/modbus-peer.out"), rtu_(rtu_device) {
    std::filesystem::create_directories(dir);
    Start();
  }
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
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    const std::string port = std::to_string(port_);
    std::vector<const char*> argv = {"/usr/bin/python3", kModbusPeer.c_str()};
    if (rtu_.empty()) {
      argv.push_back(port.c_str());
    } else {
      argv.push_back("--rtu");
      argv.push_back(rtu_.c_str());
    }
    argv.push_back(nullptr);
    posix_spawn(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[0]);
    in_ = fds[1];
    lines_ = 0;
    if (rtu_.empty()) testing::WaitFor([&] { return testing::PortOpen(port_); }, std::chrono::seconds(20));
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
  int port_ = 0;
  std::string rtu_;
  pid_t pid_ = -1;
  int in_ = -1;
  size_t lines_ = 0;
};

}  // namespace edgeflow::testing
