#pragma once
// The top-level configuration file: node settings and the component graph.
//
//   node:       { id, data_dir, log_level }
//   api:        { listen, port, token_file, ... }   (optional: the REST API)
//   remote:     { broker, topic_prefix, key_file }  (optional: commands from the cloud)
//   sources:    [ { id, type, queue, batch_size, <type options> } ]
//   processors: [ { id, type, inputs, <type options> } ]
//   sinks:      [ { id, type, inputs, queue, <type options> } ]
//
// Loading validates everything (syntax, keys, types, ranges, ids, inputs,
// cycles) without side effects and reports every error with its location.
#include <any>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_config.h"
#include "api/remote_control.h"
#include "config/diagnostics.h"
#include "config/schema.h"
#include "core/queue.h"
#include "engine/registry.h"

namespace edgeflow {

struct QueueConfig {
  int64_t capacity = 64;
  WhenFull when_full = WhenFull::kBlock;
};

struct NodeSection {
  std::string id;
  std::string data_dir;
  std::string log_level;
};

struct ComponentDecl {
  Kind kind = Kind::kSource;
  std::string id;
  std::string type;
  std::vector<std::string> inputs;
  QueueConfig queue;
  int64_t batch_size = 512;
  const ComponentType* ctype = nullptr;
  std::any options;  // the type's parsed config struct
  config::Location loc;
};

struct PipelineConfig {
  std::string file;
  NodeSection node;
  ApiConfig api;  // api.enabled is false when the file has no `api:` section
  RemoteConfig remote;  // likewise for `remote:`
  std::vector<ComponentDecl> components;  // sources, then processors, then sinks; order kept

  const ComponentDecl* Find(const std::string& id) const;
};

// Replaces ${NAME} and ${NAME:-default} with environment variables; `$$` is a literal '$'.
std::string ExpandEnvironment(const std::string& text, config::Diagnostics& diag);

// Parses and validates (after ExpandEnvironment). Returns true when the config is valid; all problems
// are in `diag` otherwise.
bool ParsePipelineConfig(const std::string& yaml_text, PipelineConfig* out, config::Diagnostics& diag);
bool LoadPipelineConfig(const std::string& path, PipelineConfig* out, config::Diagnostics& diag);
// The components that options name besides `inputs` (a rule's `window:`)
// exist and are of the right type; part of parsing, and of every rules change.
void CheckReferences(const PipelineConfig& cfg, config::Diagnostics& diag);

// The configuration reference (docs/configuration.md), generated from the declarations.
std::string ConfigurationReference();

// A component or node id: 1-64 characters of A-Z a-z 0-9 _ . -
bool IsComponentId(std::string_view id);

}  // namespace edgeflow
