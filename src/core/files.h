#pragma once
// Durable file replacement.
#include <string>

#include "core/status.h"

namespace edgeflow {

// The whole contents of `path`; NotFound when it cannot be read.
Result<std::string> ReadWholeFile(const std::string& path);

// Writes `text` to `path` so that a crash leaves the old or the new file,
// never half of one (write, fsync, rename); keeps the old one as `backup`
// when given.
Status WriteFileAtomically(const std::string& path, const std::string& text, const std::string& backup = "");

}  // namespace edgeflow
