#include "core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace edgeflow {

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Status::Io("cannot read " + path);
  return text;
}

Status WriteFileAtomically(const std::string& path, const std::string& text, const std::string& backup) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc | std::ios::binary);
    f << text;
    if (!f.flush()) return Status::Io("cannot write " + tmp);
  }
  if (int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) return Status::Io("cannot fsync " + tmp);
  }
  std::error_code ec;
  if (!backup.empty() && std::filesystem::exists(path))
    std::filesystem::copy_file(path, backup, std::filesystem::copy_options::overwrite_existing, ec);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Io("cannot replace " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace edgeflow
