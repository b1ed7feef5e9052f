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
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status::Internal("no random bytes for the API token");
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (unsigned char c : raw) {
    t += hex[c >> 4];
    t += hex[c & 15];
  }
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
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(header[kPrefix.size() + i] ^ token[i]);
  return diff == 0;
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
