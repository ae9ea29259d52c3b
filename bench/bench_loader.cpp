// st-bench-loader: streaming-loader throughput against a raw HDF5 read of the same bytes.
//   st-bench-loader 'data/lra/listops/train-*.h5' [--batch 32] [--max-open-files 64]
// Raw: every shard's /inputs (and /inputs2, /labels) read in blocks of 4096 rows on one thread.
// Loader: one training epoch (shuffled blocks + shuffle buffer + background reader) and one eval
// pass, consumed as fast as possible; reported as examples/s and MB/s, and as a ratio to raw.
#include <chrono>
#include <cstdio>
#include <string>

#include "data/h5.h"
#include "data/loader.h"
#include "launch/cli.h"

int main(int argc, char** argv) {
  using namespace st;
  std::string glob;
  int64_t batch = 32, max_open = LoaderConfig{}.max_open_files;
  CLI::App app{"st-bench-loader: streaming-loader throughput against a raw HDF5 read of the same bytes"};
  app.add_option("glob", glob, "shard files, e.g. 'data/lra/listops/train-*.h5' (quoted)")->required();
  app.add_option("--batch", batch, "examples per batch")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-open-files", max_open, "shard files the loader keeps open")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  if (int code = parse_command_line(app, argc, argv, "st-bench-loader"); code >= 0) return code;
  try {
    std::vector<ShardInfo> shards = open_split(glob);
    const ShardMeta& m = shards[0].meta;
    int64_t examples = 0;
    for (auto& s : shards) examples += s.examples;
    double bytes_per_example = 4.0 * (m.seq_len * (m.pair ? 2 : 1) + (m.is_lm() ? 0 : 1));
    double mb = examples * bytes_per_example / 1e6;

    auto now = [] { return std::chrono::steady_clock::now(); };
    auto t0 = now();
    std::vector<int32_t> buf;
    for (auto& s : shards) {
      h5::File f = h5::File::open_read(s.path);
      for (int64_t r = 0; r < s.examples; r += 4096) {
        int64_t n = std::min<int64_t>(4096, s.examples - r);
        buf.resize(n * m.seq_len);
        f.read_i32_rows("inputs", r, n, buf.data());
        if (m.pair) f.read_i32_rows("inputs2", r, n, buf.data());
        if (!m.is_lm()) f.read_i32_rows("labels", r, n, buf.data());
      }
    }
    double raw = std::chrono::duration<double>(now() - t0).count();

    auto run = [&](bool training, double* wait) {
      LoaderConfig c;
      c.glob = glob;
      c.batch_size = batch;
      c.training = training;
      c.seed = 1;
      c.max_open_files = max_open;
      Loader l(c);
      Batch b;
      auto t = now();
      int64_t n = 0;
      *wait = 0;
      for (int64_t k = 0; k < l.batches_per_epoch() && l.next(b); ++k) {
        n += b.valid;
        *wait += b.wait_seconds;
      }
      double s = std::chrono::duration<double>(now() - t).count();
      return std::make_pair(s, n);
    };
    double wait_train = 0, wait_eval = 0;
    auto [train_s, train_n] = run(true, &wait_train);
    auto [eval_s, eval_n] = run(false, &wait_eval);
    std::printf("st-bench-loader: %s: %lld examples in %zu shards, seq_len %lld, %.1f MB of ids, at most %lld "
                "shard files open\n", glob.c_str(), static_cast<long long>(examples), shards.size(),
                static_cast<long long>(m.seq_len), mb, static_cast<long long>(max_open));
    std::printf("| reader | time | examples/s | MB/s | vs raw |\n|---|---|---|---|---|\n");
    std::printf("| raw HDF5 read (blocks of 4096 rows) | %.2f s | %.0f | %.0f | 1.00 |\n", raw, examples / raw, mb / raw);
    std::printf("| loader, training epoch (batch %lld) | %.2f s | %.0f | %.0f | %.2f |\n", static_cast<long long>(batch),
                train_s, train_n / train_s, train_n * bytes_per_example / 1e6 / train_s, (train_n / train_s) / (examples / raw));
    std::printf("| loader, eval pass (batch %lld) | %.2f s | %.0f | %.0f | %.2f |\n", static_cast<long long>(batch),
                eval_s, eval_n / eval_s, eval_n * bytes_per_example / 1e6 / eval_s, (eval_n / eval_s) / (examples / raw));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "st-bench-loader: error: %s\n", e.what());
    return 1;
  }
}
