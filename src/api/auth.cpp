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
  // The file must belong to the daemon's user (or root: a secret mounted by
  // the system) and be private: in a shared directory, a file someone else
  // wrote would hand them the token. O_NONBLOCK: a FIFO in its place must
  // not hang the start.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    const bool stat_ok = ::fstat(fd, &st) == 0;
    std::string t(4097, '\0');
    const ssize_t n = stat_ok && S_ISREG(st.st_mode) ? ::read(fd, t.data(), t.size()) : -1;
    ::close(fd);
    if (!stat_ok || !S_ISREG(st.st_mode)) return Status::FailedPrecondition("API token file " + path + " is not a file");
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
      return Status::FailedPrecondition("API token file " + path + " belongs to another user");
    if ((st.st_mode & 0077) != 0)
      return Status::FailedPrecondition("API token file " + path + " is readable by others; chmod 600 it");
    if (n > 4096) return Status::Invalid("API token in " + path + " is too long (4096 bytes at most)");
    t.resize(n > 0 ? static_cast<size_t>(n) : 0);
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.size() < 16) return Status::Invalid("API token in " + path + " is too short (16 characters at least)");
    return t;
  }
  if (errno != ENOENT) return Status::Io("cannot read API token file " + path + ": " + std::strerror(errno));
  const std::string t = RandomHex();
  if (t.empty()) return Status::Internal("no random bytes for the API token");
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  // Written whole under another name, then linked into place: a crash leaves
  // no token file or a complete one (an empty one refused every later start).
  // link() fails if the name exists, as O_EXCL would.
  const std::string tmp = path + ".new-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io("cannot create API token file " + tmp + ": " + std::strerror(errno));
  std::string line = t + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
  int link_errno = errno;
  if (ok && linked != 0 && (link_errno == EPERM || link_errno == ENOTSUP || link_errno == EOPNOTSUPP)) {
    // A file system without hard links (vfat on an SD card): renamed into
    // place instead, unless a token file appeared meanwhile.
    linked = std::filesystem::exists(path) ? -1 : ::rename(tmp.c_str(), path.c_str());
    link_errno = linked != 0 && std::filesystem::exists(path) ? EEXIST : errno;
  }
  ::unlink(tmp.c_str());
  if (!ok) return Status::Io("cannot write API token file " + tmp);
  if (linked != 0)
    return Status::Io("cannot create API token file " + path + ": " + std::strerror(link_errno));
  if (int d = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    (void)::fsync(d);
    ::close(d);
  }
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
