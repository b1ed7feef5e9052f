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
#include <string>
#include <vector>

#include "core/reading.h"
#include "core/status.h"

namespace edgeflow {

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
