#pragma once
// JSON lines for every event type, shared by the file sink and `edgeflow replay`.
//   {"type":"reading","ts":"…","sensor":"…","metric":"…","value":1.5,"quality":"good","seq":7}
//   {"type":"aggregate","window":"…","sensor":"…","metric":"…","start":"…","end":"…","count":60,"mean":…}
//   {"type":"alert","state":"open","rule":"…","severity":"…","sensor":"…","metric":"…","ts":"…","opened_at":"…","value":…,"origin":"…"}
//   {"type":"dead_letter","origin":"…","reason":"…","sensor":"…","metric":"…","ts":"…","value":…,"detail":"…"}
// Non-finite numbers are written as null (JSON has no NaN).
#include <string>

#include "core/reading.h"

namespace edgeflow {

// How timestamps are written: ISO 8601 strings (default) or integer epochs.
enum class TsFormat { kIso, kEpochUs, kEpochMs };

void AppendJson(std::string& out, const Reading& r, TsFormat ts = TsFormat::kIso);
void AppendJson(std::string& out, const Aggregate& a, TsFormat ts = TsFormat::kIso);
void AppendJson(std::string& out, const AlertEvent& a, TsFormat ts = TsFormat::kIso);
void AppendJson(std::string& out, const DeadLetter& d, TsFormat ts = TsFormat::kIso);
// Appends one line per event of `b` of the kinds `what` selects.
void AppendBatchJsonl(std::string& out, const Batch& b, const EventMask& what);

}  // namespace edgeflow
