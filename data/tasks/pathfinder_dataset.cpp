// Pathfinder dataset generation; see pathfinder_dataset.h.
#include "data/tasks/pathfinder_dataset.h"

#include "data/tasks/seeds.h"
#include "data/tasks/vocab.h"

namespace st::tasks {

ShardMeta pixel_image_meta(const std::string& task, int64_t size, int64_t classes) {
  ShardMeta m;
  m.task = task;
  m.vocab_size = kPixelVocabSize;
  m.num_classes = classes;
  m.seq_len = size * size;
  m.vocabulary = pixel_vocabulary();
  return m;
}

PathfinderImage pathfinder_example(const PathfinderOptions& opt, uint64_t seed,
                                   const std::string& split, int64_t index) {
  auto rng = example_rng(seed, split_stream(split), static_cast<uint64_t>(index));
  return draw_pathfinder(opt, index % 2 == 1, rng);
}

std::vector<SplitResult> generate_pathfinder_dataset(const std::string& out_dir,
                                                     const PathfinderOptions& opt,
                                                     const SplitCounts& counts,
                                                     const JobOptions& job) {
  opt.validate();
  const ShardMeta meta = pixel_image_meta("pathfinder", opt.size, 2);
  check_outputs_free({out_dir + "/train", out_dir + "/val", out_dir + "/test"}, job.overwrite);
  std::vector<SplitResult> results;
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", counts.train},
                          {"val", counts.val},
                          {"test", counts.test}}) {
    std::string name = split;
    auto make = [&](int64_t index, int64_t) {
      PathfinderImage img = pathfinder_example(opt, job.seed, name, index);
      Example e;
      e.inputs.resize(img.pixels.size());
      for (size_t i = 0; i < img.pixels.size(); ++i) e.inputs[i] = pixel_id(img.pixels[i]);
      e.label = img.connected ? 1 : 0;
      return e;
    };
    SplitResult r = generate_split(out_dir + "/" + name, "pathfinder " + name, meta, n, job, make);
    r.name = name;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace st::tasks
