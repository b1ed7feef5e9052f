#include "store/block_codec.h"


namespace edgeflow {


void EncodeBlock(const BlockPoint* pts, size_t n, std::string& out) {
  out.push_back(1);
  PutVarint(out, n);
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    PutVarint(out, Zigzag(pts[i].ts - prev));
    prev = pts[i].ts;
  }
  const size_t at = out.size();
  out.resize(at + n * 8);
  for (size_t i = 0; i < n; ++i) std::memcpy(&out[at + i * 8], &pts[i].value, 8);  // x86/ARM: little-endian
  uint64_t prev_seq = 0;
  for (size_t i = 0; i < n; ++i) {
    PutVarint(out, Zigzag(static_cast<int64_t>(pts[i].seq - prev_seq)));
    prev_seq = pts[i].seq;
  }
  bool all_good = true;
  for (size_t i = 0; i < n && all_good; ++i) all_good = pts[i].quality == Quality::kGood;
  out.push_back(all_good ? 0 : 1);
  if (!all_good)
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(pts[i].quality));
}

Status DecodeBlock(const uint8_t* data, size_t size, std::vector<BlockPoint>& out) {
  ByteReader r(data, size);
  uint8_t version = 0;
  uint64_t n = 0;
  if (!r.Bytes(&version, 1) || version != 1) return Status::Invalid("reading block: unknown version");
  // Every point takes at least 10 bytes: a timestamp varint, 8 value bytes, a sequence varint.
  if (!r.Varint(&n) || n > size / 10) return Status::Invalid("reading block: bad count");
  const size_t base = out.size();
  out.resize(base + n);
  int64_t ts = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t v;
    if (!r.Varint(&v)) return Status::Invalid("reading block: truncated timestamps");
    ts += Unzigzag(v);
    out[base + i].ts = ts;
  }
  for (uint64_t i = 0; i < n; ++i)
    if (!r.Bytes(&out[base + i].value, 8)) return Status::Invalid("reading block: truncated values");
  uint64_t seq = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t v;
    if (!r.Varint(&v)) return Status::Invalid("reading block: truncated sequence numbers");
    seq += static_cast<uint64_t>(Unzigzag(v));
    out[base + i].seq = seq;
  }
  uint8_t mode = 0;
  if (!r.Bytes(&mode, 1) || mode > 1) return Status::Invalid("reading block: bad quality mode");
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t q = 0;
    if (mode == 1 && (!r.Bytes(&q, 1) || q > 2)) return Status::Invalid("reading block: bad quality");
    out[base + i].quality = static_cast<Quality>(q);
  }
  if (!r.done()) return Status::Invalid("reading block: trailing bytes");
  return Status::Ok();
}

}  // namespace edgeflow
