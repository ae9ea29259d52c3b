// Shard format v1: writing, reading a shard written by h5py, and one test per validation case
// (each error names the file and the problem).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "tests/support/expect_error.h"
#include "core/tensor/error.h"
#include "data/h5.h"
#include "data/shard.h"
#include "data/tasks/inspect.h"
#include "tests/data/temp_dir.h"

namespace st {
namespace {

using testing::TempDir;

ShardMeta classification_meta() {
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = 10;
  m.num_classes = 3;
  m.seq_len = 4;
  m.vocabulary = {"<pad>", "a", "b", "c", "d", "e", "f", "g", "h", "\t\"quoted\""};
  return m;
}

void write_shard(const std::string& path, const ShardMeta& m, int64_t n, int offset = 0) {
  ShardWriter w(path, m, 3);
  std::vector<int32_t> in, in2, lab;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m.seq_len; ++j) in.push_back(static_cast<int32_t>((i + j + offset) % m.vocab_size));
    if (m.pair)
      for (int64_t j = 0; j < m.seq_len; ++j) in2.push_back(static_cast<int32_t>((2 * i + j) % m.vocab_size));
    if (!m.is_lm()) lab.push_back(static_cast<int32_t>((i + offset) % m.num_classes));
  }
  w.append(in, in2, lab);
  w.close();
}

using testing::expect_error;

TEST(Shard, WriteThenValidateRoundTrip) {
  TempDir dir;
  ShardMeta m = classification_meta();
  write_shard(dir.file("a.h5"), m, 10);
  ShardInfo info = validate_shard(dir.file("a.h5"));
  EXPECT_EQ(info.examples, 10);
  EXPECT_EQ(info.meta.task, "toy");
  EXPECT_EQ(info.meta.seq_len, 4);
  EXPECT_EQ(info.meta.vocabulary, m.vocabulary);
  h5::File f = h5::File::open_read(dir.file("a.h5"));
  EXPECT_EQ(f.read_i32("labels")[4], 1);
  std::vector<int32_t> block(2 * 2);
  f.read_i32_block("inputs", 3, 2, 1, 2, block.data());  // rows 3-4, columns 1-2
  EXPECT_EQ(block, (std::vector<int32_t>{4, 5, 5, 6}));
}

// Every value of a dataset is visited once, in row-major order, in pieces of bounded size:
// whole-row blocks when rows are narrow, column ranges of one row when a row is wider than a piece.
TEST(Shard, PiecesVisitEveryValueOnceWithinTheBound) {
  TempDir dir;
  for (int64_t cols : {int64_t{5}, h5::File::kPieceValues + 3}) {
    const int64_t rows = cols == 5 ? h5::File::kPieceValues / 5 + 7 : 2;  // narrow: 2 blocks
    std::vector<int32_t> values(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int32_t>(i % 1000003);
    {
      h5::File f = h5::File::create(dir.file("m.h5"));
      f.write_i32("m", {rows, cols}, values.data(), cols == 5 ? 65536 : 1);
      f.close();
    }
    h5::File f = h5::File::open_read(dir.file("m.h5"));
    int64_t next = 0, pieces = 0;  // the flat index the next piece must start at
    f.for_each_i32_piece("m", rows, cols, [&](int64_t r0, int64_t n, int64_t c0, int64_t w, const int32_t* d) {
      ASSERT_LE(n * w, h5::File::kPieceValues);
      ASSERT_EQ(r0 * cols + c0, next) << "pieces out of order";
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < w; ++c)
          ASSERT_EQ(d[r * w + c], values[static_cast<size_t>((r0 + r) * cols + c0 + c)]);
      next = n > 1 ? (r0 + n) * cols : r0 * cols + c0 + w;
      if (n == 1 && c0 + w == cols) next = (r0 + 1) * cols;
      ++pieces;
    });
    EXPECT_EQ(next, rows * cols) << cols << " columns";
    EXPECT_EQ(pieces, cols == 5 ? 2 : 4) << cols << " columns";
  }
}

