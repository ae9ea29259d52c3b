// TensorBoard event-file writer: masked CRC32C, the protocol-buffer wire encoding of Event/Summary
// messages, and TFRecord framing, all written here (no TensorFlow or protobuf library).
#include "launch/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/tensor/error.h"
#include "data/crc32c.h"
#include "data/io_error.h"

namespace st {
namespace {


// Protocol-buffer wire types.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void append_little_endian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void append_key(std::string& out, uint32_t field, WireType type) {
  append_varint(out, (uint64_t{field} << 3) | type);
}

void append_double(std::string& out, uint32_t field, double value) {
  append_key(out, field, kFixed64);
  append_little_endian(out, std::bit_cast<uint64_t>(value), 8);
}

void append_float(std::string& out, uint32_t field, float value) {
  append_key(out, field, kFixed32);
  append_little_endian(out, std::bit_cast<uint32_t>(value), 4);
}

void append_int64(std::string& out, uint32_t field, int64_t value) {
  append_key(out, field, kVarint);
  append_varint(out, static_cast<uint64_t>(value));  // negatives: ten-byte two's complement
}

void append_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  append_key(out, field, kLengthDelimited);
  append_varint(out, bytes.size());
  out += bytes;
}

double unix_seconds_now() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t size) {
  uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ST_CHECK(!ec, "TensorBoard: cannot create directory '", dir, "': ", ec.message());
  const double now = unix_seconds_now();
  const std::string base = dir + "/events.out.tfevents." +
                           std::to_string(static_cast<int64_t>(now)) + "." + host_name() + "." +
                           std::to_string(getpid());
  // "x": exclusive creation, so two writers started in the same second never share a file.
  for (int attempt = 0; attempt < 1000 && file_ == nullptr; ++attempt) {
    path_ = attempt == 0 ? base : base + "." + std::to_string(attempt);
    file_ = std::fopen(path_.c_str(), "wbx");
    if (file_ == nullptr && errno != EEXIST) break;
  }
  ST_CHECK(file_ != nullptr, "TensorBoard: cannot write event file '", path_,
           "': ", errno_message(errno));

  std::string event;
  append_double(event, 1, now);               // Event.wall_time
  append_bytes(event, 3, "brain.Event:2");    // Event.file_version
  write_record(event);
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_ != nullptr) std::fclose(file_);  // fclose flushes; errors cannot be thrown here
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  std::string summary_value;
  append_bytes(summary_value, 1, tag);                             // Value.tag
  append_float(summary_value, 2, static_cast<float>(value));       // Value.simple_value
  std::string summary;
  append_bytes(summary, 1, summary_value);                         // Summary.value (repeated)
  std::string event;
  append_double(event, 1, unix_seconds_now());                     // Event.wall_time
  append_int64(event, 2, step);                                    // Event.step
  append_bytes(event, 5, summary);                                 // Event.summary
  write_record(event);
}

void TensorBoardWriter::flush() {
  ST_CHECK(std::fflush(file_) == 0, "TensorBoard: cannot write event file '", path_,
           "': ", errno_message(errno));
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string record;
  append_little_endian(record, data.size(), 8);
  append_little_endian(record, masked_crc32c(record.data(), 8), 4);
  record += data;
  append_little_endian(record, masked_crc32c(data.data(), data.size()), 4);
  ST_CHECK(std::fwrite(record.data(), 1, record.size(), file_) == record.size(),
           "TensorBoard: cannot write event file '", path_, "': ", errno_message(errno));
}

}  // namespace st
