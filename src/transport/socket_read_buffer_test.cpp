#include "transport/socket_read_buffer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

namespace edgeflow {
namespace {

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
  }
  ~SocketPair() {
    close(fd[0]);
    close(fd[1]);
  }
  void Send(const std::string& s) { ASSERT_EQ(write(fd[1], s.data(), s.size()), static_cast<ssize_t>(s.size())); }
};

std::string ReadBytes(int fd, size_t n) {
  std::string s(n, '\0');
  const ssize_t got = read(fd, s.data(), n);
  if (got >= 0) return s.substr(0, static_cast<size_t>(got));
  std::string e = "<";
  e += std::to_string(errno);
  e += ">";
  return e;
}

TEST(SocketReadBuffer, ServesSmallReadsFromOneSystemCall) {
  ASSERT_TRUE(SocketReadBuffer::Interposed());
  SocketPair p;
  SocketReadBuffer buf(64);
  p.Send("0123456789abcdef");
  {
    ActiveReadBuffer active(&buf, p.fd[0]);
    EXPECT_FALSE(buf.drained());
    EXPECT_EQ(ReadBytes(p.fd[0], 1), "0");
    EXPECT_EQ(buf.refills(), 1u);
    EXPECT_EQ(buf.pending(), 15u);
    EXPECT_FALSE(buf.drained());
    EXPECT_EQ(ReadBytes(p.fd[0], 2), "12");
    EXPECT_EQ(ReadBytes(p.fd[0], 100), "3456789abcdef");  // what is buffered, no further call
    EXPECT_EQ(buf.refills(), 1u);
    EXPECT_EQ(buf.pending(), 0u);
    EXPECT_TRUE(buf.drained());  // the refill took 16 of 64 bytes: the socket held no more
    // Empty socket: EAGAIN as from read() itself.
    EXPECT_EQ(ReadBytes(p.fd[0], 1), std::string("<") += std::to_string(EAGAIN) += ">");
    p.Send("xyz");
    EXPECT_EQ(ReadBytes(p.fd[0], 2), "xy");
  }
  // Outside the scope reads go to the socket; the buffered byte stays for the
  // next time the buffer is active on it.
  p.Send("after");
  EXPECT_EQ(ReadBytes(p.fd[0], 10), "after");
  {
    ActiveReadBuffer active(&buf, p.fd[0]);
    EXPECT_EQ(ReadBytes(p.fd[0], 10), "z");
  }
}

TEST(SocketReadBuffer, OtherDescriptorsAndThreadsAreNotTouched) {
  SocketPair a, b;
  SocketReadBuffer buf(64);
  a.Send("aaaa");
  b.Send("bbbb");
  ActiveReadBuffer active(&buf, a.fd[0]);
  EXPECT_EQ(ReadBytes(b.fd[0], 2), "bb");  // another socket: straight through
  EXPECT_EQ(buf.refills(), 0u);
  std::string other;
  std::thread t([&] { other = ReadBytes(a.fd[0], 1); });  // another thread: straight through
  t.join();
  EXPECT_EQ(other, "a");
  EXPECT_EQ(buf.refills(), 0u);
  EXPECT_EQ(ReadBytes(a.fd[0], 10), "aaa");
  EXPECT_EQ(buf.refills(), 1u);
}

TEST(SocketReadBuffer, LargeReadsBypassItAndEndOfStreamPassesThrough) {
  SocketPair p;
  SocketReadBuffer buf(16);
  p.Send(std::string(16, 'f'));
  ActiveReadBuffer active(&buf, p.fd[0]);
  EXPECT_EQ(ReadBytes(p.fd[0], 15), std::string(15, 'f'));  // one full refill, one byte left
  EXPECT_EQ(ReadBytes(p.fd[0], 5), "f");
  EXPECT_FALSE(buf.drained());  // a full refill: the socket may hold more
  EXPECT_EQ(buf.refills(), 1u);
  const std::string big(100, 'x');
  p.Send(big);
  EXPECT_EQ(ReadBytes(p.fd[0], 100), big);  // as large as the buffer or more: read directly
  EXPECT_EQ(buf.refills(), 1u);
  p.Send("tail");
  close(p.fd[1]);
  p.fd[1] = -1;
  EXPECT_EQ(ReadBytes(p.fd[0], 2), "ta");
  EXPECT_EQ(ReadBytes(p.fd[0], 2), "il");
  EXPECT_EQ(ReadBytes(p.fd[0], 2), "");  // end of stream: 0
}

TEST(SocketReadBuffer, BytesOfAClosedConnectionNeverReachTheNextOne) {
  SocketReadBuffer buf(64);
  {
    SocketPair p;
    p.Send("old-bytes");
    ActiveReadBuffer active(&buf, p.fd[0]);
    EXPECT_EQ(ReadBytes(p.fd[0], 3), "old");
    buf.Reset();  // what the connection does when it loses its socket
  }
  SocketPair q;  // may get the same descriptor number
  q.Send("new");
  ActiveReadBuffer active(&buf, q.fd[0]);
  EXPECT_EQ(ReadBytes(q.fd[0], 10), "new");
}

}  // namespace
}  // namespace edgeflow
