#pragma once
// Interned names. Sensor ids, metric names, rule names and component ids are
// stored once and referred to by a 32-bit Symbol on the hot path.
//
// Thread safety: all functions may be called from any thread. Intern() takes a
// lock; hot-path callers keep a SymbolCache to avoid it. Name() returns a view
// that stays valid for the life of the process (names are never removed).
#include <cstdint>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace edgeflow {

using Symbol = uint32_t;
inline constexpr Symbol kNoSymbol = 0;  // the empty name

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class SymbolTable {
 public:
  static SymbolTable& Global();
  SymbolTable();
  Symbol Intern(std::string_view name);
  std::string_view Name(Symbol s) const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::deque<std::string> names_;  // deque: element addresses are stable
  std::unordered_map<std::string_view, Symbol, StringHash, std::equal_to<>> index_;
};

inline Symbol Intern(std::string_view name) { return SymbolTable::Global().Intern(name); }
inline std::string_view SymName(Symbol s) { return SymbolTable::Global().Name(s); }

// Per-thread front cache for sources that intern names per record: a hit is a
// hash lookup without locking or allocation.
class SymbolCache {
 public:
  Symbol Get(std::string_view name) {
    if (name == last_name_) return last_;
    auto it = cache_.find(name);
    Symbol s;
    if (it != cache_.end()) {
      s = it->second;
    } else {
      s = Intern(name);
      cache_.emplace(std::string(name), s);
    }
    last_ = s;
    last_name_ = SymName(s);
    return s;
  }

 private:
  std::unordered_map<std::string, Symbol, StringHash, std::equal_to<>> cache_;
  Symbol last_ = kNoSymbol;
  std::string_view last_name_ = {};
};

}  // namespace edgeflow
