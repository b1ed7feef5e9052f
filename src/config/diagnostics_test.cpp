#include "config/diagnostics.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace edgeflow::config {
namespace {

TEST(UntrustedYaml, AnchorsAndAliasesAreRefusedWithTheirPlace) {
  YAML::Node n;
  Diagnostics d("request");
  EXPECT_FALSE(LoadUntrustedYaml("list: &L [a, b, c]\nrules:\n  - {id: x, sensors: *L}\n", &n, d));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d.Format(), "request:1:7: anchors and aliases (& and *) are not accepted here: write the values out\n");
  // An alias alone (its anchor in a later document is no excuse).
  Diagnostics d2("request");
  EXPECT_FALSE(LoadUntrustedYaml("a: 1\nb: *nowhere\n", &n, d2));
  EXPECT_EQ(d2.size(), 1u) << d2.Format();
}

TEST(UntrustedYaml, PlainDocumentsAndJsonLoad) {
  YAML::Node n;
  Diagnostics d("request");
  ASSERT_TRUE(LoadUntrustedYaml(R"({"hot": [{"id": "a", "when": "value > 1 && value * 2 < 9"}]})", &n, d)) << d.Format();
  EXPECT_EQ(n["hot"][0]["when"].as<std::string>(), "value > 1 && value * 2 < 9") << "& and * inside strings are text";
  ASSERT_TRUE(LoadUntrustedYaml("hot:\n  - id: a\n    when: value > 1\n", &n, d)) << d.Format();
  EXPECT_EQ(d.size(), 0u);
}

TEST(UntrustedYaml, SyntaxErrorsKeepTheirPlace) {
  YAML::Node n;
  Diagnostics d("request");
  EXPECT_FALSE(LoadUntrustedYaml("a: [1, 2\nb: 3\n", &n, d));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d.Format().find("YAML syntax error"), std::string::npos) << d.Format();
}

}  // namespace
}  // namespace edgeflow::config
