#include "core/symbols.h"

namespace edgeflow {

SymbolTable& SymbolTable::Global() {
  static SymbolTable table;
  return table;
}

SymbolTable::SymbolTable() {
  names_.emplace_back();
  index_.emplace(std::string_view(names_.back()), kNoSymbol);
}

Symbol SymbolTable::Intern(std::string_view name) {
  {
    std::shared_lock lock(mu_);
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  names_.emplace_back(name);
  Symbol s = static_cast<Symbol>(names_.size() - 1);
  index_.emplace(std::string_view(names_.back()), s);
  return s;
}

std::string_view SymbolTable::Name(Symbol s) const {
  std::shared_lock lock(mu_);
  if (s >= names_.size()) return {};
  return names_[s];
}

size_t SymbolTable::size() const {
  std::shared_lock lock(mu_);
  return names_.size();
}

}  // namespace edgeflow
