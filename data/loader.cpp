// Streaming loader; see loader.h.
#include "data/loader.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <list>
#include <memory>
#include <random>
#include <unordered_map>

#include "core/tensor/checked.h"
#include "core/tensor/error.h"
#include "core/tensor/host_reads.h"
#include "data/h5.h"

namespace st {

namespace {
// Deterministic Fisher-Yates (std::shuffle's algorithm is not specified by the standard).
template <class T>
void shuffle_in_place(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

// The shard files a reader holds open: at most `capacity`, the least recently used closed
// first. Reopening a shard reads the same bytes, so the batches never depend on the capacity.
class OpenShards {
 public:
  OpenShards(const std::vector<ShardInfo>& shards, size_t capacity)
      : shards_(shards), files_(shards.size()), where_(shards.size()), capacity_(std::max<size_t>(capacity, 1)) {}

  h5::File& get(size_t s) {
    if (files_[s]) {
      recent_.splice(recent_.begin(), recent_, where_[s]);  // now the most recent
      return *files_[s];
    }
    if (recent_.size() >= capacity_) {
      size_t oldest = recent_.back();
      files_[oldest].reset();
      recent_.pop_back();
    }
    files_[s] = std::make_unique<h5::File>(h5::File::open_read(shards_[s].path));
    recent_.push_front(s);
    where_[s] = recent_.begin();
    return *files_[s];
  }

 private:
  const std::vector<ShardInfo>& shards_;
  std::vector<std::unique_ptr<h5::File>> files_;  // per shard; null: closed
  std::list<size_t> recent_;                      // open shards, most recently used first
  std::vector<std::list<size_t>::iterator> where_;
  size_t capacity_;
};

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}
}  // namespace

// The reader thread's state: open shard files, and the rows of examples that have been read from the
// stream but not yet put in a batch (at most shuffle_buffer + block_size of them).
struct Loader::ReaderState {
  struct Row {
    std::vector<int32_t> inputs, inputs2;
    int32_t label = -100;
  };
  explicit ReaderState(const std::vector<ShardInfo>& shards, size_t max_open) : files(shards, max_open) {}
  OpenShards files;
  std::unordered_map<int64_t, Row> pending;
  std::vector<int64_t> stream;  // this epoch's stream (block order)
  size_t streamed = 0;          // stream[0, streamed) has been read
  std::vector<bool> mine;       // training: by example id, whether this rank outputs it this epoch
};

Loader::Loader(const LoaderConfig& cfg) : cfg_(cfg) {
  ST_CHECK(cfg.batch_size >= 1, "data.batch_size: must be positive, got ", cfg.batch_size);
  ST_CHECK(cfg.block_size >= 1, "data.block_size: must be positive, got ", cfg.block_size);
  ST_CHECK(cfg.shuffle_buffer >= 1, "data.shuffle_buffer: must be positive, got ", cfg.shuffle_buffer);
  ST_CHECK(cfg.prefetch >= 1, "data.prefetch: must be positive, got ", cfg.prefetch);
  ST_CHECK(cfg.max_open_files >= 1, "data.max_open_files: must be positive, got ", cfg.max_open_files);
  ST_CHECK(cfg.dp_size >= 1 && cfg.dp_rank >= 0 && cfg.dp_rank < cfg.dp_size,
           "loader: data-parallel rank ", cfg.dp_rank, " of ", cfg.dp_size);
  ST_CHECK(cfg.sp_size >= 1 && cfg.sp_rank >= 0 && cfg.sp_rank < cfg.sp_size,
           "loader: sequence-parallel rank ", cfg.sp_rank, " of ", cfg.sp_size);
  shards_ = open_split(cfg.glob);
  for (const auto& s : shards_) {
    shard_start_.push_back(total_);
    total_ += s.examples;
  }
  int64_t L = meta().seq_len;
  ST_CHECK(cfg.sp_size <= L, "loader: ", cfg.sp_size, " sequence-parallel ranks for sequences of ",
           L, " tokens (", cfg.glob, ")");
  col0_ = cfg.sp_rank * L / cfg.sp_size;
  cols_ = (cfg.sp_rank + 1) * L / cfg.sp_size - col0_;
  // The largest buffers: a batch and a block of rows (products of config and file sizes).
  checked_mul(checked_mul(std::max(cfg.batch_size, cfg.block_size), cols_, "loader: values per batch"),
              int64_t{sizeof(int32_t)} * 2, "loader: bytes per batch");
  if (cfg.training) {
    // Whole global batches (dp_size x batch_size examples) of the epoch's stream.
    batches_per_epoch_ = total_ / checked_mul(cfg.dp_size, cfg.batch_size, "loader: examples per global batch");
    ST_CHECK(batches_per_epoch_ >= 1, "data: '", cfg.glob, "' has ", total_, " examples, fewer than ",
             cfg.dp_size, " data-parallel ranks x batch ", cfg.batch_size);
  } else {
    int64_t most = (total_ + cfg.dp_size - 1) / cfg.dp_size;
    batches_per_epoch_ = (most + cfg.batch_size - 1) / cfg.batch_size;
  }
  start_reader(next_);
}

Loader::~Loader() { stop_reader(); }

std::vector<int64_t> Loader::stream_order(int64_t epoch) const {
  std::vector<int64_t> order;
  if (!cfg_.training) {  // this rank's contiguous part, in natural order
    int64_t begin = total_ * cfg_.dp_rank / cfg_.dp_size;
    int64_t end = total_ * (cfg_.dp_rank + 1) / cfg_.dp_size;
    for (int64_t i = begin; i < end; ++i) order.push_back(i);
    return order;
  }
  // Every example, in a seeded permutation of blocks (the same for every rank).
  order.reserve(static_cast<size_t>(total_));
  struct Span {
    int64_t first, count;
  };
  std::vector<Span> blocks;
  for (size_t s = 0; s < shards_.size(); ++s)
    for (int64_t r = 0; r < shards_[s].examples; r += cfg_.block_size)
      blocks.push_back({shard_start_[s] + r, std::min(cfg_.block_size, shards_[s].examples - r)});
  std::mt19937_64 rng(mix(cfg_.seed, static_cast<uint64_t>(epoch)));
  shuffle_in_place(blocks, rng);
  for (const Span& b : blocks)
    for (int64_t i = 0; i < b.count; ++i) order.push_back(b.first + i);
  return order;
}

std::vector<int64_t> Loader::global_order(int64_t epoch) const {
  std::vector<int64_t> stream = stream_order(epoch);
  // Bounded shuffle buffer, seeded per epoch: the first `cap` examples fill it; each further
  // example replaces a random one, which is output; the rest leave in random order.
  std::mt19937_64 brng(mix(mix(cfg_.seed, static_cast<uint64_t>(epoch)), 0x5eed0000ull));
  size_t cap = static_cast<size_t>(cfg_.shuffle_buffer);
  std::vector<int64_t> out, buffer;
  out.reserve(stream.size());
  for (int64_t id : stream) {
    if (buffer.size() < cap) {
      buffer.push_back(id);
      continue;
    }
    size_t j = brng() % cap;
    out.push_back(buffer[j]);
    buffer[j] = id;
  }
  shuffle_in_place(buffer, brng);
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  if (!cfg_.training) return stream_order(epoch);
  // Global batch c is global_order[c G, (c + 1) G), G = dp_size x batch_size; rank r takes its
  // slice [c G + r B, c G + (r + 1) B).
  std::vector<int64_t> global = global_order(epoch), out;
  int64_t B = cfg_.batch_size;
  out.reserve(static_cast<size_t>(batches_per_epoch_ * B));
  for (int64_t c = 0; c < batches_per_epoch_; ++c) {
    auto first = global.begin() + global_end(c) - B;
    out.insert(out.end(), first, first + B);
  }
  return out;
}

size_t Loader::global_end(int64_t c) const {
  return static_cast<size_t>((c * cfg_.dp_size + cfg_.dp_rank + 1) * cfg_.batch_size);
}

void Loader::start_reader(LoaderCursor from) {
  stop_ = false;
  finished_ = false;
  error_ = nullptr;
  queue_.clear();
  reader_ = std::thread([this, from] { reader_main(from); });
}

void Loader::stop_reader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (reader_.joinable()) reader_.join();
}

