#pragma once
// Options are declared once: name, type, default, unit, documentation and
// validation live in one Schema entry bound to a field of the config struct.
// From that declaration come the parser, unknown-key errors, range checks and
// the generated reference in docs/configuration.md.
//
// Parsing never stops at the first problem: every error is added to the
// Diagnostics with the location of the offending YAML node.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/diagnostics.h"

namespace edgeflow::config {

std::string FormatNumber(double v);
// Closest declared name within edit distance 2, or "".
std::string Suggest(const std::string& key, const std::vector<std::string>& names);

class SchemaBase {
 public:
  struct OptionDoc {
    std::string name;
    std::string type;
    std::string default_text;
    std::string unit;
    std::string doc;
    bool required = false;
    const SchemaBase* sub = nullptr;
  };
  SchemaBase(std::string name, std::string doc) : name_(std::move(name)), doc_(std::move(doc)) {}
  virtual ~SchemaBase() = default;
  const std::string& name() const { return name_; }
  const std::string& doc() const { return doc_; }
  const std::vector<OptionDoc>& options() const { return docs_; }
  std::vector<std::string> option_names() const;
  // Markdown table of the options, followed by sections for nested schemas.
  void Document(std::string& out, int heading_level) const;

 protected:
  std::string name_;
  std::string doc_;
  std::vector<OptionDoc> docs_;
};

template <class T>
class Schema : public SchemaBase {
 public:
  using ParseFn = std::function<void(const YAML::Node& value, T& out, Diagnostics& d)>;
  using DefaultFn = std::function<void(T& out)>;
  using CheckFn = std::function<void(const T& cfg, const YAML::Node& node, Diagnostics& d)>;

  Schema(std::string name, std::string doc) : SchemaBase(std::move(name), std::move(doc)) {}

  template <class F>
  Schema& Number(const char* name, F T::*m, F def, const char* unit, const char* doc,
                 F min = std::numeric_limits<F>::lowest(), F max = std::numeric_limits<F>::max()) {
    static_assert(std::is_arithmetic_v<F>);
    std::string type = std::is_integral_v<F> ? "integer" : "number";
    std::string range;
    if (min != std::numeric_limits<F>::lowest() || max != std::numeric_limits<F>::max()) {
      range = " Range: " + (min == std::numeric_limits<F>::lowest() ? std::string("-inf") : FormatNumber(double(min))) +
              " to " + (max == std::numeric_limits<F>::max() ? std::string("inf") : FormatNumber(double(max))) + ".";
    }
    Add({name, type, FormatNumber(double(def)), unit, std::string(doc) + range, false, nullptr},
        [m, def](T& o) { o.*m = def; },
        [m, min, max, name = std::string(name)](const YAML::Node& v, T& o, Diagnostics& d) {
          F parsed{};
          if (!ParseNumber(v, &parsed)) {
            d.Error(v, "'" + name + "' must be " + (std::is_integral_v<F> ? "an integer" : "a number") +
                           ", got " + Describe(v));
            return;
          }
          if (parsed < min || parsed > max) {
            d.Error(v, "'" + name + "' = " + FormatNumber(double(parsed)) + " is out of range [" +
                           FormatNumber(double(min)) + ", " + FormatNumber(double(max)) + "]");
            return;
          }
          o.*m = parsed;
        });
    return *this;
  }

  Schema& Bool(const char* name, bool T::*m, bool def, const char* doc) {
    Add({name, "boolean", def ? "true" : "false", "", doc, false, nullptr}, [m, def](T& o) { o.*m = def; },
        [m, name = std::string(name)](const YAML::Node& v, T& o, Diagnostics& d) {
          bool b = false;
          if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
            d.Error(v, "'" + name + "' must be true or false, got " + Describe(v));
            return;
          }
          o.*m = b;
        });
    return *this;
  }

  Schema& String(const char* name, std::string T::*m, std::string def, const char* doc, bool required = false) {
    Add({name, "string", required ? "" : (def.empty() ? "\"\"" : def), "", doc, required, nullptr},
        [m, def](T& o) { o.*m = def; },
        [m, name = std::string(name)](const YAML::Node& v, T& o, Diagnostics& d) {
          if (!v.IsScalar()) {
            d.Error(v, "'" + name + "' must be a string, got " + Describe(v));
            return;
          }
          o.*m = v.Scalar();
        });
    return *this;
  }

  template <class E>
  Schema& Enum(const char* name, E T::*m, E def, std::vector<std::pair<std::string, E>> values, const char* doc) {
    std::string choices, def_name;
    for (auto& [n, e] : values) {
      choices += (choices.empty() ? "" : ", ") + n;
      if (e == def) def_name = n;
    }
    Add({name, "one of: " + choices, def_name, "", doc, false, nullptr}, [m, def](T& o) { o.*m = def; },
        [m, values, choices, name = std::string(name)](const YAML::Node& v, T& o, Diagnostics& d) {
          if (v.IsScalar()) {
            for (auto& [n, e] : values) {
              if (v.Scalar() == n) {
                o.*m = e;
                return;
              }
            }
          }
          d.Error(v, "'" + name + "' must be one of " + choices + ", got " + Describe(v));
        });
    return *this;
  }

