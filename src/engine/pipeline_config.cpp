#include "engine/pipeline_config.h"

#include "edgeflow/features.h"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <algorithm>
#include <cctype>
#include <sstream>

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const ComponentDecl* PipelineConfig::Find(const std::string& id) const {
  for (const auto& c : components)
    if (c.id == id) return &c;
  return nullptr;
}

namespace {

const Schema<NodeSection>& NodeSchema() {
  static const auto* s = [] {
    auto* s = new Schema<NodeSection>("node", "Settings of this edge node.");
    s->String("id", &NodeSection::id, "edgeflow", "Name of this node; used in logs and, later, in uplink topics.")
        .String("data_dir", &NodeSection::data_dir, "data",
                "Directory for the local store and other state. Relative paths are relative to the working directory.")
        .String("log_level", &NodeSection::log_level, "info", "One of trace, debug, info, warn, error.")
        .Check([](const NodeSection& n, const YAML::Node& node, Diagnostics& d) {
          static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
          if (!levels.count(n.log_level)) d.Error(node["log_level"], "'log_level' must be one of trace, debug, info, warn, error, off");
          if (!IsComponentId(n.id)) d.Error(node["id"], "'id' must be 1-64 characters of A-Z a-z 0-9 _ . -");
        });
    return s;
  }();
  return *s;
}

const Schema<QueueConfig>& QueueSchema() {
  static const auto* s = [] {
    auto* s = new Schema<QueueConfig>("queue", "Bounded queue in front of a sink or behind a source.");
    s->Number<int64_t>("capacity", &QueueConfig::capacity, 64, "batches", "Maximum number of batches held.", 1, 1'000'000)
        .Enum<WhenFull>("when_full", &QueueConfig::when_full, WhenFull::kBlock,
                        {{"block", WhenFull::kBlock}, {"drop_oldest", WhenFull::kDropOldest}, {"drop_newest", WhenFull::kDropNewest}},
                        "What happens when the queue is full: block the producer (back-pressure), or drop the oldest or the newest batch (counted).");
    return s;
  }();
  return *s;
}

const Schema<ComponentDecl>& CommonSchema(Kind kind) {
  static const auto make = [](Kind k) {
    auto* s = new Schema<ComponentDecl>(std::string(KindName(k)) + " (common options)",
                                        "Options every component of this role accepts.");
    s->String("id", &ComponentDecl::id, "", "Unique id of the component; other components name it in `inputs`.", true)
        .String("type", &ComponentDecl::type, "", "Component type (see below).", true);
    if (k != Kind::kSource) s->StringList("inputs", &ComponentDecl::inputs, "Ids of the sources or processors this one reads from.", true);
    if (k != Kind::kProcessor) s->Object("queue", &ComponentDecl::queue, QueueSchema(), "Queue settings.");
    if (k == Kind::kSource)
      s->Number<int64_t>("batch_size", &ComponentDecl::batch_size, 512, "readings", "Readings per batch handed to the engine.", 1, 65536);
    return s;
  };
  static const Schema<ComponentDecl>* src = make(Kind::kSource);
  static const Schema<ComponentDecl>* proc = make(Kind::kProcessor);
  static const Schema<ComponentDecl>* sink = make(Kind::kSink);
  return kind == Kind::kSource ? *src : kind == Kind::kProcessor ? *proc : *sink;
}

void ParseComponents(const YAML::Node& list, Kind kind, PipelineConfig* out, Diagnostics& d) {
  if (!list.IsSequence()) {
    d.Error(list, std::string("'") + KindName(kind) + "s' must be a list of components");
    return;
  }
  const auto& common = CommonSchema(kind);
  std::set<std::string> common_names;
  for (const auto& n : common.option_names()) common_names.insert(n);
  for (const auto& item : list) {
    ComponentDecl decl;
    decl.kind = kind;
    decl.loc = config::LocationOf(item);
    if (!item.IsMap()) {
      d.Error(item, std::string("each ") + KindName(kind) + " must be a mapping with 'id' and 'type'");
      continue;
    }
    std::set<std::string> others;
    for (auto it = item.begin(); it != item.end(); ++it)
      if (!common_names.count(it->first.Scalar())) others.insert(it->first.Scalar());
    common.Parse(item, decl, d, others);
    if (!decl.type.empty()) {
      decl.ctype = FindComponentType(kind, decl.type);
      if (!decl.ctype) {
        std::vector<std::string> names;
        std::string list_names;
        for (const auto& t : ComponentTypes()) {
          if (t.kind != kind) continue;
          names.push_back(t.name);
          list_names += (list_names.empty() ? "" : ", ") + t.name;
        }
        std::string msg = std::string("unknown ") + KindName(kind) + " type '" + decl.type + "' (known: " + list_names + ")";
        if (const std::string opt = LeftOutOfBuild(kind, decl.type); !opt.empty())
          msg = std::string(KindName(kind)) + " type '" + decl.type + "' is not in this build of edgeflow (built with " +
                opt + "=OFF)";
        d.Error(item["type"], msg);
      } else {
        decl.options = decl.ctype->parse(item, d, common_names);
      }
    }
    out->components.push_back(std::move(decl));
  }
}

}  // namespace