void Loader::seek(const LoaderCursor& c) {
  ST_CHECK(c.epoch >= 0 && c.position >= 0 && c.position <= batches_per_epoch_,
           "loader: cursor (epoch ", c.epoch, ", batch ", c.position, ") is outside an epoch of ",
           batches_per_epoch_, " batches");
  stop_reader();
  next_ = c;
  start_reader(c);
}

// Reads stream entries [state.streamed, upto) block by block into state.pending.
void Loader::read_stream(ReaderState& state, size_t upto) {
  const ShardMeta& m = meta();
  int64_t C = cols_;
  std::vector<int32_t> in, in2, lab;
  while (state.streamed < upto) {
    int64_t id = state.stream[state.streamed];
    if (!state.mine.empty() && !state.mine[static_cast<size_t>(id)]) {  // another rank's
      ++state.streamed;
      continue;
    }
    size_t s = std::upper_bound(shard_start_.begin(), shard_start_.end(), id) - shard_start_.begin() - 1;
    int64_t row = id - shard_start_[s];
    // The run of consecutive rows of this shard that follow in the stream, up to the end of
    // the block (= storage chunk) the first row is in: each chunk is decompressed once, even
    // when the run reaches past `upto` (rows read ahead wait in `pending`).
    size_t run = 1;
    while (state.streamed + run < state.stream.size() &&
           (row + static_cast<int64_t>(run)) % cfg_.block_size != 0 &&
           state.stream[state.streamed + run] == id + static_cast<int64_t>(run) &&
           row + static_cast<int64_t>(run) < shards_[s].examples &&
           (state.mine.empty() || state.mine[static_cast<size_t>(id) + run]))
      ++run;
    h5::File& f = state.files.get(s);
    int64_t n = static_cast<int64_t>(run);
    in.resize(n * C);
    f.read_i32_block("inputs", row, n, col0_, C, in.data());
    if (m.pair) {
      in2.resize(n * C);
      f.read_i32_block("inputs2", row, n, col0_, C, in2.data());
    }
    if (!m.is_lm()) {
      lab.resize(n);
      f.read_i32_rows("labels", row, n, lab.data());
    }
    for (int64_t k = 0; k < n; ++k) {
      ReaderState::Row& r = state.pending[id + k];
      r.inputs.assign(in.begin() + k * C, in.begin() + (k + 1) * C);
      if (m.pair) r.inputs2.assign(in2.begin() + k * C, in2.begin() + (k + 1) * C);
      if (!m.is_lm()) r.label = lab[k];
    }
    state.streamed += run;
  }
}

