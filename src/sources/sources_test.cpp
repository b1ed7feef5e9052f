#include <gtest/gtest.h>

#include <fstream>

#include "core/testing.h"
#include "core/timefmt.h"
#include "sources/file_source.h"
#include "sources/simulator.h"

namespace edgeflow {
namespace {

using testing::TempDir;

// Runs a source to completion inline and returns everything it emitted.
Batch Drain(Source& s, size_t batch_size = 7) {
  Batch all;
  StopToken stop;
  SourceContext ctx;
  ctx.clock = &SystemClock::Instance();
  ctx.stop = &stop;
  ctx.batch_size = batch_size;
  ctx.emit = [&](Batch& b) {
    EXPECT_LE(b.readings.size(), batch_size);
    all.append(b);
    b.clear();
  };
  Status st = s.Run(ctx);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return all;
}

SimulatorConfig Sim(double duration) {
  SimulatorConfig c;
  SimulatorSchema().SetDefaults(c);
  c.seed = 42;
  c.speed = 0;
  c.duration_secs = duration;
  c.start = "2026-01-01T00:00:00Z";
  return c;
}

SimSensorConfig Sensor(const std::string& id, SensorKind kind, double interval = 1) {
  SimSensorConfig s{};
  s.id = id;
  s.kind = kind;
  s.interval_secs = interval;
  s.base = s.daily_amplitude = s.noise = std::numeric_limits<double>::quiet_NaN();
  return s;
}

TEST(Simulator, DeterministicForSameSeed) {
  SimulatorConfig c = Sim(100);
  c.sensors = {Sensor("t1", SensorKind::kTemperature), Sensor("v1", SensorKind::kVibration, 0.5)};
  auto a = Drain(*std::move(SimulatorSource::Create(c, BuildContext{})).value());
  auto b = Drain(*std::move(SimulatorSource::Create(c, BuildContext{})).value());
  ASSERT_EQ(a.readings.size(), 300u) << "100 s at 1 Hz plus 100 s at 2 Hz";
  ASSERT_EQ(a.readings.size(), b.readings.size());
  for (size_t i = 0; i < a.readings.size(); ++i) {
    EXPECT_EQ(a.readings[i].value, b.readings[i].value);
    EXPECT_EQ(a.readings[i].ts, b.readings[i].ts);
    EXPECT_EQ(a.readings[i].seq, i + 1);
  }
  for (size_t i = 1; i < a.readings.size(); ++i) EXPECT_GE(a.readings[i].ts, a.readings[i - 1].ts);
  c.seed = 43;
  auto d = Drain(*std::move(SimulatorSource::Create(c, BuildContext{})).value());
  EXPECT_NE(a.readings[5].value, d.readings[5].value);
}

TEST(Simulator, InjectsFaults) {
  SimulatorConfig c = Sim(600);
  SimSensorConfig t = Sensor("t", SensorKind::kTemperature);
  t.faults = {{FaultType::kSpike, 100, 10, 50}, {FaultType::kStuck, 200, 50, 0}, {FaultType::kDegrade, 400, 100, 20}};
  c.sensors = {t};
  auto b = Drain(*std::move(SimulatorSource::Create(c, BuildContext{})).value());
  ASSERT_EQ(b.readings.size(), 600u);
  auto v = [&](int s) { return b.readings[static_cast<size_t>(s)].value; };
  EXPECT_GT(v(105) - v(95), 40) << "spike of 50";
  EXPECT_LT(std::fabs(v(115) - v(95)), 5) << "spike ended";
  for (int s = 201; s < 250; ++s) EXPECT_EQ(v(s), v(200)) << "stuck at " << s;
  EXPECT_NE(v(251), v(200));
  double before = 0, after = 0;
  for (int s = 350; s < 400; ++s) before += v(s);
  for (int s = 550; s < 600; ++s) after += v(s);
  EXPECT_NEAR((after - before) / 50, 20, 2) << "degraded by 20";
}

TEST(Simulator, KindsStayInPhysicalRange) {
  SimulatorConfig c = Sim(3600);
  c.sensors = {Sensor("h", SensorKind::kHumidity), Sensor("m", SensorKind::kMotion), Sensor("p", SensorKind::kPower)};
  auto b = Drain(*std::move(SimulatorSource::Create(c, BuildContext{})).value(), 512);
  for (auto& r : b.readings) {
    if (r.sensor == Intern("h")) { EXPECT_GE(r.value, 0); EXPECT_LE(r.value, 100); }
    if (r.sensor == Intern("m")) {
      EXPECT_TRUE(r.value == 0 || r.value == 1);
    }
    if (r.sensor == Intern("p")) {
      EXPECT_GE(r.value, 0);
    }
  }
}

TEST(Simulator, RealTimePacingFollowsInjectedClock) {
  SimulatorConfig c = Sim(0);
  c.speed = 1;
  c.start = "";
  c.sensors = {Sensor("t", SensorKind::kTemperature)};
  ManualClock clock;
  auto src = std::move(SimulatorSource::Create(c, BuildContext{})).value();
  StopToken stop;
  std::atomic<size_t> got{0};
  SourceContext ctx;
  ctx.clock = &clock;
  ctx.stop = &stop;
  ctx.batch_size = 1000;
  ctx.emit = [&](Batch& b) {
    got += b.readings.size();
    b.clear();
  };
  std::thread t([&] { (void)src->Run(ctx); });
  ASSERT_TRUE(testing::WaitFor([&] { return got.load() == 1; }));
  clock.advance(9 * kUsPerSec);
  ASSERT_TRUE(testing::WaitFor([&] { return got.load() == 10; }));
  EXPECT_EQ(got.load(), 10u) << "nothing beyond the clock";
  stop.request_stop();
  t.join();
}

FileSourceConfig FileCfg(const std::string& path) {
  FileSourceConfig c;
  FileSourceSchema().SetDefaults(c);
  c.path = path;
  return c;
}

TEST(FileSource, ReplaysNabCsvWithHeader) {
  TempDir dir;
  std::ofstream(dir / "machine_temp.csv") << "timestamp,value\n2013-12-02 21:15:00,73.96\n2013-12-02 21:20:00,74.93\r\n";
  auto b = Drain(*std::move(FileSource::Create(FileCfg(dir / "machine_temp.csv"), BuildContext{})).value());
  ASSERT_EQ(b.readings.size(), 2u);
  EXPECT_EQ(b.readings[0].sensor, Intern("machine_temp")) << "sensor defaults to the file's stem";
  EXPECT_EQ(b.readings[0].metric, Intern("value"));
  EXPECT_EQ(b.readings[1].value, 74.93);
  EXPECT_EQ(b.readings[1].ts - b.readings[0].ts, 300 * kUsPerSec);
}

TEST(FileSource, FourColumnCsvAndBadLinesBecomeDeadLetters) {
  TempDir dir;
  std::ofstream(dir / "r.csv") << "2026-01-01T00:00:00Z,a,temp,1.5\n"
                                  "not-a-time,a,temp,2\n"
                                  "2026-01-01T00:00:01Z,a,temp,abc\n"
                                  "2026-01-01T00:00:02Z,b,hum,40,2\n"
                                  "2026-01-01T00:00:03Z,b\n"
                                  "2026-01-01T00:00:04Z,b,hum,nan\n";
  BuildContext ctx;
  ctx.component = Intern("rec");
  auto b = Drain(*std::move(FileSource::Create(FileCfg(dir / "r.csv"), ctx)).value());
  ASSERT_EQ(b.readings.size(), 3u);
  EXPECT_EQ(b.readings[1].sensor, Intern("b"));
  EXPECT_EQ(b.readings[1].quality, Quality::kBad);
  EXPECT_TRUE(std::isnan(b.readings[2].value)) << "NaN is passed on for validate to reject";
  ASSERT_EQ(b.dead_letters.size(), 3u);
  EXPECT_STREQ(b.dead_letters[0].reason, "bad_timestamp");
  EXPECT_NE(b.dead_letters[0].detail.find("line 2"), std::string::npos);
  EXPECT_STREQ(b.dead_letters[1].reason, "bad_value");
  EXPECT_STREQ(b.dead_letters[2].reason, "parse_error");
  EXPECT_EQ(b.dead_letters[2].origin, Intern("rec"));
}

TEST(FileSource, TheQualityColumnMayBeLeftOutLineByLine) {
  TempDir dir;
  // Headerless: the first line has a quality, the second does not.
  std::ofstream(dir / "a.csv") << "2026-01-01T00:00:00Z,a,t,1,good\n2026-01-01T00:00:01Z,a,t,2\n";
  // A header naming quality, and a row without that cell.
  std::ofstream(dir / "b.csv") << "timestamp,sensor,metric,value,quality\n2026-01-01T00:00:00Z,b,t,1,bad\n"
                                  "2026-01-01T00:00:01Z,b,t,2\n";
  for (const char* f : {"a.csv", "b.csv"}) {
    SCOPED_TRACE(f);
    auto b = Drain(*std::move(FileSource::Create(FileCfg(dir / f), BuildContext{})).value());
    EXPECT_TRUE(b.dead_letters.empty()) << b.dead_letters[0].detail;
    ASSERT_EQ(b.readings.size(), 2u);
    EXPECT_EQ(b.readings[1].value, 2);
    EXPECT_EQ(b.readings[1].quality, Quality::kGood);
  }
}

TEST(FileSource, AByteOrderMarkIsIgnored) {
  TempDir dir;
  std::ofstream(dir / "h.csv") << "\xEF\xBB\xBFtimestamp,value\n2026-01-01T00:00:00Z,1\n";
  std::ofstream(dir / "n.csv") << "\xEF\xBB\xBF" "2026-01-01T00:00:00Z,1\n2026-01-01T00:00:01Z,2\n";
  for (const char* f : {"h.csv", "n.csv"}) {
    SCOPED_TRACE(f);
    auto src = FileSource::Create(FileCfg(dir / f), BuildContext{});
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    auto b = Drain(**src);
    EXPECT_TRUE(b.dead_letters.empty());
    EXPECT_EQ(b.readings.size(), f[0] == 'h' ? 1u : 2u);
  }
}

TEST(FileSource, ALineThatIsNotUtf8IsDeadLetteredWithItsReason) {
  TempDir dir;
  // An export in Windows-1252: "Büro" and "°C" are single bytes, not UTF-8.
  std::ofstream(dir / "w.csv") << "timestamp,sensor,metric,value\n2026-01-01T00:00:00Z,B\xfcro,temp,21\n"
                                  "2026-01-01T00:00:01Z,Lager,temp\xb0" "C,19\n2026-01-01T00:00:02Z,K\xc3\xbc" "che,temp,23\n";
  auto b = Drain(*std::move(FileSource::Create(FileCfg(dir / "w.csv"), BuildContext{})).value());
  ASSERT_EQ(b.readings.size(), 1u);
  EXPECT_EQ(SymName(b.readings[0].sensor), "K\xc3\xbc" "che");  // UTF-8 names are fine
  ASSERT_EQ(b.dead_letters.size(), 2u);
  for (const auto& d : b.dead_letters) {
    EXPECT_STREQ(d.reason, "invalid_utf8");
    EXPECT_NE(d.detail.find("not UTF-8"), std::string::npos) << d.detail;
  }
  EXPECT_NE(b.dead_letters[1].detail.find("line 3"), std::string::npos) << b.dead_letters[1].detail;
  // A header with a column name in another code page is still the header: the rows keep their columns.
  std::ofstream(dir / "h.csv") << "timestamp,sensor,value,raw_\xb5V\n2026-01-01T00:00:00Z,oven,21.5,1234\n";
  b = Drain(*std::move(FileSource::Create(FileCfg(dir / "h.csv"), BuildContext{})).value());
  ASSERT_EQ(b.readings.size(), 1u) << (b.dead_letters.empty() ? "" : b.dead_letters[0].detail);
  EXPECT_EQ(b.readings[0].value, 21.5);
  EXPECT_EQ(SymName(b.readings[0].sensor), "oven");
}

TEST(FileSource, JsonlRecordings) {
  TempDir dir;
  std::ofstream(dir / "r.jsonl")
      << R"({"ts":"2026-01-01T00:00:00Z","sensor":"a","metric":"t","value":1})" << "\n"
      << R"({"type":"alert","state":"open"})" << "\n"
      << R"({"timestamp":1767225601.5,"sensor":"a","metric":"t","value":2.5,"quality":"uncertain"})" << "\n"
      << R"({"ts":"2026-01-01T00:00:02Z","sensor":"a","metric":"t"})" << "\n"
      << R"({"ts":"2026-01-01T00:00:03Z","sensor":"a","metric":"t","value":"hot"})" << "\n"
      << "{broken\n"
      << R"({"type":"reading","ts":"2026-01-01T00:00:04Z","sensor":"b","metric":"t","value":true})" << "\n";
  auto b = Drain(*std::move(FileSource::Create(FileCfg(dir / "r.jsonl"), BuildContext{})).value());
  ASSERT_EQ(b.readings.size(), 3u);
  EXPECT_EQ(b.readings[1].ts, 1767225601LL * kUsPerSec + 500000);
  EXPECT_EQ(b.readings[1].quality, Quality::kUncertain);
  EXPECT_EQ(b.readings[2].value, 1);
  ASSERT_EQ(b.dead_letters.size(), 3u);
  EXPECT_STREQ(b.dead_letters[0].reason, "missing_value");
  EXPECT_STREQ(b.dead_letters[1].reason, "bad_value");
  EXPECT_STREQ(b.dead_letters[2].reason, "parse_error");
}

TEST(FileSource, MissingFileIsAClearError) {
  auto s = FileSource::Create(FileCfg("/nonexistent/rec.csv"), BuildContext{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/rec.csv"), std::string::npos);
}

TEST(FileSource, LoopShiftsTimestampsForward) {
  TempDir dir;
  std::ofstream(dir / "r.csv") << "2026-01-01T00:00:00Z,1\n2026-01-01T00:00:10Z,2\n";
  FileSourceConfig c = FileCfg(dir / "r.csv");
  c.loop = true;
  auto src = std::move(FileSource::Create(c, BuildContext{})).value();
  StopToken stop;
  std::vector<TimeUs> ts;
  SourceContext ctx;
  ctx.clock = &SystemClock::Instance();
  ctx.stop = &stop;
  ctx.batch_size = 1;
  ctx.emit = [&](Batch& b) {
    for (auto& r : b.readings) ts.push_back(r.ts);
    b.clear();
    if (ts.size() >= 6) stop.request_stop();
  };
  ASSERT_TRUE(src->Run(ctx).ok());
  ASSERT_GE(ts.size(), 6u);
  // Every step 10 s, across the passes too: 0, 10 | 20, 30 | 40, 50.
  for (size_t i = 1; i < ts.size(); ++i) EXPECT_EQ(ts[i] - ts[i - 1], 10 * kUsPerSec) << i;
}

}  // namespace
}  // namespace edgeflow
