#include "sources/modbus_source.h"

#include <gtest/gtest.h>

#include <cmath>

namespace edgeflow {
namespace {

TEST(ModbusCodec, EveryTypeRoundTripsInEveryByteAndWordOrder) {
  const std::pair<ModbusType, double> cases[] = {
      {ModbusType::kInt16, -1234},      {ModbusType::kUint16, 65000},         {ModbusType::kInt32, -123456789},
      {ModbusType::kUint32, 4000000000}, {ModbusType::kFloat32, 21.5},         {ModbusType::kInt64, -1234567890123},
      {ModbusType::kUint64, 9.0e15},    {ModbusType::kFloat64, -0.000123456789}};
  for (auto [type, value] : cases)
    for (auto bo : {WordOrder::kBig, WordOrder::kLittle})
      for (auto wo : {WordOrder::kBig, WordOrder::kLittle}) {
        uint16_t regs[4] = {};
        EncodeModbus(value, type, bo, wo, regs);
        EXPECT_EQ(DecodeModbus(regs, type, bo, wo), value) << int(type) << " " << int(bo) << int(wo);
      }
}

TEST(ModbusCodec, KnownLayouts) {
  // 0x41AC0000 is 21.5f: big-endian words "ABCD", swapped words "CDAB", swapped bytes "BADC".
  const uint16_t abcd[] = {0x41AC, 0x0000}, cdab[] = {0x0000, 0x41AC}, badc[] = {0xAC41, 0x0000};
  EXPECT_EQ(DecodeModbus(abcd, ModbusType::kFloat32, WordOrder::kBig, WordOrder::kBig), 21.5);
  EXPECT_EQ(DecodeModbus(cdab, ModbusType::kFloat32, WordOrder::kBig, WordOrder::kLittle), 21.5);
  EXPECT_EQ(DecodeModbus(badc, ModbusType::kFloat32, WordOrder::kLittle, WordOrder::kBig), 21.5);
  const uint16_t neg[] = {0xFFFF};
  EXPECT_EQ(DecodeModbus(neg, ModbusType::kInt16, WordOrder::kBig, WordOrder::kBig), -1);
  EXPECT_EQ(DecodeModbus(neg, ModbusType::kUint16, WordOrder::kBig, WordOrder::kBig), 65535);
}

}  // namespace
}  // namespace edgeflow
