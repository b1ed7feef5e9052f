#pragma once
// Optional parts with heavy libraries (the HTTP server, ML inference) are
// built as modules — shared objects the daemon loads only when the
// configuration uses them, so a node that does not pays nothing for them.
// A module must come from the same build: it exports
// `edgeflow_module_version` and is refused when that differs.
#include <string>
#include <vector>

#include "core/status.h"

namespace edgeflow {

// Where modules are looked for, in order: $EDGEFLOW_MODULE_DIR, the
// executable's directory, then <executable>/../lib/edgeflow.
std::vector<std::string> ModuleSearchPath();

// Loads `file` (e.g. "libedgeflow-ml.so") once per process and returns its
// handle; `purpose` completes the error when it is missing ("the api section").
Result<void*> LoadModule(const std::string& file, const std::string& purpose);

// A symbol of a loaded module; nullptr when absent.
void* ModuleSymbol(void* handle, const char* name);

}  // namespace edgeflow
