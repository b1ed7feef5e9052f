#include "config/schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace edgeflow::config {

std::string FormatNumber(double v) {
  if (std::isnan(v)) return "unset";
  if (v == std::numeric_limits<double>::max() || v >= 9.2e18) return "inf";
  if (v == std::numeric_limits<double>::lowest() || v <= -9.2e18) return "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

static size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Suggest(const std::string& key, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = 3;
  for (const auto& n : names) {
    size_t d = EditDistance(key, n);
    // A key that is a prefix of a declared name ("retention" for "retention_secs").
    if (n.size() > key.size() && n.compare(0, key.size(), key) == 0 && key.size() >= 3) d = std::min<size_t>(d, 1);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best;
}

std::vector<std::string> SchemaBase::option_names() const {
  std::vector<std::string> out;
  for (const auto& d : docs_) out.push_back(d.name);
  return out;
}

void SchemaBase::Document(std::string& out, int heading_level) const {
  out += "| option | type | default | unit | description |\n|---|---|---|---|---|\n";
  for (const auto& o : docs_) {
    out += "| `" + o.name + "` | " + o.type + " | " + (o.required ? "**required**" : "`" + o.default_text + "`") +
           " | " + (o.unit.empty() ? "" : o.unit) + " | " + o.doc + " |\n";
  }
  out += "\n";
  for (const auto& o : docs_) {
    if (!o.sub) continue;
    out += std::string(static_cast<size_t>(heading_level), '#') + " " + o.sub->name() + "\n\n";
    if (!o.sub->doc().empty()) out += o.sub->doc() + "\n\n";
    o.sub->Document(out, heading_level + 1);
  }
}

}  // namespace edgeflow::config
