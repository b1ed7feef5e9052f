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

void AppendJson(std::string& out, const Reading& r);
void AppendJson(std::string& out, const Aggregate& a);
void AppendJson(std::string& out, const AlertEvent& a);
void AppendJson(std::string& out, const DeadLetter& d);
// Appends one line per event of `b`; readings only when `readings` is true.
void AppendBatchJsonl(std::string& out, const Batch& b, bool readings);

}  // namespace edgeflow
