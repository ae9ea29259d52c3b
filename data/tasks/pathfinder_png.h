// `st-data pathfinder-png`: converts the official LRA Pathfinder release to shards. Layout of a
// difficulty folder ROOT (e.g. pathfinder32/curv_baseline): ROOT/metadata/<batch>.npy are *text*
// files despite the name, one image per line, space-separated, field 0 the image folder
// (e.g. "imgs/0"), field 1 the file name, field 3 the label; the image is ROOT/<f0>/<f1>.
// Alternative (--listing): lines "relative/path.png<TAB>label", relative to ROOT.
// Empty (0-byte) PNGs, which the release contains, are skipped as LRA's pipeline does. The list
// (metadata files in natural order, lines in order) is cut like LRA's: the first 80% train, then
// 10% val, 10% test, written to DIR/{train,val,test}-NNNNN.h5.
#pragma once
#include <string>
#include <vector>

#include "data/tasks/job.h"

namespace st::tasks {

struct PngEntry {
  std::string path;   // full path of the image
  int32_t label = 0;  // 0 or 1
  std::string where;  // "metadata/0.npy:17", for messages
};

std::vector<PngEntry> read_pathfinder_metadata(const std::string& root);
std::vector<PngEntry> read_png_listing(const std::string& listing, const std::string& root);

struct PathfinderPngOptions {
  std::string root;
  std::string listing;  // empty: ROOT/metadata/*.npy
  int size = 0;         // 0: the first image's side; images must be size x size
  int val_percent = 10, test_percent = 10;
};

struct PathfinderPngResult {
  std::vector<SplitResult> splits;
  int64_t empty_skipped = 0;
  int size = 0;
};

PathfinderPngResult convert_pathfinder_png(const PathfinderPngOptions& opt,
                                           const std::string& out_dir, const JobOptions& job);

}  // namespace st::tasks
