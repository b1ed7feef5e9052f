#include "sources/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <simdjson.h>

#include "core/timefmt.h"

namespace edgeflow {

using config::Diagnostics;
using config::Schema;

const Schema<FileSourceConfig>& FileSourceSchema() {
  static const auto* s = [] {
    auto* s = new Schema<FileSourceConfig>("file", "");
    s->String("path", &FileSourceConfig::path, "", "Recording to replay (.csv or .jsonl).", true)
        .Enum<FileFormat>("format", &FileSourceConfig::format, FileFormat::kAuto,
                          {{"auto", FileFormat::kAuto}, {"csv", FileFormat::kCsv}, {"jsonl", FileFormat::kJsonl}},
                          "File format; auto decides by extension (.jsonl/.ndjson/.json are JSONL, anything else CSV).")
        .String("sensor", &FileSourceConfig::sensor, "",
                "Sensor id for two-column CSV files; defaults to the file name without extension.")
        .String("metric", &FileSourceConfig::metric, "value", "Metric name for two-column CSV files.")
        .Number<double>("speed", &FileSourceConfig::speed, 0, "x",
                        "Event seconds replayed per wall-clock second; 0 replays as fast as possible.", 0, 1e6)
        .Bool("loop", &FileSourceConfig::loop, false, "Start again at the end of the file (timestamps shifted forward).");
    return s;
  }();
  return *s;
}

namespace {

// Reads a file line by line through a fixed buffer (no per-line allocation).
// Lines handed out stay valid until the next call; the buffer keeps
// simdjson's padding after every line.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd), buf_(kSize + simdjson::SIMDJSON_PADDING) {}
  bool Next(std::string_view* line) {
    for (;;) {
      const char* start = buf_.data() + pos_;
      const char* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
      if (nl) {
        *line = std::string_view(start, static_cast<size_t>(nl - start));
        pos_ = static_cast<size_t>(nl - buf_.data()) + 1;
        ++line_no_;
        return true;
      }
      if (eof_) {
        if (pos_ < len_) {
          *line = std::string_view(start, len_ - pos_);
          pos_ = len_;
          ++line_no_;
          return true;
        }
        return false;
      }
      // Move the partial line to the front and read more.
      size_t rest = len_ - pos_;
      if (rest == kSize) {  // a line longer than the buffer: hand out what we have
        *line = std::string_view(buf_.data(), rest);
        pos_ = len_;
        ++line_no_;
        return true;
      }
      std::memmove(buf_.data(), start, rest);
      len_ = rest;
      pos_ = 0;
      ssize_t n = ::read(fd_, buf_.data() + len_, kSize - len_);
      if (n <= 0) eof_ = true;
      else len_ += static_cast<size_t>(n);
    }
  }
  uint64_t line_no() const { return line_no_; }
  size_t padding_after(std::string_view line) const {
    return static_cast<size_t>(buf_.data() + buf_.size() - (line.data() + line.size()));
  }

 private:
  static constexpr size_t kSize = 1 << 20;
  int fd_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  uint64_t line_no_ = 0;
};

bool ParseDouble(std::string_view s, double* out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\r')) s.remove_suffix(1);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc::result_out_of_range) {
    *out = std::strtod(std::string(s).c_str(), nullptr);  // rare: huge values become inf
    return true;
  }
  if (ec == std::errc() && p == s.data() + s.size()) return true;
  // Accept the spellings CSV writers use for non-finite values; validate rejects them.
  if (s == "nan" || s == "NaN" || s == "NAN") { *out = std::nan(""); return true; }
  if (s == "inf" || s == "Inf" || s == "INF") { *out = INFINITY; return true; }
  if (s == "-inf" || s == "-Inf" || s == "-INF") { *out = -INFINITY; return true; }
  return false;
}

// CSV cells may carry a trailing CR or spaces; an empty quality cell means good.
bool ParseQualityCell(std::string_view s, Quality* q) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  if (s.empty()) {
    *q = Quality::kGood;
    return true;
  }
  return ParseQuality(s, q);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct CsvLayout {
  int ts = 0, value = 1, sensor = -1, metric = -1, quality = -1;
  int columns = 2;
};

constexpr int kMaxCols = 8;

int SplitCsv(std::string_view line, std::string_view* cols) {
  // One pass over a short line beats a memchr call per column.
  int n = 0;
  const char* p = line.data();
  const char* end = p + line.size();
  const char* start = p;
  for (; p < end; ++p) {
    if (*p == ',') {
      cols[n++] = std::string_view(start, static_cast<size_t>(p - start));
      start = p + 1;
      if (n == kMaxCols - 1) break;
    }
  }
  cols[n++] = std::string_view(start, static_cast<size_t>(end - start));
  return n;
}

}  // namespace

