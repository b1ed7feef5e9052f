#include "sources/mqtt_source.h"

#include <gtest/gtest.h>

#include "core/testing.h"
#include "sinks/mqtt_sink.h"

namespace edgeflow {
namespace {

MqttSourceConfig Cfg(const std::string& map = "sensors/{sensor}/{metric}") {
  MqttSourceConfig c;
  MqttSourceSchema().SetDefaults(c);
  c.topic_map = map;
  return c;
}

struct Decoded {
  Batch batch;
  std::vector<std::string> reasons() const {
    std::vector<std::string> r;
    for (auto& d : batch.dead_letters) r.push_back(d.reason);
    return r;
  }
};

Decoded DecodeAll(PayloadDecoder& d, const std::vector<std::pair<std::string, std::string>>& msgs) {
  Decoded out;
  uint64_t seq = 0;
  for (auto& [topic, payload] : msgs) d.Decode(topic, payload.data(), payload.size(), testing::kT0, &seq, out.batch);
  return out;
}

TEST(TopicMap, MatchesLevels) {
  auto m = TopicMap::Compile("site/+/{sensor}/{metric}");
  ASSERT_TRUE(m.ok());
  std::string_view s, k;
  EXPECT_TRUE(m->Match("site/a/t1/temp", &s, &k));
  EXPECT_EQ(s, "t1");
  EXPECT_EQ(k, "temp");
  EXPECT_FALSE(m->Match("site/a/t1", &s, &k));
  EXPECT_FALSE(m->Match("site/a/t1/temp/x", &s, &k));
  EXPECT_FALSE(m->Match("other/a/t1/temp", &s, &k));
  auto rest = TopicMap::Compile("dev/{sensor}/#");
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->Match("dev/x/a/b/c", &s, &k));
  EXPECT_EQ(s, "x");
  EXPECT_FALSE(TopicMap::Compile("a/{sensor}x").ok());
  EXPECT_FALSE(TopicMap::Compile("a/#/b").ok());
}

TEST(PayloadDecoder, ObjectsArraysAndNumbers) {
  auto d = PayloadDecoder::Create(Cfg(), Intern("mq"));
  ASSERT_TRUE(d.ok());
  auto out = DecodeAll(*d, {{"sensors/T1/temperature", R"({"sensor":"T1","seq":17,"ts":1767225600123456,"value":25.07})"},
                      {"sensors/T2/temperature", R"([{"value":1,"ts":"2026-01-01T00:00:01Z"},{"value":2,"quality":"bad"}])"},
                      {"sensors/T3/humidity", " 41.5 \n"},
                      {"sensors/T4/door", R"({"value":true})"}});
  ASSERT_EQ(out.batch.readings.size(), 5u) << testing::kT0;
  const auto& r = out.batch.readings;
  EXPECT_EQ(r[0].sensor, Intern("T1"));
  EXPECT_EQ(r[0].metric, Intern("temperature"));
  EXPECT_EQ(r[0].ts, 1767225600123456);
  EXPECT_EQ(r[0].value, 25.07);
  EXPECT_EQ(r[1].ts, 1767225601LL * kUsPerSec);
  EXPECT_EQ(r[2].ts, testing::kT0) << "no timestamp: time of receipt";
  EXPECT_EQ(r[2].quality, Quality::kBad);
  EXPECT_EQ(r[3].value, 41.5);
  EXPECT_EQ(r[3].metric, Intern("humidity"));
  EXPECT_EQ(r[4].value, 1);
  for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i].seq, i + 1);
}

TEST(PayloadDecoder, SensorAndMetricFromPayloadWithNestedFields) {
  MqttSourceConfig c = Cfg("");
  c.value_field = "data.temp";
  c.ts_field = "data.time";
  auto d = PayloadDecoder::Create(c, Intern("mq"));
  auto out = DecodeAll(*d, {{"any/topic", R"({"sensor":"boiler","metric":"temp","data":{"temp":71.5,"time":1767225600}})"}});
  ASSERT_EQ(out.batch.readings.size(), 1u) << out.batch.dead_letters.size();
  EXPECT_EQ(out.batch.readings[0].sensor, Intern("boiler"));
  EXPECT_EQ(out.batch.readings[0].value, 71.5);
  EXPECT_EQ(out.batch.readings[0].ts, 1767225600LL * kUsPerSec);
}

// The malformed-input corpus: every message is rejected with its own reason.
TEST(PayloadDecoder, MalformedCorpusIsDeadLetteredWithReasons) {
  MqttSourceConfig c = Cfg();
  c.max_payload_bytes = 4096;
  auto d = PayloadDecoder::Create(c, Intern("mq"));
  std::string deep(2000, '[');
  std::string huge = R"({"value":1,"pad":")" + std::string(5000, 'x') + "\"}";
  auto out = DecodeAll(*d, {{"sensors/a/t", R"({"value":)"},
                      {"sensors/a/t", R"({"value":"hot"})"},
                      {"sensors/a/t", R"({"value":NaN})"},
                      {"sensors/a/t", huge},
                      {"sensors/a/t", deep},
                      {"sensors/a/t", "{\"value\":1,\"unit\":\"\xff\xfe\"}"},
                      {"elsewhere/a/t", R"({"value":1})"},
                      {"sensors/a/t", R"({"temp":1})"},
                      {"sensors/a/t", R"({"value":1,"ts":"yesterday"})"},
                      {"sensors/a/t", R"({"value":1,"quality":"excellent"})"},
                      {"sensors/a/t", R"(12 apples)"},
                      {"sensors/a/t", R"("just a string")"},
                      {"sensors/a/t", R"({"value":1e999})"},
                      {"sensors/a/t", R"({"value":5})"}});
  EXPECT_EQ(out.reasons(), (std::vector<std::string>{"invalid_json", "bad_value", "invalid_json", "payload_too_large",
                                                     "invalid_json", "invalid_utf8", "unmatched_topic", "missing_value",
                                                     "bad_timestamp", "bad_quality", "bad_value", "bad_value",
                                                     "invalid_json"}));
  ASSERT_EQ(out.batch.readings.size(), 1u) << "the good message after the corpus still decodes";
  EXPECT_EQ(out.batch.readings[0].value, 5);
  for (auto& dl : out.batch.dead_letters) {
    EXPECT_EQ(dl.origin, Intern("mq"));
    EXPECT_NE(dl.detail.find("topic "), std::string::npos);
    for (unsigned char ch : dl.detail) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "details stay printable ASCII";
    EXPECT_LT(dl.detail.size(), 600u);
  }
}

