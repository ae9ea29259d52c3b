// CRC32C: the hardware path (SSE4.2, where the CPU has it) equals the table on every length and
// alignment, and both give the standard check value.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "data/crc32c.h"

namespace st {
namespace {

TEST(Crc32c, FastPathEqualsTheTableOnEveryLengthAndAlignment) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_portable("123456789", 9), 0xE3069283u);
  std::vector<unsigned char> bytes(4096 + 16);
  uint64_t s = 7;
  for (auto& b : bytes) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<unsigned char>(s >> 56);
  }
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u, 4096u})
      EXPECT_EQ(crc32c(bytes.data() + offset, n), crc32c_portable(bytes.data() + offset, n))
          << "offset " << offset << ", " << n << " bytes";
}

}  // namespace
}  // namespace st
