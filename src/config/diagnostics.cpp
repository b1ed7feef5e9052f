#include "config/diagnostics.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace edgeflow::config {

Location LocationOf(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  YAML::Mark m = node.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

void Diagnostics::Error(Location loc, std::string message) {
  errors_.push_back({loc, std::move(message)});
}

void Diagnostics::Error(const YAML::Node& at, std::string message) {
  Error(LocationOf(at), std::move(message));
}

std::string Diagnostics::Format() const {
  std::vector<Diagnostic> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.loc.line != b.loc.line ? a.loc.line < b.loc.line : a.loc.col < b.loc.col;
  });
  std::string out;
  for (const auto& d : sorted) {
    out += file_ + ":" + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.col) + ": " + d.message + "\n";
  }
  return out;
}

bool LoadYaml(const std::string& text, YAML::Node* out, Diagnostics& d, const char* prefix) {
  try {
    *out = YAML::Load(text);
    return true;
  } catch (const YAML::ParserException& e) {
    d.Error(Location{e.mark.line + 1, e.mark.column + 1}, std::string(prefix) + ": " + e.msg);
    return false;
  }
}

}  // namespace edgeflow::config