// A shard whose rows are wider than a read piece validates, and an out-of-range token in the
// second piece of a row is reported at the right example.
TEST(Shard, RowsWiderThanAPieceAreCheckedInPieces) {
  TempDir dir;
  ShardMeta m = classification_meta();
  m.seq_len = h5::File::kPieceValues + 2;
  std::vector<int32_t> in(static_cast<size_t>(2 * m.seq_len), 1), lab{0, 2};
  {
    ShardWriter w(dir.file("wide.h5"), m, 1);
    w.append(in, {}, lab);
    w.close();
  }
  EXPECT_EQ(validate_shard(dir.file("wide.h5")).examples, 2);
  std::string report = tasks::inspect_shards({dir.file("wide.h5")}, 3);
  std::string len = std::to_string(m.seq_len);
  EXPECT_NE(report.find("min " + len + ", mean " + len + ".0, max " + len), std::string::npos) << report;
  EXPECT_NE(report.find("(first 3 of " + len + " tokens): a a a"), std::string::npos) << report;
  // The same rows with a token past vocab_size at the end of the second row (written directly:
  // the shard writer refuses it).
  in.back() = 10;
  {
    h5::File f = h5::File::create(dir.file("bad.h5"));
    f.set_attribute("format", std::string(kShardFormat));
    f.set_attribute("version", int64_t{kShardVersion});
    f.set_attribute("task", m.task);
    f.set_attribute("vocab_size", m.vocab_size);
    f.set_attribute("num_classes", m.num_classes);
    f.set_attribute("seq_len", m.seq_len);
    f.write_i32("inputs", {2, m.seq_len}, in.data(), 1);
    f.write_i32("labels", {2}, lab.data(), 1);
    f.close();
  }
  expect_error([&] { validate_shard(dir.file("bad.h5")); }, {"bad.h5", "holds token 10 at example 1"});
  // The headers-only check (a suite's pre-flight) reads no values: it passes, with the counts.
  EXPECT_EQ(validate_shard(dir.file("bad.h5"), ShardCheck::Headers).examples, 2);
  // ... but still refuses bad headers.
  {
    h5::File f = h5::File::create(dir.file("headless.h5"));
    f.set_attribute("format", std::string(kShardFormat));
    f.close();
  }
  expect_error([&] { validate_shard(dir.file("headless.h5"), ShardCheck::Headers); },
               {"headless.h5", "missing attribute 'version'"});
}

TEST(Shard, PairAndLanguageModelShards) {
  TempDir dir;
  ShardMeta pair = classification_meta();
  pair.pair = true;
  write_shard(dir.file("p.h5"), pair, 5);
  EXPECT_TRUE(validate_shard(dir.file("p.h5")).meta.pair);
  ShardMeta lm = classification_meta();
  lm.num_classes = 0;
  write_shard(dir.file("lm.h5"), lm, 5);
  ShardInfo info = validate_shard(dir.file("lm.h5"));
  EXPECT_TRUE(info.meta.is_lm());
  EXPECT_FALSE(h5::File::open_read(dir.file("lm.h5")).has("labels"));
}

TEST(Shard, WriterRejectsBadIdsAndLeavesNoFile) {
  TempDir dir;
  ShardMeta m = classification_meta();
  {
    ShardWriter w(dir.file("bad.h5"), m);
    expect_error([&] { w.append({1, 2, 3, 10}, {}, {0}); }, {"bad.h5", "id 10", "[0, 10)"});
    expect_error([&] { w.append({1, 2, 3, 4}, {}, {3}); }, {"bad.h5", "label 3"});
  }  // not closed: nothing published
  EXPECT_FALSE(std::ifstream(dir.file("bad.h5")).good());
  EXPECT_FALSE(std::ifstream(dir.file("bad.h5.tmp")).good());
}

