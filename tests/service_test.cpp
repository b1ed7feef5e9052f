// systemd's notify protocol without systemd: the test owns the datagram socket
// that NOTIFY_SOCKET names and checks what edgeflow sends (READY=1 after
// start-up, WATCHDOG=1 at half the watchdog interval, RELOADING=1/READY=1
// around SIGHUP, STOPPING=1 on SIGTERM).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "core/testing.h"
#include "process.h"

namespace edgeflow {
namespace {

using testing::Child;
using testing::TempDir;

const std::string kBin = EDGEFLOW_BINARY;

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~NotifySocket() { ::close(fd_); }
  bool bound() const { return bound_; }
  // Waits (bounded) for a datagram containing `what`; collects everything seen.
  bool WaitFor(const std::string& what, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) == 1) {
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
          seen_.emplace_back(buf, static_cast<size_t>(n));
          seen_times_.push_back(std::chrono::steady_clock::now());
          if (seen_.back().find(what) != std::string::npos) return true;
        }
      }
    }
    return false;
  }
  const std::vector<std::string>& seen() const { return seen_; }
  const std::vector<std::chrono::steady_clock::time_point>& times() const { return seen_times_; }

 private:
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> seen_;
  std::vector<std::chrono::steady_clock::time_point> seen_times_;
};

TEST(Service, NotifiesReadyWatchdogReloadAndStopping) {
  TempDir dir;
  NotifySocket sock(dir / "notify");
  ASSERT_TRUE(sock.bound());
  std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path() << "}\n"
                                << "sources: [{id: in, type: ingest}]\nsinks: [{id: o, type: file, inputs: [in]}]\n";
  ::setenv("NOTIFY_SOCKET", (dir / "notify").c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // ping every 200 ms
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");

  ASSERT_TRUE(sock.WaitFor("READY=1")) << daemon.err();
  EXPECT_NE(sock.seen().back().find("MAINPID="), std::string::npos);
  ASSERT_TRUE(sock.WaitFor("WATCHDOG=1"));
  const auto first = sock.times().back();
  ASSERT_TRUE(sock.WaitFor("WATCHDOG=1"));
  ASSERT_TRUE(sock.WaitFor("WATCHDOG=1"));
  const double period = std::chrono::duration<double>(sock.times().back() - first).count() / 2;
  EXPECT_GT(period, 0.1);
  EXPECT_LT(period, 0.35) << "about half of WATCHDOG_USEC";

  daemon.Signal(SIGHUP);
  ASSERT_TRUE(sock.WaitFor("RELOADING=1")) << daemon.err();
  ASSERT_TRUE(sock.WaitFor("READY=1")) << daemon.err();

  daemon.Signal(SIGTERM);
  ASSERT_TRUE(sock.WaitFor("STOPPING=1")) << daemon.err();
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
}

TEST(Service, WithoutNotifySocketLibsystemdIsNotLoaded) {
  TempDir dir;
  std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path() << "}\n"
                                << "sources: [{id: in, type: ingest}]\nsinks: [{id: o, type: file, inputs: [in]}]\n";
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  ASSERT_TRUE(testing::WaitFor([&] { return daemon.err().find("pipeline started") != std::string::npos; }));
  EXPECT_EQ(testing::ReadFile("/proc/" + std::to_string(daemon.pid()) + "/maps").find("libsystemd"), std::string::npos);
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
}

}  // namespace
}  // namespace edgeflow
