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

// Per-thread front cache for sources that intern names per record. A
// direct-mapped table is tried first (one short hash, one compare, no lock:
// interned strings are immutable and never move), then a private hash map,
// and only then the shared table. With many sensors a scan of recent names
// would compare against each of them; the table compares once.
class SymbolCache {
 public:
  Symbol Get(std::string_view name) {
    Entry& e = slots_[SlotOf(name)];
    if (e.used && e.name.size() == name.size() &&
        std::char_traits<char>::compare(e.name.data(), name.data(), name.size()) == 0)
      return e.symbol;
    Symbol s;
    auto it = cache_.find(name);
    if (it != cache_.end()) {
      s = it->second;
    } else {
      s = Intern(name);
      cache_.emplace(std::string(name), s);
    }
    e = Entry{SymName(s), s, true};
    return s;
  }
  // As Get(), but a name this cache has not seen yet is interned only while
  // it holds fewer than `max` names; kNoSymbol otherwise.
  Symbol GetBounded(std::string_view name, size_t max) {
    if (cache_.size() >= max && !cache_.contains(name)) return kNoSymbol;
    return Get(name);
  }

 private:
  static constexpr size_t kSlots = 256;
  static size_t SlotOf(std::string_view name) {  // FNV-1a, folded
    uint64_t h = 14695981039346656037ull;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 32)) & (kSlots - 1);
  }
  struct Entry {
    std::string_view name;
    Symbol symbol = kNoSymbol;
    bool used = false;
  };
  Entry slots_[kSlots] = {};
  std::unordered_map<std::string, Symbol, StringHash, std::equal_to<>> cache_;
};

}  // namespace edgeflow