bool IsComponentId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

void CheckReferences(const PipelineConfig& cfg, config::Diagnostics& d) {
  std::map<std::string, const ComponentDecl*> by_id;
  for (const auto& c : cfg.components) by_id.emplace(c.id, &c);
  for (const auto& c : cfg.components) {
    if (!c.ctype || !c.ctype->references || !c.options.has_value()) continue;
    for (const auto& ref : c.ctype->references(c.options)) {
      auto it = by_id.find(ref.id);
      if (it == by_id.end())
        d.Error(c.loc, "'" + c.id + "': " + ref.what + " names " + ref.type + " '" + ref.id + "', which does not exist");
      else if (it->second->type != ref.type)
        d.Error(c.loc, "'" + c.id + "': " + ref.what + " names " + ref.type + " '" + ref.id + "', which is a " +
                           it->second->type);
    }
  }
}

namespace {

void CheckGraph(const YAML::Node& root, PipelineConfig* cfg, Diagnostics& d) {
  std::map<std::string, const ComponentDecl*> by_id;
  for (const auto& c : cfg->components) {
    if (c.id.empty()) continue;
    if (!IsComponentId(c.id)) {
      d.Error(c.loc, "component id '" + c.id + "' must be 1-64 characters of A-Z a-z 0-9 _ . -");
    }
    auto [it, inserted] = by_id.emplace(c.id, &c);
    if (!inserted) {
      d.Error(c.loc, "duplicate id '" + c.id + "' (first declared at line " + std::to_string(it->second->loc.line) + ")");
    }
  }
  // Locate each `inputs` entry for precise messages.
  auto input_node = [&](const ComponentDecl& c, size_t i) -> config::Location {
    for (const char* section : {"processors", "sinks"}) {
      const YAML::Node list = root[section];
      if (!list.IsSequence()) continue;
      for (const auto& item : list) {
        if (config::LocationOf(item).line != c.loc.line || config::LocationOf(item).col != c.loc.col) continue;
        YAML::Node in = item["inputs"];
        if (in.IsSequence() && i < in.size()) return config::LocationOf(in[i]);
        return config::LocationOf(in);
      }
    }
    return c.loc;
  };
  for (const auto& c : cfg->components) {
    std::set<std::string> seen;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const std::string& in = c.inputs[i];
      if (!seen.insert(in).second) {
        d.Error(input_node(c, i), "'" + c.id + "' lists input '" + in + "' twice");
        continue;
      }
      auto it = by_id.find(in);
      if (it == by_id.end()) {
        d.Error(input_node(c, i), "'" + c.id + "' reads from unknown component '" + in + "'");
      } else if (it->second->kind == Kind::kSink) {
        d.Error(input_node(c, i), "'" + c.id + "' reads from sink '" + in + "'; sinks produce no output");
      } else if (in == c.id) {
        d.Error(input_node(c, i), "'" + c.id + "' reads from itself");
      }
    }
  }
  CheckReferences(*cfg, d);
  // Cycles among processors: depth-first search with colours.
  std::map<std::string, int> colour;  // 0 white, 1 grey, 2 black
  std::set<std::string> reported;
  std::function<void(const ComponentDecl&, std::vector<std::string>&)> visit =
      [&](const ComponentDecl& c, std::vector<std::string>& path) {
        colour[c.id] = 1;
        path.push_back(c.id);
        for (const auto& in : c.inputs) {
          auto it = by_id.find(in);
          if (it == by_id.end() || it->second->kind != Kind::kProcessor || in == c.id) continue;
          if (colour[in] == 1) {
            std::string cycle;
            bool on = false;
            for (const auto& p : path) {
              if (p == in) on = true;
              if (on) cycle += p + " <- ";
            }
            cycle += in;
            if (reported.insert(in).second) d.Error(c.loc, "cycle in pipeline: " + cycle);
          } else if (colour[in] == 0) {
            visit(*it->second, path);
          }
        }
        path.pop_back();
        colour[c.id] = 2;
      };
  for (const auto& c : cfg->components) {
    if (c.kind == Kind::kProcessor && colour[c.id] == 0) {
      std::vector<std::string> path;
      visit(c, path);
    }
  }
  bool has_source = false, has_sink = false;
  for (const auto& c : cfg->components) {
    has_source |= c.kind == Kind::kSource;
    has_sink |= c.kind == Kind::kSink;
  }
  if (!has_source) d.Error(root, "the pipeline has no sources");
  if (!has_sink) d.Error(root, "the pipeline has no sinks");
}

}  // namespace

