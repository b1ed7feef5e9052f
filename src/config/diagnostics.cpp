#include "config/diagnostics.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <sstream>

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

namespace {
// Finds the first anchor or alias of a document (yaml-cpp's events).
class AnchorFinder final : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> found;
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t a) override { Check(m, a); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Check(m, 1); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t a, const std::string&) override { Check(m, a); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a, YAML::EmitterStyle::value) override {
    Check(m, a);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a, YAML::EmitterStyle::value) override {
    Check(m, a);
  }
  void OnMapEnd() override {}

 private:
  void Check(const YAML::Mark& m, YAML::anchor_t a) {
    if (a != YAML::NullAnchor && !found) found = m;
  }
};
}  // namespace

bool LoadUntrustedYaml(const std::string& text, YAML::Node* out, Diagnostics& d, const char* prefix) {
  AnchorFinder finder;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    while (!finder.found && parser.HandleNextDocument(finder)) {
    }
  } catch (const YAML::ParserException& e) {
    d.Error(Location{e.mark.line + 1, e.mark.column + 1}, std::string(prefix) + ": " + e.msg);
    return false;
  }
  if (finder.found) {
    d.Error(Location{finder.found->line + 1, finder.found->column + 1},
            "anchors and aliases (& and *) are not accepted here: write the values out");
    return false;
  }
  return LoadYaml(text, out, d, prefix);
}

}  // namespace edgeflow::config
