// Streaming loader over a split of shards (docs/design.md, "Data").
// - Training: one global example stream per (seed, epoch), the same for every number of
//   data-parallel ranks: a seeded permutation of fixed-size blocks of examples, mixed inside a
//   bounded shuffle buffer. It is cut into global batches of dp_size x batch_size examples, and
//   rank r takes the r-th batch_size of each. So the examples of a global batch, and their place
//   in it, do not depend on dp_size, and a cursor (epoch, position) is enough to resume and
//   yield exactly the batches an uninterrupted run would have.
// - One background thread does all reads (HDF5 is not thread-safe; it also takes the global HDF5
//   lock) and keeps `prefetch` batches queued. It reads the examples of its rank in stream order,
//   each run of them in a block once, skipping the other ranks', and keeps at most about
//   (shuffle_buffer + block_size) / dp_size + dp_size x batch_size examples in memory and
//   max_open_files shard files open.
// - Sequence parallelism: rank r of an SP group reads only its columns
//   [r*L/sp, (r+1)*L/sp) of the same examples as the other ranks of its group.
// - Eval mode: natural order, every example exactly once; the last batch is padded with rows of
//   padding tokens and label -100 (ignored by the loss), and `valid` says how many are real.
//   Every rank yields the same number of batches (fully padded ones where it has run out).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor/tensor.h"
#include "data/shard.h"

namespace st {

struct LoaderConfig {
  std::string glob;               // shard files of the split
  int64_t batch_size = 32;        // examples per batch on this rank
  bool training = true;           // shuffled, endless epochs, whole batches only
  uint64_t seed = 0;
  int64_t shuffle_buffer = 4096;  // examples (training)
  int64_t block_size = 256;       // examples per block of the epoch permutation
  int prefetch = 4;               // batches kept ready
  int64_t max_open_files = 64;    // shard files the reader keeps open (least recently used closed)
  int dp_rank = 0, dp_size = 1;
  int sp_rank = 0, sp_size = 1;
};

struct LoaderCursor {
  int64_t epoch = 0;
  int64_t position = 0;  // batches already taken in this epoch
  bool operator==(const LoaderCursor& o) const { return epoch == o.epoch && position == o.position; }
};

struct Batch {
  Tensor inputs;   // (B, local length) i32, 0 = padding
  Tensor inputs2;  // pair tasks, else undefined
  Tensor labels;   // (B) i32; -100 on padded rows; undefined for language-model shards
  int64_t valid = 0;          // real examples (first `valid` rows)
  LoaderCursor cursor;        // position of this batch
  double wait_seconds = 0;    // time next() waited for the reader
};

// What a batch's padding looks like, read from its host ids: any padding (id 0) in either input,
// whether in every row the padding (if any) comes after all the tokens, and the count of real
// tokens (ids that are not padding, in both inputs of a pair).
struct BatchPadding {
  bool any = false;
  bool at_end = true;
  int64_t tokens = 0;
};
BatchPadding batch_padding(const Batch& b);

class Loader {
 public:
  explicit Loader(const LoaderConfig& cfg);  // opens and validates the split
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Training: always true. Eval: false after the last batch of the (single) epoch.
  bool next(Batch& out);
  LoaderCursor cursor() const { return next_; }  // the batch next() returns next
  void seek(const LoaderCursor& c);              // continue from c (e.g. from a checkpoint)

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  int64_t total_examples() const { return total_; }
  const ShardMeta& meta() const { return shards_[0].meta; }
  const std::vector<ShardInfo>& shards() const { return shards_; }
  int64_t column_begin() const { return col0_; }
  int64_t column_count() const { return cols_; }

  // The example ids (global, in shard order) this rank yields in an epoch, in order.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // The order examples are read in: training, every example (permuted blocks, before the
  // shuffle buffer); eval, this rank's part.
  std::vector<int64_t> stream_order(int64_t epoch) const;
  // Training: the epoch's global example order (the stream after the shuffle buffer), the same
  // on every rank.
  std::vector<int64_t> global_order(int64_t epoch) const;

 private:
  // Training: the end of this rank's slice of global batch c in global_order.
  size_t global_end(int64_t c) const;
  void start_reader(LoaderCursor from);
  void stop_reader();
  void reader_main(LoaderCursor from);
  struct ReaderState;
  void read_stream(ReaderState& state, size_t upto);
  Batch make_batch(const std::vector<int64_t>& ids, const LoaderCursor& at, ReaderState& state);

  LoaderConfig cfg_;
  std::vector<ShardInfo> shards_;
  std::vector<int64_t> shard_start_;  // global id of each shard's first example
  int64_t total_ = 0;
  int64_t batches_per_epoch_ = 0;
  int64_t col0_ = 0, cols_ = 0;
  LoaderCursor next_;

  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool stop_ = false;
  bool finished_ = false;
  std::exception_ptr error_;
};

}  // namespace st