std::string ExpandEnvironment(const std::string& text, Diagnostics& d) {
  std::string out;
  out.reserve(text.size());
  int line = 1, col = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '$' && i + 1 < text.size() && text[i + 1] == '$') {  // "$$" is a literal '$'
      out += '$';
      ++i;
      col += 2;
      continue;
    }
    if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const size_t close = text.find('}', i + 2);
      const size_t nl = text.find('\n', i);
      if (close == std::string::npos || (nl != std::string::npos && nl < close)) {
        d.Error(config::Location{line, col}, "unterminated '${' in configuration");
        out += c;
        ++col;
        continue;
      }
      std::string expr = text.substr(i + 2, close - i - 2);
      std::string name = expr, fallback;
      bool has_fallback = false;
      if (size_t dash = expr.find(":-"); dash != std::string::npos) {
        name = expr.substr(0, dash);
        fallback = expr.substr(dash + 2);
        has_fallback = true;
      }
      const auto name_char = [](char c, bool first) {
        return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
      };
      bool valid = !name.empty();
      for (size_t k = 0; k < name.size() && valid; ++k) valid = name_char(name[k], k == 0);
      if (!valid) {
        d.Error(config::Location{line, col}, "invalid environment variable name '" + name + "' in '${" + expr + "}'");
      } else if (const char* v = std::getenv(name.c_str()); v && *v) {
        out += v;
      } else if (has_fallback) {
        out += fallback;
      } else {
        d.Error(config::Location{line, col}, "environment variable '" + name + "' is not set (use ${" + name +
                                                 ":-default} for a default)");
      }
      col += static_cast<int>(close - i + 1);
      i = close;
      continue;
    }
    out += c;
    if (c == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return out;
}

