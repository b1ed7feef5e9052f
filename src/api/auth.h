#pragma once
// API authentication: one bearer token per node. There is no default
// credential: at first start a random token is created, written with mode 0600
// to the data directory and printed once. Failed attempts are rate limited per
// client address.
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "core/status.h"

namespace edgeflow {

// Reads the token file, or creates it (32 random bytes, hex) when missing.
// `created` tells whether it was created now (so the caller prints it once).
Result<std::string> LoadOrCreateToken(const std::string& path, bool* created);

// Constant-time comparison of "Bearer <token>" against the expected token.
bool CheckBearer(const std::string& header, const std::string& token);

// Constant-time comparison of a token given in a request body.
bool CheckToken(const std::string& given, const std::string& token);

// The value of cookie `name` in a Cookie header; "" when absent.
std::string CookieValue(const std::string& header, const std::string& name);

// Browser sessions of the dashboard: logging in with the node's token creates
// a random session id, kept only in memory (a restart logs everyone out) and
// sent as an HttpOnly, SameSite=Strict cookie, so page scripts never hold the
// token. Sessions expire after `ttl`; at most `max` live at once (the one
// expiring first makes room).
class Sessions {
 public:
  Sessions(TimeUs ttl, size_t max) : ttl_(ttl), max_(max) {}
  std::string Create(TimeUs now);  // "" when no random bytes
  bool Valid(const std::string& id, TimeUs now);
  void Remove(const std::string& id);
  TimeUs ttl() const { return ttl_; }

 private:
  TimeUs ttl_;
  size_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, TimeUs> sessions_;  // id -> expiry
};

// At most `limit` failed attempts per client per `window`; beyond that, the
// client gets 429 until the window has passed.
class AuthLimiter {
 public:
  AuthLimiter(int limit, TimeUs window) : limit_(limit), window_(window) {}
  bool Blocked(const std::string& client, TimeUs now);
  void Failed(const std::string& client, TimeUs now);

 private:
  struct Entry {
    TimeUs window_start = 0;
    int failures = 0;
  };
  int limit_;
  TimeUs window_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> clients_;
};

}  // namespace edgeflow
