// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of TensorBoard's TFRecord
// framing and of each dataset of a checkpoint. The SSE4.2 crc32 instruction where the CPU has
// it (chosen at run time, so a portable build keeps it), a table otherwise; same results.
#pragma once
#include <cstddef>
#include <cstdint>

namespace st {

// CRC32C of `size` bytes at `data`; crc32c("123456789") = 0xE3069283.
uint32_t crc32c(const void* data, size_t size);

// The same by the table, whatever the CPU (for tests of the fast path).
uint32_t crc32c_portable(const void* data, size_t size);

}  // namespace st
