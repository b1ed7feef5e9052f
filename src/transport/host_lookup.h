#pragma once
// Broker host names looked up off the connection's thread.
//
// libmosquitto resolves the broker's name with a blocking getaddrinfo() inside
// mosquitto_connect_async(). With the site's DNS server unreachable (a WAN
// link down, a router rebooting) that call waits for the resolver's timeout:
// 5 s per server and attempt by default, on every reconnect. On a source's
// thread, a sink's thread, during start-up, a reload and shutdown.
//
// So a HostLookup runs getaddrinfo() on a short-lived thread of its own, and
// the owner polls it. Once it has the addresses, the connection is made with
// a LookupHandoff in scope: the executable defines getaddrinfo() itself
// (dynamic symbol lookup finds it before libc's, as for read(), see
// socket_read_buffer.h), and the library's lookup of that name on that thread
// gets the addresses found, without asking DNS again. The library still
// connects to the host *name*: TLS sends it as SNI and checks the
// certificate against it. Every other getaddrinfo() in the process goes
// straight to libc.
#include <netdb.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"

namespace edgeflow {

// True when `host` is an IPv4 or IPv6 address: its lookup never waits.
bool IsNumericHost(const std::string& host);

class HostLookup {
 public:
  HostLookup() = default;
  // An unfinished lookup is abandoned: its thread frees what it finds.
  ~HostLookup();
  HostLookup(const HostLookup&) = delete;
  HostLookup& operator=(const HostLookup&) = delete;

  // Starts looking `host` up (TCP addresses, IPv4 and IPv6). Unavailable when
  // kMaxThreads lookups are already waiting in this process (a resolver that
  // answers nobody must not pile up threads: they end only at its timeout).
  Status Start(const std::string& host);
  bool started() const { return state_ != nullptr; }
  // Waits up to `timeout` for the answer; true once it is there.
  bool Wait(std::chrono::milliseconds timeout);

  struct Answer {
    addrinfo* addresses = nullptr;  // owned by the caller (freeaddrinfo), or by a LookupHandoff
    std::string error;              // set when the lookup failed
  };
  // The answer of a finished lookup; the lookup is then idle again.
  Answer Take();

  // Lookups waiting now, in the whole process.
  static int waiting();
  static constexpr int kMaxThreads = 32;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// While in scope on this thread, the first getaddrinfo(`host`, NULL, ...)
// made on it returns `addresses` and hands them over (the caller frees them).
// Addresses not handed over are freed when the scope ends.
class LookupHandoff {
 public:
  LookupHandoff(const std::string& host, addrinfo* addresses);
  ~LookupHandoff();
  LookupHandoff(const LookupHandoff&) = delete;
  LookupHandoff& operator=(const LookupHandoff&) = delete;
  // The addresses were handed over.
  bool taken() const;
};

// True when this process's getaddrinfo() is the one above (see
// SocketReadBuffer::Interposed). When false, a handoff is never taken and
// connections must look their broker up themselves.
bool LookupInterposed();

}  // namespace edgeflow