bool ParsePipelineConfig(const std::string& raw_text, PipelineConfig* out, Diagnostics& d) {
  size_t before = d.size();
  const std::string text = ExpandEnvironment(raw_text, d);
  YAML::Node root;
  if (!config::LoadYaml(text, &root, d)) return false;
  out->file = d.file();
  if (!root.IsMap()) {
    d.Error(root, "the configuration must be a mapping with 'sources', 'processors' and 'sinks'");
    return false;
  }
  static const std::vector<std::string> top = {"node", "api", "remote", "sources", "processors", "sinks"};
  std::set<std::string> seen;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (!seen.insert(key).second) {
      d.Error(it->first, "duplicate key '" + key + "'");
      continue;
    }
    if (std::find(top.begin(), top.end(), key) == top.end()) {
      std::string msg = "unknown top-level key '" + key + "'";
      std::string s = config::Suggest(key, top);
      if (!s.empty()) msg += " (did you mean '" + s + "'?)";
      d.Error(it->first, msg);
    }
  }
  if (root["node"]) NodeSchema().Parse(root["node"], out->node, d);
  else NodeSchema().SetDefaults(out->node);
  if (root["api"]) {
    if (!EDGEFLOW_WITH_API)
      d.Error(root["api"], "this build of edgeflow has no REST API (built with EDGEFLOW_WITH_API=OFF)");
    ApiSchema().Parse(root["api"], out->api, d);
  } else {
    ApiSchema().SetDefaults(out->api);
    out->api.enabled = false;
  }
  if (root["remote"]) {
    RemoteSchema().Parse(root["remote"], out->remote, d);
  } else {
    RemoteSchema().SetDefaults(out->remote);
    out->remote.enabled = false;
  }
  if (root["sources"]) ParseComponents(root["sources"], Kind::kSource, out, d);
  if (root["processors"] && !root["processors"].IsNull()) ParseComponents(root["processors"], Kind::kProcessor, out, d);
  if (root["sinks"]) ParseComponents(root["sinks"], Kind::kSink, out, d);
  CheckGraph(root, out, d);
  return d.size() == before;
}

bool LoadPipelineConfig(const std::string& path, PipelineConfig* out, Diagnostics& d) {
  std::ifstream in(path);
  if (!in) {
    d.Error(config::Location{}, "cannot open configuration file");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParsePipelineConfig(ss.str(), out, d);
}

std::string ConfigurationReference() {
  std::string out;
  out += "# Configuration reference\n\n";
  out += "<!-- Generated by `edgeflow docs` from the option declarations in src/. Do not edit by hand;\n";
  out += "     `make docs` regenerates it and `make test` fails when it is out of date. -->\n\n";
  out += "An edgeflow configuration is one YAML file with the top-level keys `node`, `api` and `remote`\n";
  out += "(optional),\n";
  out += "`sources`, `processors` and `sinks`. Components form a graph: every processor and sink names the\n";
  out += "components it reads from in `inputs`. `edgeflow check FILE` validates a file and lists every\n";
  out += "error as `FILE:LINE:COL: message`; unknown keys are errors. Durations are in seconds and\n";
  out += "carry the unit in their name (`_secs`).\n\n";
  out += "`${NAME}` anywhere in the file is replaced by the environment variable NAME (an error when it is\n";
  out += "unset or empty), `${NAME:-default}` falls back to `default`, and `$$` is a literal `$`.\n\n";
  out += "## node\n\n" + NodeSchema().doc() + "\n\n";
  NodeSchema().Document(out, 3);
  out += "## api\n\n" + ApiSchema().doc() + " Routes and their answers: `docs/api/openapi.yaml`.\n\n";
  ApiSchema().Document(out, 3);
  out += "## remote\n\n" + RemoteSchema().doc() +
         " Command format, authentication and replies: `src/api/remote_control.h` and `docs/outbox.md`.\n\n";
  RemoteSchema().Document(out, 3);
  for (Kind k : {Kind::kSource, Kind::kProcessor, Kind::kSink}) {
    out += std::string("## ") + KindName(k) + "s\n\n";
    out += "### Common options\n\n";
    CommonSchema(k).Document(out, 4);
    for (const auto& t : ComponentTypes()) {
      if (t.kind != k) continue;
      out += "### " + std::string(KindName(k)) + " `" + t.name + "`\n\n" + t.doc + "\n\n";
      t.schema().Document(out, 4);
    }
  }
  return out;
}

}  // namespace edgeflow
