#include "core/symbols.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace edgeflow {
namespace {

// The cache gives the shared table's symbol for every name, also when many
// names share a slot of its direct-mapped front (1000 names, 256 slots).
TEST(SymbolCache, AgreesWithTheSharedTableAcrossCollidingNames) {
  SymbolCache cache;
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("cache-test-sensor-" + std::to_string(i));
  for (int round = 0; round < 3; ++round) {
    for (const auto& n : names) {
      const Symbol s = cache.Get(n);
      ASSERT_EQ(s, Intern(n)) << n;
      ASSERT_EQ(SymName(s), n);
    }
  }
  // Names that differ only in length or in the last character stay apart.
  EXPECT_NE(cache.Get("a"), cache.Get("aa"));
  EXPECT_NE(cache.Get("ab"), cache.Get("ac"));
  EXPECT_EQ(cache.Get("ab"), Intern("ab"));
}

}  // namespace
}  // namespace edgeflow
