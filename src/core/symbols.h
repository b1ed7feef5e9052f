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

// Per-thread front cache for sources that intern names per record. A small
// most-recently-used array is scanned first (no hashing, no lock: interned
// strings are immutable and never move), then a private hash map, and only
// then the shared table.
class SymbolCache {
 public:
  Symbol Get(std::string_view name) {
    for (size_t i = 0; i < recent_size_; ++i) {
      const Entry& e = recent_[i];
      if (e.name.size() == name.size() && std::char_traits<char>::compare(e.name.data(), name.data(), name.size()) == 0)
        return e.symbol;
    }
    Symbol s;
    auto it = cache_.find(name);
    if (it != cache_.end()) {
      s = it->second;
    } else {
      s = Intern(name);
      cache_.emplace(std::string(name), s);
    }
    recent_[next_] = Entry{SymName(s), s};
    next_ = (next_ + 1) % kRecent;
    if (recent_size_ < kRecent) ++recent_size_;
    return s;
  }

 private:
  static constexpr size_t kRecent = 16;
  struct Entry {
    std::string_view name;
    Symbol symbol;
  };
  Entry recent_[kRecent] = {};
  size_t recent_size_ = 0;
  size_t next_ = 0;
  std::unordered_map<std::string, Symbol, StringHash, std::equal_to<>> cache_;
};

}  // namespace edgeflow
