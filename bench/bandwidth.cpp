// Uplink bandwidth report: what each reduction method sends for a recording,
// and the largest reconstruction error a receiver sees. Every number comes
// from the real encoder and decoder (sinks/uplink_codec.h) and the real
// processors; bytes are whole MQTT 3.1.1 PUBLISH packets at QoS 1.
//
//   edgeflow_bandwidth --input rec.csv [--sensor name] [--eps 0.1,0.5] [--label NAME]
// Prints Markdown table rows.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>

#include "processors/filters.h"
#include "processors/swinging_door.h"
#include "processors/window.h"
#include "sinks/uplink_codec.h"
#include "sources/file_source.h"

namespace edgeflow {
namespace {

constexpr const char* kNode = "gw-1";
constexpr size_t kBatch = 500;

size_t PublishBytes(size_t topic, size_t payload) {
  size_t remaining = 2 + topic + 2 + payload, len = 1;
  for (size_t r = remaining; r >= 128; r >>= 7) ++len;
  return 1 + len + remaining;
}

// Bytes of sending `events` of `stream` as messages of `per_message` events.
template <class E>
size_t Send(const std::vector<E>& events, const char* stream, UplinkFormat f, size_t per_message,
            std::vector<std::string>* payloads = nullptr) {
  UplinkEncoder enc(f);
  const std::string topic = std::string("edgeflow/") + kNode + "/" + stream;
  std::string p;
  size_t bytes = 0;
  int64_t seq = 0;
  for (size_t i = 0; i < events.size(); i += per_message) {
    enc.Encode(kNode, stream, ++seq, events.data() + i, std::min(per_message, events.size() - i), p);
    bytes += PublishBytes(topic.size(), p.size());
    if (payloads) payloads->push_back(p);
  }
  return bytes;
}

struct Kept {
  uint64_t seq;
  TimeUs ts;
  double value;
};
using Series = std::map<std::pair<std::string, std::string>, std::vector<Kept>>;

// What the receiver gets: per series, in the order the node kept the readings.
Series Received(const std::vector<std::string>& payloads) {
  Series s;
  for (const auto& p : payloads) {
    DecodedMessage m;
    if (!DecodeUplinkPayload(p, &m).ok()) {
      std::fprintf(stderr, "undecodable payload\n");
      std::exit(1);
    }
    for (const auto& r : m.readings) s[{r.sensor, r.metric}].push_back({r.point.seq, r.point.ts, r.point.value});
  }
  for (auto& [k, v] : s) std::sort(v.begin(), v.end(), [](const Kept& a, const Kept& b) { return a.seq < b.seq; });
  return s;
}

// Largest |original - reconstruction| over every reading, walking each series
// in arrival order (recordings may step back in time, as this NAB file does):
// linear interpolates between the kept readings around it, else the last kept
// value is held.
double MaxError(const std::vector<Reading>& in, const Series& got, bool linear) {
  std::map<std::pair<std::string, std::string>, size_t> pos;
  double worst = 0;
  for (const auto& r : in) {
    if (!std::isfinite(r.value)) continue;
    const std::pair<std::string, std::string> key{std::string(SymName(r.sensor)), std::string(SymName(r.metric))};
    const auto& v = got.at(key);
    size_t& i = pos[key];
    while (i + 1 < v.size() && v[i + 1].seq <= r.seq) ++i;
    if (v.empty() || v[i].seq > r.seq) return INFINITY;  // nothing kept before it
    double est = v[i].value;
    if (linear && v[i].seq != r.seq && i + 1 < v.size() && v[i + 1].ts != v[i].ts)
      est = v[i].value + (v[i + 1].value - v[i].value) * double(r.ts - v[i].ts) / double(v[i + 1].ts - v[i].ts);
    worst = std::max(worst, std::fabs(est - r.value));
  }
  return worst;
}

// Everything a processor emits for `in` (in batches, then its flush).
Batch RunProcessor(Processor& p, const std::vector<Reading>& in) {
  Batch b, out, all;
  for (size_t i = 0; i < in.size(); i += 4096) {
    b.clear();
    b.readings.assign(in.begin() + i, in.begin() + std::min(in.size(), i + 4096));
    out.clear();
    p.Process(b, out);
    all.append(out);
  }
  out.clear();
  p.Flush(out);
  all.append(out);
  return all;
}

int Main(int argc, char** argv) {
  CLI::App app{"Uplink bandwidth report"};
  std::string input, sensor, label, eps_list = "0.1,0.5";
  app.add_option("--input", input, "CSV recording")->required();
  app.add_option("--sensor", sensor, "Sensor name for two-column CSV files");
  app.add_option("--label", label, "Data set name for the table");
  app.add_option("--eps", eps_list, "Comma-separated absolute error bounds");
  CLI11_PARSE(app, argc, argv);
  if (label.empty()) label = std::filesystem::path(input).filename().string();

  FileSourceConfig fc;
  fc.path = input;
  fc.sensor = sensor;
  fc.metric = "value";
  BuildContext ctx;
  ctx.as_fast_as_possible = true;
  auto src = FileSource::Create(fc, ctx);
  if (!src.ok()) {
    std::fprintf(stderr, "%s\n", src.status().ToString().c_str());
    return 1;
  }
  std::vector<Reading> in;
  StopToken stop;
  SourceContext sc;
  sc.clock = ctx.clock;
  sc.stop = &stop;
  sc.batch_size = 4096;
  sc.emit = [&](Batch& b) {
    in.insert(in.end(), b.readings.begin(), b.readings.end());
    b.clear();
  };
  if (Status st = (*src)->Run(sc); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  const double csv_bytes = static_cast<double>(std::filesystem::file_size(input));
  const double n = static_cast<double>(in.size());
  const UplinkFormat json{}, binary{UplinkEncoding::kBinary, UplinkCompression::kNone},
      packed{UplinkEncoding::kBinary, UplinkCompression::kZstd, 19};
  const double base = static_cast<double>(Send(in, "readings", json, 1));
  auto row = [&](const std::string& method, const std::string& eps, double bytes, const std::string& err) {
    std::printf("| %s | %s | %s | %.0f | %.2f | %.3f%% | %.2f%% | %s |\n", label.c_str(), method.c_str(), eps.c_str(),
                bytes, bytes / n, 100.0 * bytes / base, 100.0 * bytes / csv_bytes, err.c_str());
  };
  std::fprintf(stderr, "%s: %zu readings, %.0f CSV bytes\n", label.c_str(), in.size(), csv_bytes);
  row("JSON, one message per reading (baseline)", "0", base, "0");
  row("JSON, 500 per message", "0", double(Send(in, "readings", json, kBatch)), "0");
  {
    std::vector<std::string> pl;
    const double b = double(Send(in, "readings", binary, kBatch, &pl));
    row("binary, 500 per message", "0", b, fmt::format("{:g}", MaxError(in, Received(pl), false)));
  }
  {
    std::vector<std::string> pl;
    const double b = double(Send(in, "readings", packed, kBatch, &pl));
    row("binary + zstd, 500 per message", "0", b, fmt::format("{:g}", MaxError(in, Received(pl), false)));
  }
  for (size_t pos = 0; pos < eps_list.size();) {
    size_t comma = eps_list.find(',', pos);
    const std::string e = eps_list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? eps_list.size() : comma + 1;
    const double eps = std::stod(e);
    // Lossy methods: what a processor keeps, sent as binary + zstd; the error
    // is measured on the receiver's reconstruction.
    auto lossy = [&](const std::string& method, Processor& p, bool linear) {
      const auto kept = RunProcessor(p, in).readings;
      std::vector<std::string> pl;
      const double b = double(Send(kept, "readings", packed, kBatch, &pl));
      row(fmt::format("{} + binary + zstd ({:.2f}% of readings kept)", method, 100.0 * kept.size() / n), e, b,
          fmt::format("{:.4g}", MaxError(in, Received(pl), linear)));
    };
    DeadbandConfig dc;
    dc.absolute = eps;
    lossy("deadband (report by exception)", *std::move(DeadbandProcessor::Create(dc, ctx)).value(), false);
    SwingingDoorConfig sd;
    sd.epsilon = eps;
    lossy("swinging door", *std::move(SwingingDoorProcessor::Create(sd, ctx)).value(), true);
  }
  {
    WindowConfig wc;
    wc.size_secs = 3600;
    wc.forward_readings = false;
    auto p = std::move(WindowProcessor::Create(wc, ctx)).value();
    const Batch all = RunProcessor(*p, in);
    row("1 h window aggregates (count, mean, min, max, stddev, p50, p95, rate, last), JSON + zstd", "-",
        double(Send(all.aggregates, "aggregates", UplinkFormat{UplinkEncoding::kJson, UplinkCompression::kZstd, 19}, kBatch)),
        "not bounded");
  }
  return 0;
}

}  // namespace
}  // namespace edgeflow

int main(int argc, char** argv) { return edgeflow::Main(argc, argv); }
