#include "transport/socket_read_buffer.h"

// <unistd.h> is left out on purpose: with _FORTIFY_SOURCE it defines read()
// as an inline wrapper, and this file defines read() itself.
#include <dlfcn.h>

#include <algorithm>
#include <cstring>

extern "C" ssize_t __read(int fd, void* buf, size_t n);  // glibc's read(), exported by libc
extern "C" ssize_t read(int fd, void* buf, size_t n);

namespace edgeflow {
namespace {

struct Active {
  SocketReadBuffer* buffer = nullptr;
  int fd = -1;
};
thread_local Active tl_active;

using ReadFn = ssize_t (*)(int, void*, size_t);

// The next read() after ours: libc's, or a sanitizer's interceptor in
// instrumented builds.
ssize_t RealRead(int fd, void* buf, size_t n) {
  static const ReadFn next = [] {
    void* f = dlsym(RTLD_NEXT, "read");
    return f != nullptr && f != reinterpret_cast<void*>(&::read) ? reinterpret_cast<ReadFn>(f) : &__read;
  }();
  return next(fd, buf, n);
}

}  // namespace

ssize_t BufferedRead(SocketReadBuffer& b, int fd, void* out, size_t n) {
  if (b.begin_ == b.end_) {
    // Reads as large as the buffer gain nothing from it.
    if (n >= b.capacity_) {
      b.last_refill_partial_ = false;  // unknown whether the socket is empty now
      return RealRead(fd, out, n);
    }
    if (!b.data_) b.data_ = std::make_unique<char[]>(b.capacity_);
    ++b.refills_;
    const ssize_t got = RealRead(fd, b.data_.get(), b.capacity_);
    b.last_refill_partial_ = got < static_cast<ssize_t>(b.capacity_);
    if (got <= 0) return got;  // end of stream or error: errno as read() left it
    b.begin_ = 0;
    b.end_ = static_cast<size_t>(got);
  }
  const size_t take = std::min(n, b.end_ - b.begin_);
  std::memcpy(out, b.data_.get() + b.begin_, take);
  b.begin_ += take;
  if (b.begin_ == b.end_) b.begin_ = b.end_ = 0;
  return static_cast<ssize_t>(take);
}

bool SocketReadBuffer::Interposed() {
  return dlsym(RTLD_DEFAULT, "read") == reinterpret_cast<void*>(&::read);
}

ActiveReadBuffer::ActiveReadBuffer(SocketReadBuffer* buffer, int fd)
    : previous_(tl_active.buffer), previous_fd_(tl_active.fd) {
  if (buffer != nullptr && buffer->fd_ != fd) {
    buffer->Reset();
    buffer->fd_ = fd;
  }
  tl_active.buffer = buffer;
  tl_active.fd = fd;
}

ActiveReadBuffer::~ActiveReadBuffer() {
  tl_active.buffer = previous_;
  tl_active.fd = previous_fd_;
}

}  // namespace edgeflow

// Every read() in the process comes here (see the header); all but the active
// buffer's socket on this thread pass straight through.
extern "C" ssize_t read(int fd, void* buf, size_t n) {
  const edgeflow::Active& a = edgeflow::tl_active;
  if (a.buffer != nullptr && a.fd == fd && fd >= 0) return edgeflow::BufferedRead(*a.buffer, fd, buf, n);
  return edgeflow::RealRead(fd, buf, n);
}