Result<std::unique_ptr<Source>> FileSource::Create(const FileSourceConfig& cfg, const BuildContext& ctx) {
  if (!std::filesystem::exists(cfg.path)) return Status::NotFound("recording not found: " + cfg.path);
  auto s = std::make_unique<FileSource>();
  s->cfg_ = cfg;
  if (s->cfg_.sensor.empty()) s->cfg_.sensor = std::filesystem::path(cfg.path).stem().string();
  if (s->cfg_.format == FileFormat::kAuto) {
    std::string ext = std::filesystem::path(cfg.path).extension().string();
    s->cfg_.format = (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") ? FileFormat::kJsonl : FileFormat::kCsv;
  }
  s->origin_ = ctx.component;
  s->fast_ = ctx.as_fast_as_possible || cfg.speed == 0;
  return std::unique_ptr<Source>(std::move(s));
}

Status FileSource::Run(SourceContext& ctx) {
  SymbolCache names;
  const Symbol default_sensor = Intern(cfg_.sensor);
  const Symbol default_metric = Intern(cfg_.metric);
  Batch batch;
  batch.readings.reserve(ctx.batch_size);
  uint64_t seq = 0;
  TimeUs first_ts = INT64_MIN, wall_start = 0, loop_shift = 0;
  simdjson::ondemand::parser parser;
  std::string last_ts_text;
  TimeUs last_ts_value = 0;

  auto dead = [&](const Reading& r, const char* reason, std::string detail) {
    batch.dead_letters.push_back({r, origin_, reason, std::move(detail)});
  };
  auto push = [&](Reading r) -> bool {
    r.ts += loop_shift;
    r.seq = ++seq;
    if (!fast_) {
      if (first_ts == INT64_MIN) {
        first_ts = r.ts;
        wall_start = ctx.clock->now();
      }
      const TimeUs due = wall_start + static_cast<TimeUs>(static_cast<double>(r.ts - first_ts) / cfg_.speed);
      if (due > ctx.clock->now()) {
        if (!batch.empty()) ctx.emit(batch);
        if (!ctx.clock->sleep_until(due, *ctx.stop)) return false;
      }
    }
    batch.readings.push_back(r);
    if (batch.readings.size() >= ctx.batch_size) ctx.emit(batch);
    return true;
  };

  do {
    int fd = ::open(cfg_.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Io("cannot open " + cfg_.path + ": " + std::strerror(errno));
    LineReader reader(fd);
    std::string_view line;
    CsvLayout layout;
    bool first = true;
    bool running = true;
    TimeUs file_first = INT64_MIN, file_last = INT64_MIN;
    int64_t file_readings = 0;
    while (running && !ctx.stopping() && reader.Next(&line)) {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      // A byte-order mark (files saved as "CSV UTF-8") is not part of the data.
      if (reader.line_no() == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
      if (line.empty()) continue;
      Reading r;
      r.sensor = default_sensor;
      r.metric = default_metric;
      if (cfg_.format == FileFormat::kCsv) {
        std::string_view cols[kMaxCols];
        int n = SplitCsv(line, cols);
        if (first) {
          first = false;
          TimeUs probe;
          if (!ParseTimestamp(cols[0], &probe)) {  // header line
            layout = CsvLayout{-1, -1, -1, -1, -1, n};
            for (int i = 0; i < n; ++i) {
              std::string_view c = Trim(cols[i]);
              if (c == "timestamp" || c == "ts" || c == "time") layout.ts = i;
              else if (c == "value") layout.value = i;
              else if (c == "sensor" || c == "sensor_id") layout.sensor = i;
              else if (c == "metric") layout.metric = i;
              else if (c == "quality") layout.quality = i;
            }
            if (layout.ts < 0 || layout.value < 0)
              return Status::Invalid(cfg_.path + ": CSV header needs 'timestamp' and 'value' columns");
            // A row needs the columns that are read; quality may be left out.
            layout.columns = std::max({layout.ts, layout.value, layout.sensor, layout.metric}) + 1;
            continue;
          }
          // Headerless: timestamp,value or timestamp,sensor,metric,value with
          // a fifth column, quality, on some lines only.
          if (n >= 4) layout = CsvLayout{0, 3, 1, 2, -1, 4};
          else layout = CsvLayout{0, 1, -1, -1, -1, n};
        }
        // Names go into the store, the API and MQTT topics: UTF-8 only (an export
        // in a legacy code page is refused line by line, with the reason). A
        // header is only matched against its known column names.
        if (!simdjson::validate_utf8(line.data(), line.size())) {
          dead(r, "invalid_utf8", "line " + std::to_string(reader.line_no()) + ": not UTF-8 text (save the file as UTF-8)");
          continue;
        }
        if (n < layout.columns) {
          dead(r, "parse_error", "line " + std::to_string(reader.line_no()) + ": expected " +
                                     std::to_string(layout.columns) + " columns: " + std::string(line.substr(0, 200)));
          continue;
        }
        // Names first, so a dead letter says which series the bad line belonged to.
        if (layout.sensor >= 0) r.sensor = names.Get(Trim(cols[layout.sensor]));
        if (layout.metric >= 0) r.metric = names.Get(Trim(cols[layout.metric]));
        // Recordings stamp many readings with the same time: reuse the last parse.
        const std::string_view ts_text = cols[layout.ts];
        if (ts_text == last_ts_text && !last_ts_text.empty()) {
          r.ts = last_ts_value;
        } else if (ParseTimestamp(ts_text, &r.ts)) {
          last_ts_text.assign(ts_text);
          last_ts_value = r.ts;
        } else {
          dead(r, "bad_timestamp", "line " + std::to_string(reader.line_no()) + ": " + std::string(line.substr(0, 200)));
          continue;
        }
        if (!ParseDouble(cols[layout.value], &r.value)) {
          dead(r, "bad_value", "line " + std::to_string(reader.line_no()) + ": " + std::string(line.substr(0, 200)));
          continue;
        }
        // Headerless sensor/metric files may carry a fifth column, quality, on some lines only.
        const int qcol = layout.quality >= 0 ? (n > layout.quality ? layout.quality : -1)
                                             : (layout.sensor == 1 && n >= 5 ? 4 : -1);
        if (qcol >= 0 && !ParseQualityCell(cols[qcol], &r.quality)) {
          dead(r, "bad_quality", "line " + std::to_string(reader.line_no()) + ": " + std::string(line.substr(0, 200)));
          continue;
        }
      } else {
        simdjson::padded_string_view psv(line.data(), line.size(), line.size() + reader.padding_after(line));
        auto fail = [&](const char* reason) {
          dead(r, reason, "line " + std::to_string(reader.line_no()) + ": " + std::string(line.substr(0, 200)));
        };
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        if (parser.iterate(psv).get(doc) || doc.get_object().get(obj)) {
          fail("parse_error");
          continue;
        }
        bool ok = true, have_ts = false, have_value = false, skip = false;
        for (auto field : obj) {
          std::string_view key;
          if (field.unescaped_key().get(key)) { ok = false; break; }
          auto v = field.value();
          if (key == "ts" || key == "timestamp") {
            std::string_view sv;
            double num;
            if (!v.get_string().get(sv)) have_ts = ParseTimestamp(sv, &r.ts);
            else if (!v.get_double().get(num)) have_ts = ParseTimestamp(std::to_string(num), &r.ts);
            if (!have_ts) { fail("bad_timestamp"); skip = true; break; }
          } else if (key == "value") {
            bool b;
            if (!v.get_double().get(r.value)) have_value = true;
            else if (!v.get_bool().get(b)) { r.value = b ? 1 : 0; have_value = true; }
            if (!have_value) { fail("bad_value"); skip = true; break; }
          } else if (key == "sensor") {
            std::string_view sv;
            if (v.get_string().get(sv)) { ok = false; break; }
            r.sensor = names.Get(sv);
          } else if (key == "metric") {
            std::string_view sv;
            if (v.get_string().get(sv)) { ok = false; break; }
            r.metric = names.Get(sv);
          } else if (key == "quality") {
            std::string_view sv;
            int64_t qi;
            if (!v.get_string().get(sv)) ok = ParseQualityCell(sv, &r.quality);
            else if (!v.get_int64().get(qi)) ok = ParseQualityCell(std::to_string(qi), &r.quality);
            else ok = false;
            if (!ok) { fail("bad_quality"); skip = true; break; }
          } else if (key == "type") {
            std::string_view sv;
            if (!v.get_string().get(sv) && sv != "reading") { skip = true; break; }
          }
        }
        if (skip) continue;
        if (!ok) { fail("parse_error"); continue; }
        if (!have_ts || !have_value) { fail(!have_ts ? "missing_timestamp" : "missing_value"); continue; }
      }
      if (file_first == INT64_MIN) file_first = r.ts;
      file_last = std::max(file_last, r.ts);
      ++file_readings;
      running = push(r);
    }
    ::close(fd);
    if (!running || ctx.stopping()) break;
    if (file_first == INT64_MIN) break;  // empty file: nothing to loop
    // The next pass continues one average step after the last reading.
    const TimeUs step = file_readings > 1 ? (file_last - file_first) / (file_readings - 1) : kUsPerSec;
    loop_shift += (file_last - file_first) + std::max<TimeUs>(1, step);
  } while (cfg_.loop);
  if (!batch.empty()) ctx.emit(batch);
  return Status::Ok();
}

}  // namespace edgeflow