TEST(Shard, ReadsAShardWrittenByH5py) {
  TempDir dir;
  int have = std::system("python3 -c 'import h5py, numpy' >/dev/null 2>&1");
  if (have != 0) have = std::system("python3 -m pip install --quiet h5py numpy >/dev/null 2>&1");
  if (have != 0 || std::system("python3 -c 'import h5py, numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "h5py could not be imported or installed with pip";
  std::string script = dir.file("w.py");
  std::ofstream(script) << "import h5py, numpy as np, json, sys\n"
                           "with h5py.File(sys.argv[1], 'w') as f:\n"
                           "    f['inputs'] = np.array([[1, 2, 0], [3, 4, 5]], dtype=np.int32)\n"
                           "    f['labels'] = np.array([1, 0], dtype=np.int32)\n"
                           "    f.attrs['format'] = 'simpletron-shard'\n"
                           "    f.attrs['version'] = 1\n"
                           "    f.attrs['task'] = 'mine'\n"
                           "    f.attrs['vocab_size'] = 6\n"
                           "    f.attrs['num_classes'] = 2\n"
                           "    f.attrs['seq_len'] = 3\n"
                           "    f.attrs['vocabulary'] = json.dumps(['<pad>', 'a', 'b', 'c', 'd', 'e'])\n";
  ASSERT_EQ(std::system(("python3 " + script + " " + dir.file("py.h5")).c_str()), 0);
  ShardInfo info = validate_shard(dir.file("py.h5"));
  EXPECT_EQ(info.examples, 2);
  EXPECT_EQ(info.meta.task, "mine");
  EXPECT_EQ(info.meta.vocabulary.size(), 6u);
  EXPECT_EQ(h5::File::open_read(dir.file("py.h5")).read_i32("inputs")[4], 4);
}

// Writes a hand-made (possibly broken) shard.
struct RawShard {
  std::vector<int64_t> input_dims{2, 3};
  bool inputs_float = false;
  std::vector<int32_t> inputs{1, 2, 3, 4, 5, 6};
  std::vector<int64_t> label_dims{2};
  std::vector<int32_t> labels{0, 1};
  bool with_inputs = true, with_labels = true;
  int64_t vocab = 10, classes = 2, seq_len = 3;
  std::string format = "simpletron-shard";
  void write(const std::string& path) const {
    h5::File f = h5::File::create(path);
    if (with_inputs) {
      if (inputs_float) {
        std::vector<float> fl(inputs.begin(), inputs.end());
        f.write_f32("inputs", input_dims, fl.data());
      } else {
        f.write_i32("inputs", input_dims, inputs.data());
      }
    }
    if (with_labels) f.write_i32("labels", label_dims, labels.data());
    f.set_attribute("format", format);
    f.set_attribute("version", int64_t(1));
    f.set_attribute("task", std::string("raw"));
    f.set_attribute("vocab_size", vocab);
    f.set_attribute("num_classes", classes);
    f.set_attribute("seq_len", seq_len);
  }
};

TEST(ShardValidation, MissingDataset) {
  TempDir dir;
  RawShard r;
  r.with_labels = false;
  r.write(dir.file("s.h5"));
  expect_error([&] { validate_shard(dir.file("s.h5")); }, {"s.h5", "missing dataset /labels"});
  r = RawShard();
  r.with_inputs = false;
  r.write(dir.file("t.h5"));
  expect_error([&] { validate_shard(dir.file("t.h5")); }, {"t.h5", "missing dataset /inputs"});
}

TEST(ShardValidation, WrongDtype) {
  TempDir dir;
  RawShard r;
  r.inputs_float = true;
  r.write(dir.file("s.h5"));
  expect_error([&] { validate_shard(dir.file("s.h5")); }, {"s.h5", "/inputs must hold int32"});
}

TEST(ShardValidation, WrongRank) {
  TempDir dir;
  RawShard r;
  r.input_dims = {6};
  r.write(dir.file("s.h5"));
  expect_error([&] { validate_shard(dir.file("s.h5")); }, {"s.h5", "/inputs must have rank 2"});
  RawShard l;
  l.label_dims = {2, 1};
  l.write(dir.file("l.h5"));
  expect_error([&] { validate_shard(dir.file("l.h5")); }, {"l.h5", "/labels must have rank 1"});
}

TEST(ShardValidation, InputsAndLabelsOfDifferentLengths) {
  TempDir dir;
  RawShard r;
  r.label_dims = {3};
  r.labels = {0, 1, 1};
  r.write(dir.file("s.h5"));
  expect_error([&] { validate_shard(dir.file("s.h5")); }, {"s.h5", "/inputs has 2 examples but /labels has 3"});
}

TEST(ShardValidation, TokensOutOfRange) {
  TempDir dir;
  RawShard r;
  r.inputs[4] = 10;
  r.write(dir.file("big.h5"));
  expect_error([&] { validate_shard(dir.file("big.h5")); }, {"big.h5", "token 10", "example 1", "vocab_size = 10"});
  r.inputs[4] = -3;
  r.write(dir.file("neg.h5"));
  expect_error([&] { validate_shard(dir.file("neg.h5")); }, {"neg.h5", "token -3"});
}

TEST(ShardValidation, LabelsOutOfRange) {
  TempDir dir;
  RawShard r;
  r.labels = {0, 2};
  r.write(dir.file("s.h5"));
  expect_error([&] { validate_shard(dir.file("s.h5")); }, {"s.h5", "/labels holds 2", "num_classes = 2"});
}

TEST(ShardValidation, AttributesThatDifferBetweenShards) {
  TempDir dir;
  ShardMeta m = classification_meta();
  write_shard(dir.file("train-0.h5"), m, 4);
  m.vocab_size = 12;
  write_shard(dir.file("train-1.h5"), m, 4);
  expect_error([&] { open_split(dir.file("train-*.h5")); },
               {"disagree", "train-0.h5", "vocab_size 10", "train-1.h5", "12"});
}

TEST(ShardValidation, TruncatedAndCorruptFiles) {
  TempDir dir;
  write_shard(dir.file("good.h5"), classification_meta(), 50);
  std::ifstream in(dir.file("good.h5"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.file("trunc.h5"), std::ios::binary).write(bytes.data(), bytes.size() / 2);
  expect_error([&] { validate_shard(dir.file("trunc.h5")); }, {"trunc.h5"});
  std::ofstream(dir.file("junk.h5")) << "this is not an HDF5 file";
  expect_error([&] { validate_shard(dir.file("junk.h5")); }, {"junk.h5", "not a readable HDF5 file"});
  expect_error([&] { validate_shard(dir.file("missing.h5")); }, {"missing.h5", "cannot open"});
}

TEST(ShardValidation, ForeignHdf5File) {
  TempDir dir;
  RawShard r;
  r.format = "something-else";
  r.write(dir.file("s.h5"));
  expect_error([&] { validate_shard(dir.file("s.h5")); }, {"s.h5", "format is 'something-else'"});
}

TEST(ShardValidation, GlobMatchingNothing) {
  TempDir dir;
  expect_error([&] { open_split(dir.file("nothing-*.h5")); }, {"nothing-*.h5", "matches no shard files"});
}

}  // namespace
}  // namespace st
