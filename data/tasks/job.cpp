// Parallel generation of a split with in-order writing; see job.h.
#include "data/tasks/job.h"

#include <algorithm>
#include <future>

#include "core/tensor/error.h"
#include "data/tasks/parallel.h"

namespace st::tasks {

namespace {
constexpr int64_t kMaxRefusals = 1000;
}

uint64_t split_stream(const std::string& split) {
  if (split == "train") return 1;
  if (split == "val") return 2;
  if (split == "test") return 3;
  uint64_t h = 1469598103934665603ull;  // FNV-1a for other names
  for (unsigned char c : split) h = (h ^ c) * 1099511628211ull;
  return h;
}

SplitResult generate_split(const std::string& prefix, const std::string& label,
                           const ShardMeta& meta, int64_t n, const JobOptions& job,
                           const MakeExample& make, const AcceptExample& accept) {
  SplitResult result;
  result.name = label;
  if (n <= 0) return result;
  SplitWriter writer(prefix, meta, job.shard_size, job.overwrite);
  if (job.progress) job.progress->start(label, n);
  const int threads = resolve_threads(job.threads);
  const int64_t block = std::max<int64_t>(64, 32 * threads);

  // Writes one finished block in index order; refused examples are redrawn here (sequentially,
  // so the outcome does not depend on threads).
  auto write_block = [&](std::vector<Example> examples, int64_t first) {
    for (size_t k = 0; k < examples.size(); ++k) {
      Example& e = examples[k];
      int64_t index = first + static_cast<int64_t>(k);
      for (int64_t retry = 1; accept && !accept(e); ++retry) {
        ST_CHECK(retry <= kMaxRefusals, label, ": example ", index, " was refused ", kMaxRefusals,
                 " times (too few distinct examples for these options?)");
        e = make(index, retry);
      }
      writer.add(e);
    }
  };

  std::future<void> writing;
  for (int64_t first = 0; first < n; first += block) {
    int64_t count = std::min(block, n - first);
    std::vector<Example> examples(static_cast<size_t>(count));
    parallel_for(count, threads, [&](int64_t k) {
      examples[static_cast<size_t>(k)] = make(first + k, 0);
      if (job.progress) job.progress->advance(1);
    });
    if (writing.valid()) writing.get();
    writing = std::async(std::launch::async, write_block, std::move(examples), first);
  }
  if (writing.valid()) writing.get();
  result.files = writer.close();
  result.examples = writer.examples();
  if (job.progress) job.progress->finish();
  return result;
}

}  // namespace st::tasks
