#pragma once
// A user-space read buffer under libmosquitto.
//
// libmosquitto reads every MQTT packet with separate read() calls: one for the
// fixed header byte, one per remaining-length byte, one for the rest, plus a
// pselect() in mosquitto_loop(). With ~60-byte readings that is four or five
// system calls per message, which cost more CPU than everything the daemon
// does with the reading. The library has no hook for its socket I/O, so the
// executable defines read() itself (dynamic symbol lookup finds it before
// libc's): while a connection's ActiveReadBuffer is in scope on a thread,
// reads of that connection's socket on that thread are served from a buffer
// refilled with one large read(); every other read() in the process, on any
// thread or descriptor, goes straight to libc.
//
// Only plain TCP connections use it (TLS reads go through OpenSSL, which
// buffers by itself). Bytes in the buffer are invisible to poll(), so the
// owner must check pending() before waiting on the socket.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace edgeflow {

class SocketReadBuffer {
 public:
  explicit SocketReadBuffer(size_t capacity) : capacity_(capacity) {}

  // Bytes read from the socket that the library has not consumed yet.
  size_t pending() const { return end_ - begin_; }
  size_t capacity() const { return capacity_; }
  // read() system calls made to refill the buffer.
  uint64_t refills() const { return refills_; }
  // True when everything buffered has been consumed and the last refill
  // found the socket holding less than a full buffer (or nothing): another
  // read() right now would most likely find nothing.
  bool drained() const { return begin_ == end_ && last_refill_partial_; }
  // Drops buffered bytes (the connection they came from is gone).
  void Reset() {
    begin_ = end_ = 0;
    fd_ = -1;
    last_refill_partial_ = false;
  }

  // True when this process's read() is the buffering one (the executable
  // exports it, so shared libraries such as libmosquitto bind to it). When
  // false, the buffer is harmless but never fills.
  static bool Interposed();

 private:
  friend class ActiveReadBuffer;
  friend ssize_t BufferedRead(SocketReadBuffer& b, int fd, void* out, size_t n);
  size_t capacity_;
  std::unique_ptr<char[]> data_;  // allocated on first use
  size_t begin_ = 0, end_ = 0;
  int fd_ = -1;  // the socket the buffered bytes came from
  uint64_t refills_ = 0;
  bool last_refill_partial_ = false;
};

// Routes this thread's reads of `fd` through `buffer` while in scope. Bytes
// buffered from another descriptor (an earlier connection) are dropped.
class ActiveReadBuffer {
 public:
  ActiveReadBuffer(SocketReadBuffer* buffer, int fd);
  ~ActiveReadBuffer();
  ActiveReadBuffer(const ActiveReadBuffer&) = delete;
  ActiveReadBuffer& operator=(const ActiveReadBuffer&) = delete;

 private:
  SocketReadBuffer* previous_;
  int previous_fd_;
};

// The buffered read itself (what read() does for the active buffer's socket).
ssize_t BufferedRead(SocketReadBuffer& b, int fd, void* out, size_t n);

}  // namespace edgeflow
