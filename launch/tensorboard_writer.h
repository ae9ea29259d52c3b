// TensorBoard scalar summaries written without TensorFlow: hand-encoded Event protocol buffers
// in TFRecord framing (length, masked CRC32C, data, masked CRC32C). One writer per file; not
// thread-safe (call it from one thread, e.g. rank 0's training loop).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "data/crc32c.h"

namespace st {

// The TFRecord masking of a CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

// Writes TensorBoard scalar summaries to DIR/events.out.tfevents.<unix seconds>.<hostname>.<pid>
// (a ".N" suffix is added when a writer already made that file in the same second).
class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::string& dir);  // creates dir; throws st::Error naming it
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;
  ~TensorBoardWriter();  // flushes

  void scalar(const std::string& tag, double value, int64_t step);  // wall_time = now
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace st
