// TensorBoardWriter: CRC32C known answers, the TFRecord framing and Event encoding re-read here,
// and the real `tensorboard` Python package reading the scalars back (skipped when unavailable).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor/error.h"
#include "launch/tensorboard_writer.h"
#include "tests/data/temp_dir.h"

namespace {

struct WrittenScalar {
  std::string tag;
  double value;
  int64_t step;
};

const std::vector<WrittenScalar> kScalars = {
    {"train/loss", 2.5, 0},     {"train/loss", 1.25, 300},      {"train/loss", 0.1, 70000},
    {"val/accuracy", 0.75, 300}, {"lr", 3e-4, 1'000'000'000'000}};

std::string write_scalars(const std::string& dir) {
  st::TensorBoardWriter writer(dir);
  for (const auto& s : kScalars) writer.scalar(s.tag, s.value, s.step);
  return writer.path();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

uint64_t little_endian(const std::string& bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i)
    value |= uint64_t{static_cast<unsigned char>(bytes.at(at + i))} << (8 * i);
  return value;
}

// Splits a TFRecord file into its records, checking every length and CRC.
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < file.size()) {
    EXPECT_GE(file.size() - at, 12u) << "truncated header at byte " << at;
    uint64_t length = little_endian(file, at, 8);
    EXPECT_EQ(little_endian(file, at + 8, 4), st::masked_crc32c(file.data() + at, 8));
    at += 12;
    EXPECT_GE(file.size() - at, length + 4) << "truncated record at byte " << at;
    std::string data = file.substr(at, length);
    EXPECT_EQ(little_endian(file, at + length, 4), st::masked_crc32c(data.data(), data.size()));
    at += length + 4;
    records.push_back(data);
  }
  return records;
}

// One decoded protocol-buffer field: varint, fixed32/64 in `number_value`, or bytes.
struct ProtoField {
  uint32_t field = 0;
  uint32_t wire_type = 0;
  uint64_t number_value = 0;
  std::string bytes;
};

uint64_t read_varint(const std::string& message, size_t& at) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    auto byte = static_cast<unsigned char>(message.at(at++));
    value |= uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return value;
  }
}

std::vector<ProtoField> decode(const std::string& message) {
  std::vector<ProtoField> fields;
  size_t at = 0;
  while (at < message.size()) {
    uint64_t key = read_varint(message, at);
    ProtoField f;
    f.field = static_cast<uint32_t>(key >> 3);
    f.wire_type = static_cast<uint32_t>(key & 7);
    if (f.wire_type == 0) {
      f.number_value = read_varint(message, at);
    } else if (f.wire_type == 1 || f.wire_type == 5) {
      int size = f.wire_type == 1 ? 8 : 4;
      f.number_value = little_endian(message, at, size);
      at += size;
    } else if (f.wire_type == 2) {
      uint64_t length = read_varint(message, at);
      f.bytes = message.substr(at, length);
      at += length;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire_type;
      break;
    }
    fields.push_back(f);
  }
  return fields;
}

// Runs a shell command; returns its exit status and (through `output`) its stdout.
int run_command(const std::string& command, std::string* output = nullptr) {
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    if (output != nullptr) output->append(buffer, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(st::crc32c("123456789", 9), 0xE3069283u);
  std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF), ascending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(st::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(st::crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(st::crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  EXPECT_EQ(st::crc32c("", 0), 0u);
}

TEST(TensorBoardWriter, FramingAndEventsReadBack) {
  st::testing::TempDir tmp;
  std::string path = write_scalars(tmp.path() + "/run/tb");
  EXPECT_EQ(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);

  std::vector<std::string> records = read_records(read_file(path));
  ASSERT_EQ(records.size(), 1 + kScalars.size());

  auto header = decode(records[0]);
  ASSERT_EQ(header.size(), 2u);
  EXPECT_EQ(header[0].field, 1u);  // wall_time
  EXPECT_GT(std::bit_cast<double>(header[0].number_value), 1.5e9);
  EXPECT_EQ(header[1].field, 3u);
  EXPECT_EQ(header[1].bytes, "brain.Event:2");

  for (size_t i = 0; i < kScalars.size(); ++i) {
    auto event = decode(records[i + 1]);
    ASSERT_EQ(event.size(), 3u);
    EXPECT_EQ(event[0].field, 1u);
    EXPECT_EQ(event[1].field, 2u);
    EXPECT_EQ(static_cast<int64_t>(event[1].number_value), kScalars[i].step);
    ASSERT_EQ(event[2].field, 5u);
    auto summary = decode(event[2].bytes);
    ASSERT_EQ(summary.size(), 1u);
    auto value = decode(summary[0].bytes);
    ASSERT_EQ(value.size(), 2u);
    EXPECT_EQ(value[0].bytes, kScalars[i].tag);
    EXPECT_EQ(value[1].wire_type, 5u);
    EXPECT_EQ(std::bit_cast<float>(static_cast<uint32_t>(value[1].number_value)),
              static_cast<float>(kScalars[i].value));
  }
}

TEST(TensorBoardWriter, UnwritableDirectoryThrowsNamingIt) {
  st::testing::TempDir tmp;
  std::ofstream(tmp.file("a_file")) << "x";
  std::string dir = tmp.file("a_file") + "/sub";
  try {
    st::TensorBoardWriter writer(dir);
    FAIL() << "expected st::Error";
  } catch (const st::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
}

TEST(TensorBoardWriter, TwoWritersInOneDirectoryGetSeparateFiles) {
  st::testing::TempDir tmp;
  st::TensorBoardWriter first(tmp.path()), second(tmp.path());
  EXPECT_NE(first.path(), second.path());
}

TEST(TensorBoardWriter, TensorBoardPackageReadsScalars) {
  const std::string quiet = " >/dev/null 2>&1";
  if (run_command("python3 -c 'import tensorboard'" + quiet) != 0) {
    run_command("python3 -m pip install --quiet tensorboard" + quiet);
    if (run_command("python3 -c 'import tensorboard'" + quiet) != 0)
      GTEST_SKIP() << "the Python package `tensorboard` is not importable and "
                      "`python3 -m pip install tensorboard` did not install it";
  }
  st::testing::TempDir tmp;
  write_scalars(tmp.path() + "/run");
  std::ofstream(tmp.file("read_scalars.py")) <<
      "import sys\n"
      "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
      "acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})\n"
      "acc.Reload()\n"
      "for tag in acc.Tags()['scalars']:\n"
      "    for event in acc.Scalars(tag):\n"
      "        print(tag, event.step, repr(event.value))\n";
  std::string output;
  ASSERT_EQ(run_command("python3 " + tmp.file("read_scalars.py") + " " + tmp.path() + "/run",
                        &output), 0) << output;

  std::istringstream lines(output);
  std::string tag;
  int64_t step;
  std::string value_text;
  size_t matched = 0;
  while (lines >> tag >> step >> value_text) {
    float value = std::strtof(value_text.c_str(), nullptr);
    bool found = false;
    for (const auto& s : kScalars)
      found |= s.tag == tag && s.step == step && static_cast<float>(s.value) == value;
    EXPECT_TRUE(found) << "unexpected scalar read back: " << tag << " " << step << " " << value;
    matched += found;
  }
  EXPECT_EQ(matched, kScalars.size()) << "tensorboard printed:\n" << output;
}
