#pragma once
// Config diagnostics: every problem found is collected with its location, so
// `edgeflow check` reports all of them at once as FILE:LINE:COL: message.
#include <string>
#include <vector>

namespace YAML { class Node; }

namespace edgeflow::config {

struct Location {
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;
};
Location LocationOf(const YAML::Node& node);

struct Diagnostic {
  Location loc;
  std::string message;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file = "<config>") : file_(std::move(file)) {}
  void Error(Location loc, std::string message);
  void Error(const YAML::Node& at, std::string message);
  bool ok() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  const std::vector<Diagnostic>& errors() const { return errors_; }
  const std::string& file() const { return file_; }
  // One line per error, ordered by position: "FILE:LINE:COL: message".
  std::string Format() const;

 private:
  std::string file_;
  std::vector<Diagnostic> errors_;
};

// Parses `text` as YAML into *out; a syntax error is reported at its line and
// column as "<prefix>: <what yaml-cpp says>" and gives false.
bool LoadYaml(const std::string& text, YAML::Node* out, Diagnostics& d, const char* prefix = "YAML syntax error");

// LoadYaml for documents from the network (API and remote bodies): anchors and
// aliases are refused. An alias shares a node, which the configuration then
// copies wherever it is used: a 1 MB body of a long list, used by 15,000
// rules, becomes billions of strings.
bool LoadUntrustedYaml(const std::string& text, YAML::Node* out, Diagnostics& d, const char* prefix = "YAML syntax error");

}  // namespace edgeflow::config