// from_chars reads "nan", "inf" and "infinity": a bare number must be finite,
// as a JSON one is (a NaN reading would poison every window it falls in).
TEST(PayloadDecoder, BareNumbersMustBeFinite) {
  auto d = PayloadDecoder::Create(Cfg(), Intern("mq"));
  auto out = DecodeAll(*d, {{"sensors/a/t", "nan"}, {"sensors/a/t", "-inf"}, {"sensors/a/t", "infinity"},
                            {"sensors/a/t", "NaN"}, {"sensors/a/t", " 21.5 "}});
  EXPECT_EQ(out.reasons(), (std::vector<std::string>{"bad_value", "bad_value", "bad_value", "bad_value"}));
  for (auto& dl : out.batch.dead_letters) EXPECT_NE(dl.detail.find("not a finite number"), std::string::npos) << dl.detail;
  ASSERT_EQ(out.batch.readings.size(), 1u);
  EXPECT_EQ(out.batch.readings[0].value, 21.5);
}

// An array payload of 50,000 bad elements gives 16 dead letters and one that
// counts the rest, not 50,000; its good elements still become readings.
TEST(PayloadDecoder, AnArrayOfBadElementsIsDeadLetteredInBrief) {
  auto d = PayloadDecoder::Create(Cfg(), Intern("mq"));
  std::string arr = R"([{"value":1},)";
  for (int i = 0; i < 50000; ++i) arr += "0,";
  arr += R"({"value":2}])";
  auto out = DecodeAll(*d, {{"sensors/a/t", arr}});
  ASSERT_EQ(out.batch.readings.size(), 2u);
  EXPECT_EQ(out.batch.readings[1].value, 2);
  ASSERT_EQ(out.batch.dead_letters.size(), PayloadDecoder::kMaxDeadPerMessage + 1);
  for (size_t i = 0; i < PayloadDecoder::kMaxDeadPerMessage; ++i) EXPECT_EQ(out.batch.dead_letters[i].reason, "not_an_object");
  const auto& last = out.batch.dead_letters.back();
  EXPECT_EQ(last.reason, "more_bad_elements");
  EXPECT_NE(last.detail.find("49984 more elements of this message rejected, 50000 in all"), std::string::npos) << last.detail;
  // A few bad elements are each reported, with nothing summed up.
  out = DecodeAll(*d, {{"sensors/a/t", R"([0,{"value":3},"x"])"}});
  EXPECT_EQ(out.reasons(), (std::vector<std::string>{"not_an_object", "not_an_object"}));
}

// Names are kept for the life of the process: a source takes at most
// max_names distinct sensor and metric names, from the topic or the payload;
// readings with a new one beyond that are dead-lettered, known ones still flow.
TEST(PayloadDecoder, NewNamesBeyondMaxNamesAreDeadLettered) {
  MqttSourceConfig c = Cfg();
  c.max_names = 3;
  auto d = PayloadDecoder::Create(c, Intern("mq"));
  auto out = DecodeAll(*d, {{"sensors/a/t", "1"},
                            {"sensors/b/t", "2"},
                            {"sensors/c/t", "3"},
                            {"sensors/a/u", "4"},
                            {"sensors/b/t", "5"}});
  EXPECT_EQ(out.reasons(), (std::vector<std::string>{"too_many_names", "too_many_names"}));
  ASSERT_EQ(out.batch.readings.size(), 3u);
  EXPECT_EQ(out.batch.readings[2].value, 5);
  EXPECT_NE(out.batch.dead_letters[0].detail.find("3 sensor and metric names (max_names)"), std::string::npos);

  MqttSourceConfig pc = Cfg("");
  pc.max_names = 2;
  auto p = PayloadDecoder::Create(pc, Intern("mq"));
  out = DecodeAll(*p, {{"any", R"({"sensor":"x","metric":"t","value":1})"},
                       {"any", R"({"sensor":"y","metric":"t","value":2})"},
                       {"any", R"({"sensor":"x","metric":"t","value":3})"}});
  EXPECT_EQ(out.reasons(), (std::vector<std::string>{"too_many_names"}));
  EXPECT_EQ(out.batch.readings.size(), 2u);
}

TEST(TopicTemplate, Renders) {
  auto t = TopicTemplate::Compile("edge/{node}/{type}/{sensor}/{rule}");
  ASSERT_TRUE(t.ok());
  std::string out;
  t->Render(out, "n1", "alert", Intern("T1"), Intern("temp"), "hot", "open", "critical", "");
  EXPECT_EQ(out, "edge/n1/alert/T1/hot");
  EXPECT_FALSE(TopicTemplate::Compile("a/{nope}").ok());
  EXPECT_FALSE(TopicTemplate::Compile("a/+/b").ok());
  EXPECT_FALSE(TopicTemplate::Compile("a/{sensor").ok());
}

}  // namespace
}  // namespace edgeflow
