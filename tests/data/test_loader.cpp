// The streaming loader: every example once per epoch across data-parallel ranks, global batches
// that do not depend on the number of ranks, seeded shuffling, exact resume from a cursor,
// sequence-parallel column slices, eval padding.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "data/loader.h"
#include "tests/data/temp_dir.h"

namespace st {
namespace {

using testing::TempDir;

// Example i of the split has tokens (i*7 + j) % 97 + 1 and label i % 5, so a row identifies
// its example: token 0 (column 0) encodes i mod 97, label i mod 5; with < 97*5 examples the pair
// (first token, label) is unique.
constexpr int64_t kLen = 6;

int64_t write_split(const TempDir& dir, const std::vector<int64_t>& sizes, bool pair = false) {
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = 100;
  m.num_classes = 5;
  m.seq_len = kLen;
  m.pair = pair;
  int64_t id = 0;
  for (size_t s = 0; s < sizes.size(); ++s) {
    ShardWriter w(dir.file("train-" + std::to_string(s) + ".h5"), m, 7);
    std::vector<int32_t> in, in2, lab;
    for (int64_t k = 0; k < sizes[s]; ++k, ++id) {
      for (int64_t j = 0; j < kLen; ++j) in.push_back(static_cast<int32_t>((id * 7 + j) % 97 + 1));
      if (pair)
        for (int64_t j = 0; j < kLen; ++j) in2.push_back(static_cast<int32_t>((id * 3 + j) % 97 + 1));
      lab.push_back(static_cast<int32_t>(id % 5));
    }
    w.append(in, in2, lab);
    w.close();
  }
  return id;
}

// Recovers example ids from a batch (valid rows).
std::vector<int64_t> ids_of(const Batch& b, int64_t total) {
  auto in = b.inputs.to_vector<int32_t>();
  auto lab = b.labels.to_vector<int32_t>();
  int64_t C = b.inputs.size(1);
  std::vector<int64_t> out;
  for (int64_t r = 0; r < b.valid; ++r) {
    for (int64_t id = 0; id < total; ++id) {
      if ((id * 7) % 97 + 1 == in[r * C] && id % 5 == lab[r]) {
        out.push_back(id);
        break;
      }
    }
  }
  return out;
}

LoaderConfig config(const TempDir& dir) {
  LoaderConfig c;
  c.glob = dir.file("train-*.h5");
  c.batch_size = 4;
  c.seed = 17;
  c.shuffle_buffer = 16;
  c.block_size = 8;
  c.prefetch = 2;
  return c;
}

TEST(Loader, EveryExampleOncePerEpochAcrossDataParallelRanks) {
  TempDir dir;
  int64_t total = write_split(dir, {50, 13, 37});  // 100 examples, uneven shards
  for (int dp : {1, 2, 3}) {
    std::map<int64_t, int> seen;
    for (int r = 0; r < dp; ++r) {
      LoaderConfig c = config(dir);
      c.dp_rank = r;
      c.dp_size = dp;
      c.batch_size = 1;  // whole epoch in batches: nothing dropped
      Loader l(c);
      EXPECT_EQ(l.batches_per_epoch(), total / dp);
      for (int64_t k = 0; k < l.batches_per_epoch(); ++k) {
        Batch b;
        ASSERT_TRUE(l.next(b));
        for (int64_t id : ids_of(b, total)) seen[id]++;
      }
    }
    int64_t expected = total / dp * dp;  // balanced parts of floor(E / dp)...
    int64_t covered = 0;
    for (auto& [id, n] : seen) {
      EXPECT_EQ(n, 1) << "example " << id << " with dp " << dp;
      covered += n;
    }
    EXPECT_GE(covered, expected) << "dp " << dp;
  }
}

// The global batches (dp ranks' batches side by side, rank order) are the same examples in the
// same places for dp 1, 2 and 4 at a fixed global batch, epoch after epoch, as read from the
// files; a rank resumed inside an epoch yields its remaining batches exactly.
TEST(Loader, GlobalBatchesDoNotDependOnTheNumberOfDataParallelRanks) {
  TempDir dir;
  int64_t total = write_split(dir, {50, 13, 37});
  const int64_t global_batch = 8, batches = 30;  // 12 global batches per epoch: 2.5 epochs
  std::vector<std::vector<int64_t>> reference;
  for (int dp : {1, 2, 4}) {
    std::vector<std::vector<int64_t>> global(batches);
    for (int r = 0; r < dp; ++r) {
      LoaderConfig c = config(dir);
      c.dp_rank = r;
      c.dp_size = dp;
      c.batch_size = global_batch / dp;
      Loader l(c);
      EXPECT_EQ(l.batches_per_epoch(), total / global_batch);
      for (int64_t k = 0; k < batches; ++k) {
        Batch b;
        ASSERT_TRUE(l.next(b));
        std::vector<int64_t> ids = ids_of(b, total);
        global[static_cast<size_t>(k)].insert(global[static_cast<size_t>(k)].end(), ids.begin(), ids.end());
      }
      // Resumed at batch 17 (inside epoch 1): the same remaining batches.
      Loader resumed(c);
      resumed.seek({1, 17 - l.batches_per_epoch()});
      Loader straight(c);
      Batch b;
      for (int k = 0; k < 17; ++k) straight.next(b);
      for (int k = 17; k < 24; ++k) {
        Batch x;
        ASSERT_TRUE(resumed.next(x));
        ASSERT_TRUE(straight.next(b));
        EXPECT_EQ(x.inputs.to_vector<int32_t>(), b.inputs.to_vector<int32_t>()) << "dp " << dp << " batch " << k;
      }
    }
    if (dp == 1) {
      reference = global;
      std::set<int64_t> first_epoch;
      for (int k = 0; k < 12; ++k) first_epoch.insert(global[k].begin(), global[k].end());
      EXPECT_EQ(first_epoch.size(), 96u) << "an example twice in an epoch";
    } else {
      for (int64_t k = 0; k < batches; ++k)
        EXPECT_EQ(global[static_cast<size_t>(k)], reference[static_cast<size_t>(k)]) << "dp " << dp << " batch " << k;
    }
  }
}

TEST(Loader, ShuffleIsSeededAndChangesPerEpoch) {
  TempDir dir;
  write_split(dir, {40, 24});
  LoaderConfig c = config(dir);
  Loader a(c), b(c);
  EXPECT_EQ(a.epoch_order(0), b.epoch_order(0));
  EXPECT_NE(a.epoch_order(0), a.epoch_order(1));
  std::vector<int64_t> sorted = a.epoch_order(0);
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(sorted[i], i);
  std::vector<int64_t> natural(64);
  for (int64_t i = 0; i < 64; ++i) natural[i] = i;
  EXPECT_NE(a.epoch_order(0), natural);
  c.seed = 18;
  Loader d(c);
  EXPECT_NE(d.epoch_order(0), a.epoch_order(0));
}

TEST(Loader, ResumedLoaderYieldsExactlyTheSameBatches) {
  TempDir dir;
  int64_t total = write_split(dir, {30, 21});
  LoaderConfig c = config(dir);
  Loader straight(c);
  std::vector<std::vector<int32_t>> expected;
  for (int k = 0; k < 30; ++k) {  // crosses several epochs (12 batches each)
    Batch b;
    straight.next(b);
    expected.push_back(b.inputs.to_vector<int32_t>());
  }
  Loader first(c);
  Batch b;
  for (int k = 0; k < 17; ++k) first.next(b);
  LoaderCursor saved = first.cursor();
  EXPECT_EQ(saved.epoch, 1);
  EXPECT_EQ(saved.position, 17 - first.batches_per_epoch());
  Loader resumed(c);
  resumed.seek(saved);
  for (int k = 17; k < 30; ++k) {
    ASSERT_TRUE(resumed.next(b));
    EXPECT_EQ(b.inputs.to_vector<int32_t>(), expected[k]) << "batch " << k;
  }
  (void)total;
}

TEST(Loader, SequenceParallelRanksReadTheirColumnsOfTheSameExamples) {
  TempDir dir;
  write_split(dir, {20}, /*pair=*/true);
  LoaderConfig c = config(dir);
  Loader whole(c);
  c.sp_size = 4;  // 6 columns over 4 ranks: 1, 2, 1, 2
  std::vector<std::unique_ptr<Loader>> parts;
  for (int r = 0; r < 4; ++r) {
    c.sp_rank = r;
    parts.push_back(std::make_unique<Loader>(c));
  }
  for (int k = 0; k < 6; ++k) {
    Batch w;
    whole.next(w);
    int64_t col = 0;
    for (int r = 0; r < 4; ++r) {
      Batch p;
      parts[r]->next(p);
      EXPECT_EQ(parts[r]->column_begin(), col);
      int64_t n = parts[r]->column_count();
      EXPECT_EQ(p.inputs.to_vector<int32_t>(), w.inputs.narrow(1, col, n).contiguous().to_vector<int32_t>());
      EXPECT_EQ(p.inputs2.to_vector<int32_t>(), w.inputs2.narrow(1, col, n).contiguous().to_vector<int32_t>());
      EXPECT_EQ(p.labels.to_vector<int32_t>(), w.labels.to_vector<int32_t>());
      col += n;
    }
    EXPECT_EQ(col, kLen);
  }
}

TEST(Loader, EvalModeSeesEveryExampleOnceWithAPaddedLastBatch) {
  TempDir dir;
  int64_t total = write_split(dir, {11, 12});  // 23 examples
  for (int dp : {1, 2}) {
    std::set<int64_t> seen;
    std::vector<int64_t> batches;
    for (int r = 0; r < dp; ++r) {
      LoaderConfig c = config(dir);
      c.training = false;
      c.batch_size = 5;
      c.dp_rank = r;
      c.dp_size = dp;
      Loader l(c);
      Batch b;
      int64_t n = 0, last_valid = 0;
      while (l.next(b)) {
        ++n;
        for (int64_t id : ids_of(b, total)) EXPECT_TRUE(seen.insert(id).second) << id;
        auto lab = b.labels.to_vector<int32_t>();
        for (int64_t row = b.valid; row < 5; ++row) EXPECT_EQ(lab[row], -100);
        last_valid = b.valid;
      }
      batches.push_back(n);
      EXPECT_LT(last_valid, 5);
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), total) << "dp " << dp;
    for (int64_t n : batches) EXPECT_EQ(n, batches[0]) << "ranks must take the same number of batches";
  }
}

TEST(Loader, NaturalOrderInEvalAndWaitTimesReported) {
  TempDir dir;
  int64_t total = write_split(dir, {9});
  LoaderConfig c = config(dir);
  c.training = false;
  c.batch_size = 9;
  Loader l(c);
  Batch b;
  ASSERT_TRUE(l.next(b));
  std::vector<int64_t> expect(9);
  for (int64_t i = 0; i < 9; ++i) expect[i] = i;
  EXPECT_EQ(ids_of(b, total), expect);
  EXPECT_GE(b.wait_seconds, 0.0);
  EXPECT_FALSE(l.next(b));
}

TEST(Loader, BadConfigurationsAreClearErrors) {
  TempDir dir;
  write_split(dir, {6});
  LoaderConfig c = config(dir);
  c.batch_size = 7;
  EXPECT_THROW(Loader l(c), Error);
  c = config(dir);
  c.sp_size = 7;
  EXPECT_THROW(Loader l(c), Error);
  c = config(dir);
  c.glob = dir.file("nope-*.h5");
  EXPECT_THROW(Loader l(c), Error);
  c = config(dir);
  Loader l(c);
  EXPECT_THROW(l.seek(LoaderCursor{0, 99}), Error);
}

TEST(BatchPadding, SaysWhetherThePaddingIsAtTheEnds) {
  auto padding_of = [](std::vector<int32_t> first, std::vector<int32_t> second = {}) {
    Batch b;
    int64_t n = static_cast<int64_t>(first.size()) / 2;
    b.inputs = Tensor::from_vector(first, {2, n});
    if (!second.empty()) b.inputs2 = Tensor::from_vector(second, {2, n});
    return batch_padding(b);
  };
  BatchPadding none = padding_of({1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(none.any);
  EXPECT_TRUE(none.at_end);
  BatchPadding end = padding_of({1, 2, 0, 4, 0, 0});
  EXPECT_TRUE(end.any);
  EXPECT_TRUE(end.at_end);
  BatchPadding inside = padding_of({1, 0, 3, 4, 5, 6});
  EXPECT_TRUE(inside.any);
  EXPECT_FALSE(inside.at_end);
  BatchPadding leading = padding_of({1, 2, 3, 0, 5, 6});
  EXPECT_FALSE(leading.at_end);
  BatchPadding second = padding_of({1, 2, 3, 4, 5, 6}, {1, 0, 0, 0, 5, 6});  // the pair's second input
  EXPECT_TRUE(second.any);
  EXPECT_FALSE(second.at_end);
}

}  // namespace
}  // namespace st
