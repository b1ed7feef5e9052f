#include "sinks/event_json.h"

#include <fmt/format.h>

#include <cmath>

#include "core/timefmt.h"

namespace edgeflow {

namespace {

void Str(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        else out += c;
    }
  }
  out += '"';
}

void Num(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", v);
}

void Ts(std::string& out, TimeUs t, TsFormat f) {
  switch (f) {
    case TsFormat::kEpochUs: fmt::format_to(std::back_inserter(out), "{}", t); return;
    case TsFormat::kEpochMs: fmt::format_to(std::back_inserter(out), "{}", t / 1000); return;
    case TsFormat::kIso: break;
  }
  out += '"';
  out += FormatTimestamp(t);
  out += '"';
}

}  // namespace

void AppendJson(std::string& out, const Reading& r, TsFormat tf) {
  out += R"({"type":"reading","ts":)";
  Ts(out, r.ts, tf);
  out += R"(,"sensor":)";
  Str(out, SymName(r.sensor));
  out += R"(,"metric":)";
  Str(out, SymName(r.metric));
  out += R"(,"value":)";
  Num(out, r.value);
  out += R"(,"quality":")";
  out += QualityName(r.quality);
  fmt::format_to(std::back_inserter(out), R"(","seq":{}}})", r.seq);
}

void AppendJson(std::string& out, const Aggregate& a, TsFormat tf) {
  out += R"({"type":"aggregate","window":)";
  Str(out, SymName(a.window));
  out += R"(,"sensor":)";
  Str(out, SymName(a.sensor));
  out += R"(,"metric":)";
  Str(out, SymName(a.metric));
  out += R"(,"start":)";
  Ts(out, a.start, tf);
  out += R"(,"end":)";
  Ts(out, a.end, tf);
  for (size_t i = 0; i < kNumAggFields; ++i) {
    out += ",\"";
    out += AggFieldName(static_cast<AggField>(i));
    out += "\":";
    Num(out, a.f[i]);
  }
  out += '}';
}

void AppendJson(std::string& out, const AlertEvent& a, TsFormat tf) {
  out += R"({"type":"alert","state":")";
  out += a.state == AlertState::kOpen ? "open" : "clear";
  out += R"(","rule":)";
  Str(out, SymName(a.rule));
  out += R"(,"severity":")";
  out += SeverityName(a.severity);
  out += R"(","sensor":)";
  Str(out, SymName(a.sensor));
  out += R"(,"metric":)";
  Str(out, SymName(a.metric));
  out += R"(,"ts":)";
  Ts(out, a.ts, tf);
  out += R"(,"opened_at":)";
  Ts(out, a.opened_at, tf);
  out += R"(,"value":)";
  Num(out, a.value);
  out += R"(,"origin":)";
  Str(out, SymName(a.origin));
  out += '}';
}

void AppendJson(std::string& out, const DeadLetter& d, TsFormat tf) {
  out += R"({"type":"dead_letter","origin":)";
  Str(out, SymName(d.origin));
  out += R"(,"reason":)";
  Str(out, d.reason);
  out += R"(,"sensor":)";
  Str(out, SymName(d.reading.sensor));
  out += R"(,"metric":)";
  Str(out, SymName(d.reading.metric));
  out += R"(,"ts":)";
  Ts(out, d.reading.ts, tf);
  out += R"(,"value":)";
  Num(out, d.reading.value);
  out += R"(,"detail":)";
  Str(out, d.detail);
  out += '}';
}

template <class Events>
static void AppendLines(std::string& out, const Events& events) {
  for (const auto& e : events) {
    AppendJson(out, e);
    out += '\n';
  }
}

void AppendBatchJsonl(std::string& out, const Batch& b, const EventMask& what) {
  if (what.readings) AppendLines(out, b.readings);
  if (what.aggregates) AppendLines(out, b.aggregates);
  if (what.alerts) AppendLines(out, b.alerts);
  if (what.dead_letters) AppendLines(out, b.dead_letters);
}

}  // namespace edgeflow
