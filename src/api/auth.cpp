#include "api/auth.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace edgeflow {

namespace {

// 32 random bytes as hex; empty when the generator fails.
std::string RandomHex() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (unsigned char c : raw) {
    t += hex[c >> 4];
    t += hex[c & 15];
  }
  return t;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<std::string> LoadOrCreateToken(const std::string& path, bool* created) {
  *created = false;
  if (std::filesystem::exists(path)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
      return Status::FailedPrecondition("API token file " + path + " is readable by others; chmod 600 it");
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string t = ss.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.size() < 16) return Status::Invalid("API token in " + path + " is too short (16 characters at least)");
    return t;
  }
  const std::string t = RandomHex();
  if (t.empty()) return Status::Internal("no random bytes for the API token");
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io("cannot create API token file " + path + ": " + std::strerror(errno));
  std::string line = t + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return Status::Io("cannot write API token file " + path);
  *created = true;
  return t;
}

bool CheckBearer(const std::string& header, const std::string& token) {
  static const std::string kPrefix = "Bearer ";
  if (header.size() != kPrefix.size() + token.size() || header.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return ConstantTimeEqual(std::string_view(header).substr(kPrefix.size()), token);
}

bool CheckToken(const std::string& given, const std::string& token) { return ConstantTimeEqual(given, token); }

std::string CookieValue(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view part(header.data() + pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=')
      return std::string(part.substr(name.size() + 1));
    pos = end + 1;
  }
  return "";
}

std::string Sessions::Create(TimeUs now) {
  std::string id = RandomHex();
  if (id.empty()) return id;
  std::lock_guard l(mu_);
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second <= now; });
  while (sessions_.size() >= max_) {  // the session expiring first goes
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (it->second < oldest->second) oldest = it;
    sessions_.erase(oldest);
  }
  sessions_[id] = now + ttl_;
  return id;
}

bool Sessions::Valid(const std::string& id, TimeUs now) {
  if (id.size() != 64) return false;
  std::lock_guard l(mu_);
  // Compared in constant time against every live session, not looked up by hash.
  bool found = false;
  for (const auto& [sid, expires] : sessions_) found |= ConstantTimeEqual(sid, id) && expires > now;
  return found;
}

void Sessions::Remove(const std::string& id) {
  std::lock_guard l(mu_);
  sessions_.erase(id);
}

bool AuthLimiter::Blocked(const std::string& client, TimeUs now) {
  std::lock_guard l(mu_);
  auto it = clients_.find(client);
  if (it == clients_.end()) return false;
  if (now - it->second.window_start >= window_) {
    clients_.erase(it);
    return false;
  }
  return it->second.failures >= limit_;
}

void AuthLimiter::Failed(const std::string& client, TimeUs now) {
  std::lock_guard l(mu_);
  if (clients_.size() > 10000) clients_.clear();  // bounded memory under address spraying
  Entry& e = clients_[client];
  if (now - e.window_start >= window_) e = Entry{now, 0};
  ++e.failures;
}

}  // namespace edgeflow
