// ListOps dataset generation; see listops_dataset.h.
#include "data/tasks/listops_dataset.h"

#include <unordered_set>

#include "data/tasks/seeds.h"

namespace st::tasks {

ShardMeta listops_meta(int64_t seq_len) {
  ShardMeta m;
  m.task = "listops";
  m.vocab_size = kListOpsVocabSize;
  m.num_classes = kListOpsClasses;
  m.seq_len = seq_len;
  m.vocabulary = listops_vocabulary();
  return m;
}

std::vector<SplitResult> generate_listops_dataset(const std::string& out_dir,
                                                  const ListOpsOptions& opt,
                                                  const SplitCounts& counts, const JobOptions& job) {
  opt.validate();
  const ShardMeta meta = listops_meta(opt.max_len);
  std::unordered_set<uint64_t> seen;  // hashes of every sequence written, all splits
  auto accept_new = [&](const Example& e) {
    uint64_t h = 0x243F6A8885A308D3ull;  // FNV-style over the unpadded ids, then mixed
    for (int32_t id : e.inputs) {
      if (id == kPadId) break;
      h = (h ^ static_cast<uint64_t>(id)) * 0x100000001B3ull;
    }
    h = mix64(h ^ static_cast<uint64_t>(e.inputs.size()));
    return seen.insert(h).second;
  };
  check_outputs_free({out_dir + "/train", out_dir + "/val", out_dir + "/test"}, job.overwrite);
  std::vector<SplitResult> results;
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", counts.train},
                          {"val", counts.val},
                          {"test", counts.test}}) {
    const uint64_t stream = split_stream(split);
    auto make = [&](int64_t index, int64_t retry) {
      auto rng = example_rng(job.seed, stream, static_cast<uint64_t>(index), static_cast<uint64_t>(retry));
      ListOpsSequence seq = generate_listops(opt, rng);
      Example e;
      e.inputs = fit_to_length(std::move(seq.ids), opt.max_len);
      e.label = seq.value;
      return e;
    };
    SplitResult r = generate_split(out_dir + "/" + split, std::string("listops ") + split, meta,
                                   n, job, make, accept_new);
    r.name = split;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace st::tasks
