// Splits of many shards: the loader keeps at most data.max_open_files shard files open, the
// batches (and a resume) never depend on that bound, the process's descriptors stay within it,
// and I/O failures say what happened (errno's meaning; for "too many open files" the count and
// the limit).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "data/h5.h"
#include "data/io_error.h"
#include "data/loader.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"

namespace st {
namespace {

using testing::expect_error;
using testing::TempDir;

constexpr int64_t kShards = 400, kPerShard = 5, kLen = 4;

// kShards shards of kPerShard examples; example i has tokens i % 89 + 1, ... and label i % 3.
std::string write_many(const TempDir& dir) {
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = 100;
  m.num_classes = 3;
  m.seq_len = kLen;
  int64_t id = 0;
  for (int64_t s = 0; s < kShards; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "train-%05lld.h5", static_cast<long long>(s));
    ShardWriter w(dir.file(name), m, 4);
    std::vector<int32_t> in, lab;
    for (int64_t k = 0; k < kPerShard; ++k, ++id) {
      for (int64_t j = 0; j < kLen; ++j) in.push_back(static_cast<int32_t>((id + j * 13) % 89 + 1));
      lab.push_back(static_cast<int32_t>(id % 3));
    }
    w.append(in, {}, lab);
    w.close();
  }
  return dir.file("train-*.h5");
}

LoaderConfig config(const std::string& glob, int64_t max_open, bool training = true) {
  LoaderConfig c;
  c.glob = glob;
  c.batch_size = 16;
  c.training = training;
  c.seed = 11;
  c.shuffle_buffer = 24;
  c.block_size = 4;
  c.max_open_files = max_open;
  return c;
}

// The contents of `count` batches, flattened: inputs then labels of each.
std::vector<int32_t> take(Loader& l, int64_t count) {
  std::vector<int32_t> out;
  Batch b;
  for (int64_t k = 0; k < count && l.next(b); ++k) {
    auto in = b.inputs.to_vector<int32_t>();
    auto lab = b.labels.to_vector<int32_t>();
    out.insert(out.end(), in.begin(), in.end());
    out.insert(out.end(), lab.begin(), lab.end());
  }
  return out;
}

TEST(ManyShards, BatchesDoNotDependOnTheOpenFileBound) {
  TempDir dir;
  std::string glob = write_many(dir);
  Loader all(config(glob, 100000));
  int64_t two_epochs = 2 * all.batches_per_epoch();
  std::vector<int32_t> expected = take(all, two_epochs);
  for (int64_t bound : {1, 3, 64}) {
    Loader l(config(glob, bound));
    EXPECT_EQ(take(l, two_epochs), expected) << "data.max_open_files " << bound;
  }
  Loader eval_all(config(glob, 100000, false)), eval_two(config(glob, 2, false));
  EXPECT_EQ(take(eval_two, 1000), take(eval_all, 1000));
}

TEST(ManyShards, ResumeAcrossReopensIsExact) {
  TempDir dir;
  std::string glob = write_many(dir);
  Loader straight(config(glob, 2));
  int64_t total = 2 * straight.batches_per_epoch() + 5;
  std::vector<int32_t> expected = take(straight, total);
  int64_t first = straight.batches_per_epoch() + 37;  // inside the second epoch, after many reopens
  Loader before(config(glob, 2));
  std::vector<int32_t> got = take(before, first);
  LoaderCursor at = before.cursor();
  Loader after(config(glob, 2));
  after.seek(at);
  std::vector<int32_t> rest = take(after, total - first);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
}

TEST(ManyShards, OpenDescriptorsStayWithinTheBound) {
  TempDir dir;
  std::string glob = write_many(dir);
  int baseline = open_file_count();
  ASSERT_GT(baseline, 0);
  constexpr int64_t kBound = 8;
  Loader l(config(glob, kBound));
  int most = baseline;
  Batch b;
  for (int64_t k = 0; k < 2 * l.batches_per_epoch(); ++k) {
    ASSERT_TRUE(l.next(b));
    most = std::max(most, open_file_count());
  }
  EXPECT_GT(most, baseline) << "the reader holds shard files open while it reads";
  EXPECT_LE(most, baseline + kBound + 2) << "at most data.max_open_files shard files, plus a constant";
}

// Restores the open-file limit when the test ends.
struct FileLimit {
  rlimit saved{};
  explicit FileLimit(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved);
    rlimit lower = saved;
    lower.rlim_cur = soft;
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &lower), 0);
  }
  ~FileLimit() { setrlimit(RLIMIT_NOFILE, &saved); }
};

TEST(ManyShards, TooManyOpenFilesNamesTheLimitAndTheCount) {
#ifdef ST_SANITIZED
  // UBSan's type checks open descriptors of their own, and this test leaves none. The normal
  // build runs it, and data.many_shards_train checks the same text from st-train.
  GTEST_SKIP() << "a sanitizer runtime needs file descriptors that this test uses up";
#endif
  TempDir dir;
  std::string glob = write_many(dir);
  std::string message;
  int limit = 0;
  {
    limit = open_file_count() + 3;  // room to validate the shards one at a time, not to hold 64
    FileLimit low(static_cast<rlim_t>(limit));
    try {
      Loader l(config(glob, 64));
      take(l, 2 * l.batches_per_epoch());
    } catch (const Error& e) {
      message = e.what();
    }
  }
  ASSERT_FALSE(message.empty()) << "expected the reader to run out of descriptors";
  for (const std::string& part :
       {std::string("cannot open: Too many open files (errno 24)"), "this process has " + std::to_string(limit) + " files open",
        "may have " + std::to_string(limit) + " (ulimit -n)", std::string("lower data.max_open_files")})
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
}

TEST(IoErrors, SayWhatHappened) {
  TempDir dir;
  expect_error([&] { h5::File::open_read(dir.file("absent.h5")); },
               {"absent.h5: cannot open: No such file or directory (errno 2)"});
  { std::FILE* f = std::fopen(dir.file("text.h5").c_str(), "w"); std::fputs("not hdf5", f); std::fclose(f); }
  expect_error([&] { h5::File::open_read(dir.file("text.h5")); }, {"text.h5: not a readable HDF5 file"});
  expect_error([&] { h5::File::create(dir.file("no/such/dir/x.h5")); },
               {"x.h5: cannot create: No such file or directory (errno 2)"});
  EXPECT_EQ(errno_message(EACCES), "Permission denied (errno 13)");
  EXPECT_EQ(errno_message(ENOSPC), "No space left on device (errno 28)");
  EXPECT_NE(errno_message(ENFILE).find("system-wide table of open files is full"), std::string::npos);
  EXPECT_EQ(open_failure(dir.file("text.h5"), false), "") << "it opens: the failure was its contents";
  EXPECT_FALSE(std::filesystem::exists(dir.file("probe.h5")));
  EXPECT_EQ(open_failure(dir.file("probe.h5"), true), "");
  EXPECT_FALSE(std::filesystem::exists(dir.file("probe.h5"))) << "a write probe leaves no file behind";
}

}  // namespace
}  // namespace st
