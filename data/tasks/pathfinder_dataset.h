// `st-data pathfinder`: generated Pathfinder (32x32) / Path-X (128x128) splits,
// DIR/{train,val,test}-NNNNN.h5. Pixels are tokens gray + 1 (vocab 257, "p0".."p255"), one
// row-major image per example (seq_len = size^2), 2 classes; labels alternate 0, 1, 0, ... by
// example index, so every split (and every prefix of it) is balanced.
#pragma once
#include <string>
#include <vector>

#include "data/shard.h"
#include "data/tasks/job.h"
#include "data/tasks/pathfinder.h"

namespace st::tasks {

// The shard metadata of pixel-token images of side `size`, for `task`.
ShardMeta pixel_image_meta(const std::string& task, int64_t size, int64_t classes);

// Example `index` of a split, as generate_pathfinder_dataset writes it.
PathfinderImage pathfinder_example(const PathfinderOptions& opt, uint64_t seed,
                                   const std::string& split, int64_t index);

std::vector<SplitResult> generate_pathfinder_dataset(const std::string& out_dir,
                                                     const PathfinderOptions& opt,
                                                     const SplitCounts& counts,
                                                     const JobOptions& job);

}  // namespace st::tasks
