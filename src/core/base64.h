#pragma once
// Standard base64 (RFC 4648, with padding), for binary payloads carried in
// JSON (model files in deployments).
#include <string>

namespace edgeflow {

std::string Base64Encode(const std::string& bytes);
// Whitespace is ignored; false when `text` is not base64.
bool Base64Decode(const std::string& text, std::string* out);

}  // namespace edgeflow
