#pragma once
// The catalogue of component types. Types are registered statically in
// registry.cpp (no dynamic plugins): adding a component is one line there.
#include <any>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/schema.h"
#include "engine/component.h"

namespace edgeflow {

enum class Kind { kSource, kProcessor, kSink };
const char* KindName(Kind k);

struct ComponentType {
  Kind kind;
  std::string name;
  std::string doc;
  // Built on first use: a configuration pays only for the types it uses.
  std::function<const config::SchemaBase&()> schema;
  // Parses the type-specific options (all keys but `common`). Never throws.
  std::function<std::any(const YAML::Node&, config::Diagnostics&, const std::set<std::string>& common)> parse;
  std::function<Result<std::unique_ptr<Source>>(const std::any&, const BuildContext&)> make_source;
  std::function<Result<std::unique_ptr<Processor>>(const std::any&, const BuildContext&)> make_processor;
  std::function<Result<std::unique_ptr<Sink>>(const std::any&, const BuildContext&)> make_sink;
  // Other components the options name besides `inputs` (checked with the
  // graph: each must exist and be of the given type).
  std::function<std::vector<ComponentReference>(const std::any&)> references;
};

const std::vector<ComponentType>& ComponentTypes();
// The CMake option that left a known source or sink type out of this build; "" otherwise.
std::string LeftOutOfBuild(Kind kind, const std::string& type);
const ComponentType* FindComponentType(Kind kind, const std::string& name);

template <class Cfg>
using SchemaFn = const config::Schema<Cfg>& (*)();

template <class Cfg>
std::function<std::any(const YAML::Node&, config::Diagnostics&, const std::set<std::string>&)> ParserFor(
    SchemaFn<Cfg> schema) {
  return [schema](const YAML::Node& n, config::Diagnostics& d, const std::set<std::string>& common) -> std::any {
    Cfg cfg{};
    schema().Parse(n, cfg, d, common);
    return cfg;
  };
}

// The parts every kind of component type has: name, doc, schema, parser.
template <class Cfg>
ComponentType TypeBase(Kind kind, std::string name, std::string doc, SchemaFn<Cfg> schema) {
  return ComponentType{kind, std::move(name), std::move(doc),
                       [schema]() -> const config::SchemaBase& { return schema(); }, ParserFor(schema), {}, {}, {}, {}};
}

template <class Impl, class Cfg>
ComponentType MakeSourceType(std::string name, std::string doc, SchemaFn<Cfg> schema) {
  ComponentType t = TypeBase(Kind::kSource, std::move(name), std::move(doc), schema);
  t.make_source = [](const std::any& a, const BuildContext& ctx) -> Result<std::unique_ptr<Source>> {
    return Impl::Create(std::any_cast<const Cfg&>(a), ctx);
  };
  return t;
}

template <class Impl, class Cfg>
ComponentType MakeProcessorType(std::string name, std::string doc, SchemaFn<Cfg> schema) {
  ComponentType t = TypeBase(Kind::kProcessor, std::move(name), std::move(doc), schema);
  t.make_processor = [](const std::any& a, const BuildContext& ctx) -> Result<std::unique_ptr<Processor>> {
    return Impl::Create(std::any_cast<const Cfg&>(a), ctx);
  };
  return t;
}

template <class Impl, class Cfg>
ComponentType MakeSinkType(std::string name, std::string doc, SchemaFn<Cfg> schema) {
  ComponentType t = TypeBase(Kind::kSink, std::move(name), std::move(doc), schema);
  t.make_sink = [](const std::any& a, const BuildContext& ctx) -> Result<std::unique_ptr<Sink>> {
    return Impl::Create(std::any_cast<const Cfg&>(a), ctx);
  };
  return t;
}

}  // namespace edgeflow