  Schema& StringList(const char* name, std::vector<std::string> T::*m, const char* doc, bool required = false) {
    Add({name, "list of strings", required ? "" : "[]", "", doc, required, nullptr}, [m](T& o) { (o.*m).clear(); },
        [m, name = std::string(name)](const YAML::Node& v, T& o, Diagnostics& d) {
          if (v.IsScalar()) {  // a single string is accepted as a one-element list
            (o.*m).push_back(v.Scalar());
            return;
          }
          if (!v.IsSequence()) {
            d.Error(v, "'" + name + "' must be a list of strings, got " + Describe(v));
            return;
          }
          for (const auto& item : v) {
            if (!item.IsScalar()) {
              d.Error(item, "items of '" + name + "' must be strings, got " + Describe(item));
              continue;
            }
            (o.*m).push_back(item.Scalar());
          }
        });
    return *this;
  }

  template <class E>
  Schema& ObjectList(const char* name, std::vector<E> T::*m, const Schema<E>& sub, const char* doc,
                     bool required = false) {
    Add({name, "list of " + sub.name(), required ? "" : "[]", "", doc, required, &sub},
        [m](T& o) { (o.*m).clear(); },
        [m, &sub, name = std::string(name)](const YAML::Node& v, T& o, Diagnostics& d) {
          if (!v.IsSequence()) {
            d.Error(v, "'" + name + "' must be a list, got " + Describe(v));
            return;
          }
          for (const auto& item : v) {
            E e{};
            sub.Parse(item, e, d);
            (o.*m).push_back(std::move(e));
          }
        });
    return *this;
  }

  template <class E>
  Schema& Object(const char* name, E T::*m, const Schema<E>& sub, const char* doc) {
    Add({name, sub.name(), "(defaults)", "", doc, false, &sub},
        [m, &sub](T& o) { sub.SetDefaults(o.*m); },
        [m, &sub](const YAML::Node& v, T& o, Diagnostics& d) { sub.Parse(v, o.*m, d); });
    return *this;
  }

  // Cross-field validation, run after all fields parsed. `node` is the mapping.
  Schema& Check(CheckFn fn) {
    checks_.push_back(std::move(fn));
    return *this;
  }

  void SetDefaults(T& out) const {
    for (const auto& o : opts_) o.set_default(out);
  }

  // Parses `node` (a mapping) into `out`. Keys listed in `ignore` are handled
  // by the caller. Returns true when no error was added.
  bool Parse(const YAML::Node& node, T& out, Diagnostics& d, const std::set<std::string>& ignore = {}) const {
    size_t before = d.size();
    SetDefaults(out);
    if (!node.IsMap()) {
      d.Error(node, name_ + " must be a mapping of options, got " + Describe(node));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        d.Error(it->first, "duplicate key '" + key + "'");
        continue;
      }
      if (ignore.count(key)) continue;
      const Opt* opt = Find(key);
      if (!opt) {
        std::string msg = "unknown key '" + key + "' in " + name_;
        std::string s = Suggest(key, option_names());
        if (!s.empty()) msg += " (did you mean '" + s + "'?)";
        d.Error(it->first, msg);
        continue;
      }
      opt->parse(it->second, out, d);
    }
    for (const auto& o : opts_) {
      if (o.required && !seen.count(o.name)) d.Error(node, name_ + ": missing required key '" + o.name + "'");
    }
    if (d.size() == before) {
      for (const auto& c : checks_) c(out, node, d);
    } else if (!checks_.empty()) {
      // Fields with errors kept their defaults. The checks still run, so that
      // every independent problem is reported at once, but what they say about
      // a place already reported (a value that did not parse) or about a key
      // that is not there is dropped.
      Diagnostics extra(d.file());
      for (const auto& c : checks_) c(out, node, extra);
      std::set<std::pair<int, int>> reported;
      for (size_t i = before; i < d.size(); ++i) reported.insert({d.errors()[i].loc.line, d.errors()[i].loc.col});
      for (const auto& e : extra.errors())
        if (e.loc.line > 0 && !reported.count({e.loc.line, e.loc.col})) d.Error(e.loc, e.message);
    }
    return d.size() == before;
  }

  static std::string Describe(const YAML::Node& v) {
    if (!v.IsDefined() || v.IsNull()) return "nothing";
    if (v.IsSequence()) return "a list";
    if (v.IsMap()) return "a mapping";
    return "'" + v.Scalar() + "'";
  }

 private:
  struct Opt {
    std::string name;
    bool required;
    DefaultFn set_default;
    ParseFn parse;
  };

  template <class F>
  static bool ParseNumber(const YAML::Node& v, F* out) {
    if (!v.IsScalar()) return false;
    const std::string& s = v.Scalar();
    if (s.empty()) return false;
    if constexpr (std::is_integral_v<F>) {
      long long x = 0;
      size_t pos = 0;
      try {
        x = std::stoll(s, &pos, 10);
      } catch (...) {
        return false;
      }
      if (pos != s.size()) return false;
      *out = static_cast<F>(x);
    } else {
      double x = 0;
      size_t pos = 0;
      try {
        x = std::stod(s, &pos);
      } catch (...) {
        return false;
      }
      if (pos != s.size() || !std::isfinite(x)) return false;
      *out = static_cast<F>(x);
    }
    return true;
  }

  const Opt* Find(const std::string& key) const {
    for (const auto& o : opts_)
      if (o.name == key) return &o;
    return nullptr;
  }

  void Add(OptionDoc doc, DefaultFn def, ParseFn parse) {
    opts_.push_back({doc.name, doc.required, std::move(def), std::move(parse)});
    docs_.push_back(std::move(doc));
  }

  std::vector<Opt> opts_;
  std::vector<CheckFn> checks_;
};

}  // namespace edgeflow::config
