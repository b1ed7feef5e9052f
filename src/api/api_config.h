#pragma once
// The `api:` section of the configuration (kept apart from the server so the
// configuration loader does not depend on the HTTP library).
#include <string>

#include "config/schema.h"

namespace edgeflow {

struct ApiConfig {
  bool enabled = false;
  std::string listen;
  int64_t port = 8080;
  std::string token_file;
  std::string tls_cert;
  std::string tls_key;
  int64_t max_body_bytes = 1 << 20;
  double timeout_secs = 10;
  int64_t auth_failures_per_minute = 10;
  bool read_only = false;
};
const config::Schema<ApiConfig>& ApiSchema();

}  // namespace edgeflow
