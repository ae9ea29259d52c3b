// The recall task; see recall.h.
#include "data/tasks/recall.h"

#include "core/tensor/error.h"
#include "data/tasks/seeds.h"

namespace st::tasks {

namespace {
constexpr int32_t kMarker = 1, kFirstValue = 2;
int64_t min_position(const RecallOptions& o) { return o.min_pos >= 0 ? o.min_pos : o.seq_len / 2; }
}  // namespace

void RecallOptions::validate() const {
  ST_CHECK(seq_len >= 4 && seq_len <= kMaxSeqLen, "--seq-len must be in [4, ", kMaxSeqLen, "], got ", seq_len);
  ST_CHECK(classes >= 2 && classes <= (int64_t{1} << 20), "--classes must be in [2, 2^20], got ", classes);
  ST_CHECK(noise >= 1 && noise <= (int64_t{1} << 20), "--noise must be in [1, 2^20], got ", noise);
  ST_CHECK(min_pos >= -1, "--min-pos must not be negative, got ", min_pos);
  ST_CHECK(!(lm && min_pos >= 0), "--min-pos applies to classification; with --lm the pair lies in the first half");
  if (!lm)
    ST_CHECK(min_position(*this) <= seq_len - 1, "--min-pos ", min_position(*this), " is past the end of ", seq_len,
             " tokens (at most seq-len - 1 = ", seq_len - 1, ")");
}

ShardMeta recall_meta(const RecallOptions& opt) {
  ShardMeta m;
  m.task = opt.lm ? "recall-lm" : "recall";
  m.vocab_size = kFirstValue + opt.classes + opt.noise;
  m.num_classes = opt.lm ? 0 : opt.classes;
  m.seq_len = opt.seq_len;
  m.vocabulary.push_back("<pad>");
  m.vocabulary.push_back("<marker>");
  auto named = [](char prefix, int64_t i) {
    std::string s(1, prefix);
    s += std::to_string(i);
    return s;
  };
  for (int64_t v = 0; v < opt.classes; ++v) m.vocabulary.push_back(named('v', v));
  for (int64_t n = 0; n < opt.noise; ++n) m.vocabulary.push_back(named('n', n));
  return m;
}

RecallExample make_recall_example(const RecallOptions& opt, uint64_t seed, uint64_t stream, uint64_t index) {
  auto rng = example_rng(seed, stream, index);
  RecallExample e;
  const int64_t N = opt.seq_len;
  const int32_t first_noise = static_cast<int32_t>(kFirstValue + opt.classes);
  e.ids.resize(static_cast<size_t>(N));
  for (auto& id : e.ids) id = first_noise + static_cast<int32_t>(uniform_int(rng, 0, opt.noise - 1));
  e.label = static_cast<int32_t>(uniform_int(rng, 0, opt.classes - 1));
  const int32_t value = kFirstValue + e.label;
  if (!opt.lm) {
    e.marker = uniform_int(rng, min_position(opt), N - 1);
    e.ids[static_cast<size_t>(e.marker)] = value;
    return e;
  }
  e.marker = uniform_int(rng, 0, N / 2 - 2);
  e.ids[static_cast<size_t>(e.marker)] = kMarker;
  e.ids[static_cast<size_t>(e.marker + 1)] = value;
  e.ids[static_cast<size_t>(N - 2)] = kMarker;
  e.ids[static_cast<size_t>(N - 1)] = value;
  return e;
}

std::vector<SplitResult> generate_recall_dataset(const std::string& out_dir, const RecallOptions& opt,
                                                 const SplitCounts& counts, const JobOptions& job) {
  opt.validate();
  const ShardMeta meta = recall_meta(opt);
  check_outputs_free({out_dir + "/train", out_dir + "/val", out_dir + "/test"}, job.overwrite);
  std::vector<SplitResult> results;
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", counts.train},
                          {"val", counts.val},
                          {"test", counts.test}}) {
    const uint64_t stream = split_stream(split);
    auto make = [&](int64_t index, int64_t) {
      RecallExample r = make_recall_example(opt, job.seed, stream, static_cast<uint64_t>(index));
      Example e;
      e.inputs = std::move(r.ids);
      e.label = r.label;
      return e;
    };
    SplitResult r = generate_split(out_dir + "/" + split, std::string("recall ") + split, meta, n, job, make);
    r.name = split;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace st::tasks
