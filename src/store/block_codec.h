#pragma once
// Encoding of a block of readings of one series, as stored in the
// `reading_blocks.data` column (format in docs/store.md):
//
//   u8      version (1)
//   varint  n
//   n x     zigzag varint ts delta (µs; the first relative to 0)
//   n x     f64 little-endian value (raw bits: lossless, NaN included)
//   n x     zigzag varint seq delta (the first relative to 0)
//   u8      quality mode: 0 = all good (nothing follows), 1 = n bytes follow
//
// Readings keep their arrival order; nothing is rounded.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/reading.h"
#include "core/status.h"

namespace edgeflow {

// Varints and a bounds-checked reader, shared by the binary encodings.
inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
inline uint64_t Zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t Unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      uint8_t b = *p_++;
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Bytes(void* dst, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    std::memcpy(dst, p_, n);
    p_ += n;
    return true;
  }
  // A view of the next n bytes.
  bool View(size_t n, const uint8_t** out) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    *out = p_;
    p_ += n;
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

struct BlockPoint {
  TimeUs ts;
  double value;
  uint64_t seq;
  Quality quality;
};

// Appends the encoding of `points` to `out`.
void EncodeBlock(const BlockPoint* points, size_t n, std::string& out);
// Decodes a block; fails on truncated or malformed data.
Status DecodeBlock(const uint8_t* data, size_t size, std::vector<BlockPoint>& out);

}  // namespace edgeflow
