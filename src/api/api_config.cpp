#include "api/api_config.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<ApiConfig>& ApiSchema() {
  static const auto* s = [] {
    auto* s = new Schema<ApiConfig>("api", "The local REST API. Present in the file: enabled unless `enabled: false`.");
    s->Bool("enabled", &ApiConfig::enabled, true, "Serve the API.")
        .String("listen", &ApiConfig::listen, "127.0.0.1", "Address to bind; the default accepts local clients only.")
        .Number<int64_t>("port", &ApiConfig::port, 8080, "", "TCP port; 0 picks a free one (logged).", 0, 65535)
        .String("token_file", &ApiConfig::token_file, "",
                "File with the bearer token; empty: `<node.data_dir>/api-token`, created (mode 0600) at first start.")
        .String("tls_cert", &ApiConfig::tls_cert, "", "Certificate (PEM) to serve HTTPS; with `tls_key`.")
        .String("tls_key", &ApiConfig::tls_key, "", "Private key (PEM) for HTTPS.")
        .Number<int64_t>("max_body_bytes", &ApiConfig::max_body_bytes, 1 << 20, "bytes",
                         "Larger request bodies are refused with 413.", 1024, 256 << 20)
        .Number<double>("timeout_secs", &ApiConfig::timeout_secs, 10, "s", "Read and write timeout per request.", 0.1, 3600)
        .Number<int64_t>("auth_failures_per_minute", &ApiConfig::auth_failures_per_minute, 10, "",
                         "Failed authentications per client address and minute before 429.", 1, 1000000)
        .Bool("read_only", &ApiConfig::read_only, false, "Refuse changes (PUT, POST) with 403.")
        .Check([](const ApiConfig& c, const YAML::Node& n, Diagnostics& d) {
          if (c.tls_cert.empty() != c.tls_key.empty()) d.Error(n, "api: 'tls_cert' and 'tls_key' go together");
        });
    return s;
  }();
  return *s;
}

}  // namespace edgeflow
