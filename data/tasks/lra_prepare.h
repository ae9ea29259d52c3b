// `st-data lra`: every Long-Range Arena task where configs/lra/*.yaml read it, OUT/<task>/
// {train,val,test}-NNNNN.h5, from the official downloads a user unpacks:
//   --release DIR  the LRA release (lra_release.gz): listops-1000/basic_{train,val,test}.tsv,
//                  tsv_data/new_aan_pairs.{train,eval,test}.tsv, pathfinder32/ and pathfinder128/
//                  (the difficulty folder of --pathfinder-level; LRA's is the hard one,
//                  curv_contour_length_14). DIR may also be the folder holding lra_release/.
//   --imdb DIR     aclImdb/ (aclImdb_v1.tar.gz): text, validation carved from train.
//   --cifar DIR    cifar-10-batches-bin/ (cifar-10-binary.tar.gz): image, validation carved from train.
// Tasks without a source: ListOps, Pathfinder and Path-X are generated (synthetic); text,
// retrieval and image are reported missing with the download that makes them.
//
// Safe to run again: a task is made in OUT/<task>.partial and swapped in whole, with
// OUT/<task>/prepared.json (its source, split sizes and majority-class rate), so an interrupted
// or failed run leaves the task made before (or nothing) under OUT/<task>. A task is kept when
// its source is unchanged or not given now; it is made again when a different source is given
// (a download replacing generated data; generated data never replaces a download's), with
// --overwrite, or when its shards are gone. Shards that no prepared.json describes were made by
// other commands: they are kept and reported, unless --overwrite.
#pragma once
#include <string>
#include <vector>

#include "data/tasks/job.h"

namespace st::tasks {

struct LraPrepareOptions {
  std::string out = "data/lra";
  std::string release, imdb, cifar;       // official sources; empty: not given
  std::string pathfinder_level = "hard";  // easy, intermediate or hard
  std::vector<std::string> tasks;         // empty: all (lra_task_names())
  double synthetic_scale = 1.0;           // of LRA's split sizes, for the generated tasks
  JobOptions job;                         // seed (generation and carving), threads, shard_size,
                                          // progress; overwrite: remake prepared tasks
};

struct LraTaskReport {
  std::string task;
  std::string source;  // "official: PATH", "synthetic", or "missing"
  std::string status;  // "made", "kept", "kept (shards not made by st-data lra ...)", "incomplete (...)", "missing"
  int64_t train = 0, val = 0, test = 0;
  // The share of the test split (train when there is none) in the training split's most common
  // class: the accuracy of always guessing it. -1 when unknown.
  double majority = -1;
  double seconds = 0;
  std::string download;  // a missing source: the official download to fetch and the option to give
};

const std::vector<std::string>& lra_task_names();  // listops, text, retrieval, image, pathfinder, pathx

std::vector<LraTaskReport> prepare_lra(const LraPrepareOptions& opt);

// The closing table (Markdown) and, below it, the download of each missing source.
std::string format_lra_report(const std::vector<LraTaskReport>& reports);

}  // namespace st::tasks