Batch Loader::make_batch(const std::vector<int64_t>& ids, const LoaderCursor& at, ReaderState& state) {
  const ShardMeta& m = meta();
  int64_t B = cfg_.batch_size, C = cols_;
  std::vector<int32_t> in(B * C, 0), in2(m.pair ? B * C : 0, 0), lab(B, -100);
  for (size_t k = 0; k < ids.size(); ++k) {
    auto it = state.pending.find(ids[k]);
    ST_CHECK(it != state.pending.end(), "loader: internal error: example ", ids[k], " was not read");
    std::copy(it->second.inputs.begin(), it->second.inputs.end(), in.begin() + k * C);
    if (m.pair) std::copy(it->second.inputs2.begin(), it->second.inputs2.end(), in2.begin() + k * C);
    lab[k] = it->second.label;
    state.pending.erase(it);
  }
  Batch b;
  b.inputs = Tensor::from_vector(in, {B, C});
  if (m.pair) b.inputs2 = Tensor::from_vector(in2, {B, C});
  if (!m.is_lm()) b.labels = Tensor::from_vector(lab, {B});
  b.valid = static_cast<int64_t>(ids.size());
  b.cursor = at;
  return b;
}

void Loader::reader_main(LoaderCursor from) {
  pthread_setname_np(pthread_self(), "st-loader");  // names it in top -H and ps -L
  try {
    ReaderState state(shards_, static_cast<size_t>(cfg_.max_open_files));
    LoaderCursor at = from;
    std::vector<int64_t> order;
    // Examples of the stream that must have been read before output position k: the buffer
    // fills with `cap` examples first, then each output follows one more read.
    size_t cap = cfg_.training ? static_cast<size_t>(cfg_.shuffle_buffer) : 0;
    // The stream position up to which batch k of this rank needs the stream read: its last
    // example's place in the output, plus the buffer (the output's q-th example is among the
    // stream's first cap + q + 1).
    auto read_bound = [&](int64_t k) {
      size_t end = cfg_.training ? global_end(k)
                                 : std::min(order.size(), static_cast<size_t>((k + 1) * cfg_.batch_size));
      return std::min(state.stream.size(), cap + end);
    };
    auto begin_epoch = [&](const LoaderCursor& c) {
      order = epoch_order(c.epoch);
      state.stream = stream_order(c.epoch);
      state.streamed = 0;
      state.pending.clear();
      state.mine.clear();
      if (cfg_.training) {
        state.mine.assign(static_cast<size_t>(total_), false);
        for (int64_t id : order) state.mine[static_cast<size_t>(id)] = true;
      }
      // Resuming inside an epoch: read the stream up to this point and drop what was output.
      size_t done = std::min(order.size(), static_cast<size_t>(c.position * cfg_.batch_size));
      if (done > 0) {
        read_stream(state, read_bound(c.position - 1));
        for (size_t k = 0; k < done; ++k) state.pending.erase(order[k]);
      }
    };
    begin_epoch(at);
    while (true) {
      if (at.position >= batches_per_epoch_) {
        if (!cfg_.training) {
          std::lock_guard<std::mutex> lock(mu_);
          finished_ = true;
          cv_.notify_all();
          return;
        }
        at = {at.epoch + 1, 0};
        begin_epoch(at);
      }
      size_t lo = std::min(order.size(), static_cast<size_t>(at.position * cfg_.batch_size));
      size_t hi = std::min(order.size(), lo + static_cast<size_t>(cfg_.batch_size));
      read_stream(state, read_bound(at.position));
      std::vector<int64_t> ids(order.begin() + lo, order.begin() + hi);
      Batch b = make_batch(ids, at, state);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < cfg_.prefetch; });
      if (stop_) return;
      queue_.push_back(std::move(b));
      cv_.notify_all();
      ++at.position;
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || finished_ || error_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return false;  // eval epoch done
  }
  out = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  out.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  next_ = out.cursor;
  ++next_.position;
  if (cfg_.training && next_.position >= batches_per_epoch_) next_ = {next_.epoch + 1, 0};
  return true;
}

BatchPadding batch_padding(const Batch& b) {
  BatchPadding p;
  for (const Tensor* t : {&b.inputs, &b.inputs2}) {
    if (!t->defined() || t->numel() == 0) continue;
    size_t cols = static_cast<size_t>(t->size(-1));
    std::vector<int32_t> ids = host_values<int32_t>(t->contiguous());
    for (size_t row = 0; row < ids.size() / cols; ++row) {
      bool padded = false;
      for (size_t c = 0; c < cols; ++c) {
        if (ids[row * cols + c] == 0) {
          padded = p.any = true;
        } else {
          ++p.tokens;
          if (padded) p.at_end = false;
        }
      }
    }
  }
  return p;
}

}  // namespace st
