#include "transport/host_lookup.h"

#include <arpa/inet.h>
#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

extern "C" int getaddrinfo(const char* __restrict name, const char* __restrict service,
                           const struct addrinfo* __restrict hints, struct addrinfo** __restrict res);

namespace edgeflow {
namespace {

using GetAddrInfoFn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);

// The next getaddrinfo() after ours: libc's, or a sanitizer's interceptor.
GetAddrInfoFn NextGetAddrInfo() {
  static const GetAddrInfoFn next = [] {
    void* f = dlsym(RTLD_NEXT, "getaddrinfo");
    return f != nullptr && f != reinterpret_cast<void*>(&::getaddrinfo) ? reinterpret_cast<GetAddrInfoFn>(f) : nullptr;
  }();
  return next;
}

struct Handoff {
  std::string host;
  addrinfo* addresses = nullptr;
  bool taken = false;
};
thread_local Handoff tl_handoff;

std::atomic<int> g_waiting{0};

}  // namespace

bool IsNumericHost(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool LookupInterposed() {
  return NextGetAddrInfo() != nullptr && dlsym(RTLD_DEFAULT, "getaddrinfo") == reinterpret_cast<void*>(&::getaddrinfo);
}

struct HostLookup::State {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  addrinfo* addresses = nullptr;
  std::string error;
  ~State() {
    if (addresses) freeaddrinfo(addresses);
  }
};

HostLookup::~HostLookup() = default;  // the thread holds its own reference

int HostLookup::waiting() { return g_waiting.load(std::memory_order_relaxed); }

Status HostLookup::Start(const std::string& host) {
  if (g_waiting.fetch_add(1, std::memory_order_relaxed) >= kMaxThreads) {
    g_waiting.fetch_sub(1, std::memory_order_relaxed);
    return Status::Unavailable("cannot look up '" + host + "': " + std::to_string(kMaxThreads) +
                               " host name lookups are already waiting for the DNS server");
  }
  auto state = std::make_shared<State>();
  try {
    std::thread([state, host] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;  // what libmosquitto asks for
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
      std::string error;
      if (rc != 0) error = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
      g_waiting.fetch_sub(1, std::memory_order_relaxed);  // before the answer: whoever sees it sees this
      {
        std::lock_guard lock(state->mu);
        state->addresses = rc == 0 ? found : nullptr;
        state->error = rc == 0 ? "" : std::move(error);
        state->done = true;
      }
      state->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    g_waiting.fetch_sub(1, std::memory_order_relaxed);
    return Status::Unavailable(std::string("cannot start a host name lookup: ") + e.what());
  }
  state_ = std::move(state);
  return Status::Ok();
}

bool HostLookup::Wait(std::chrono::milliseconds timeout) {
  if (!state_) return false;
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->done; });
}

HostLookup::Answer HostLookup::Take() {
  Answer a;
  if (!state_) return a;
  {
    std::lock_guard lock(state_->mu);
    if (!state_->done) return a;
    a.addresses = std::exchange(state_->addresses, nullptr);
    a.error = std::move(state_->error);
  }
  state_.reset();
  return a;
}

LookupHandoff::LookupHandoff(const std::string& host, addrinfo* addresses) {
  tl_handoff = Handoff{host, addresses, false};
}

LookupHandoff::~LookupHandoff() {
  if (!tl_handoff.taken && tl_handoff.addresses) freeaddrinfo(tl_handoff.addresses);
  tl_handoff = Handoff{};
}

bool LookupHandoff::taken() const { return tl_handoff.taken; }

}  // namespace edgeflow

// Every getaddrinfo() in the process comes here (see the header): only the
// handed-over name, on the thread that holds the handoff, is answered here.
extern "C" int getaddrinfo(const char* __restrict name, const char* __restrict service,
                           const struct addrinfo* __restrict hints, struct addrinfo** __restrict res) {
  edgeflow::Handoff& h = edgeflow::tl_handoff;
  if (h.addresses != nullptr && !h.taken && name != nullptr && service == nullptr && res != nullptr &&
      h.host == name) {
    h.taken = true;
    *res = h.addresses;
    return 0;
  }
  const edgeflow::GetAddrInfoFn next = edgeflow::NextGetAddrInfo();
  if (next == nullptr) return EAI_SYSTEM;  // cannot happen with a dynamic libc
  return next(name, service, hints, res);
}
