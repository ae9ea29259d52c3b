// Preparing the whole LRA suite's data; see lra_prepare.h.
#include "data/tasks/lra_prepare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/tensor/error.h"
#include "data/io_error.h"
#include "data/json_limits.h"
#include "data/shard.h"
#include "data/tasks/byte_tsv.h"
#include "data/tasks/cifar.h"
#include "data/tasks/imdb.h"
#include "data/tasks/inspect.h"
#include "data/tasks/listops_dataset.h"
#include "data/tasks/listops_tsv.h"
#include "data/tasks/pathfinder_dataset.h"
#include "data/tasks/pathfinder_png.h"
#include "data/tasks/split_writer.h"

namespace st::tasks {

namespace fs = std::filesystem;

namespace {

constexpr const char* kReleaseDownload =
    "lra_release.gz, the Long-Range Arena release (about 7.7 GB, github.com/google-research/long-range-arena); "
    "unpack it and give --release DIR";
constexpr const char* kImdbDownload =
    "aclImdb_v1.tar.gz, the Large Movie Review Dataset v1.0 (84 MB, ai.stanford.edu/~amaas/data/sentiment); "
    "unpack it and give --imdb aclImdb";
constexpr const char* kCifarDownload =
    "cifar-10-binary.tar.gz, CIFAR-10 binary version (162 MB, www.cs.toronto.edu/~kriz/cifar.html); "
    "unpack it and give --cifar cifar-10-batches-bin";

// Byte documents of LRA's text and retrieval tasks, and ListOps' length (configs/lra/*.yaml).
constexpr int64_t kTextLen = 4000;
constexpr int64_t kListOpsLen = 2000;
// LRA's split sizes of the generated tasks.
constexpr SplitCounts kListOpsCounts{96000, 2000, 2000};
constexpr SplitCounts kPathfinderCounts{160000, 20000, 20000};
// Validation share carved from a training split that has no validation split of its own.
constexpr double kCarvedValidation = 0.1;

std::string level_folder(const std::string& level) {
  if (level == "easy") return "curv_baseline";
  if (level == "intermediate") return "curv_contour_length_9";
  ST_CHECK(level == "hard", "--pathfinder-level '", level, "' is not one of easy, intermediate, hard");
  return "curv_contour_length_14";
}

// The folders the release archive may unpack to under DIR: DIR itself, DIR/lra_release,
// DIR/lra_release/lra_release.
const char* kReleaseLevels[] = {"", "lra_release", "lra_release/lra_release"};
const char* kReleaseFolders[] = {"listops-1000", "tsv_data", "pathfinder32", "pathfinder128"};

// Checks --release: a folder holding at least one of the release's folders at one of its levels.
void check_release(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  ST_CHECK(fs::is_directory(dir, ec), "--release ", dir, ": no such folder");
  for (const char* level : kReleaseLevels)
    for (const char* folder : kReleaseFolders)
      if (fs::is_directory(fs::path(dir) / level / folder, ec)) return;
  ST_THROW("--release ", dir, ": holds none of listops-1000/, tsv_data/, pathfinder32/, pathfinder128/ "
           "(give the folder that lra_release.gz unpacks to)");
}

// The release's folder `name` (e.g. "tsv_data") under whichever level holds it, as an absolute
// path (the same source however DIR was written); "DIR/name" when none does.
fs::path release_folder(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const char* level : kReleaseLevels) {
    fs::path p = fs::path(dir) / level / name;
    if (fs::is_directory(p, ec)) return fs::weakly_canonical(p, ec);
  }
  return fs::path(dir) / name;
}

// How one task is made: `make` writes it into a folder, from `source` ("official: PATH" or
// "synthetic (...)"); no `make`: its source is missing and `download` says what to fetch.
struct TaskPlan {
  std::string source;
  std::string absent;    // why a given official source is not used (shown beside synthetic / missing)
  std::string download;
  std::function<void(const std::string& dir, const JobOptions& job)> make;
};

SplitCounts scaled(SplitCounts c, double scale) {
  auto s = [&](int64_t n) { return n == 0 ? 0 : std::max<int64_t>(1, std::llround(static_cast<double>(n) * scale)); };
  return {s(c.train), s(c.val), s(c.test)};
}

// Files that must all exist for an official source; returns the first missing one, or "".
std::string first_missing(const std::vector<fs::path>& paths) {
  std::error_code ec;
  for (const auto& p : paths)
    if (!fs::exists(p, ec)) return p.string();
  return "";
}

TaskPlan plan_task(const std::string& task, const LraPrepareOptions& opt) {
  TaskPlan plan;
  const std::string& release = opt.release;
  auto official = [&](const std::vector<fs::path>& needed, const std::string& given, const std::string& where) {
    if (given.empty()) return false;
    std::string missing = first_missing(needed);
    if (!missing.empty()) {
      plan.absent = missing + " does not exist";
      return false;
    }
    std::error_code ec;
    plan.source = "official: " + fs::weakly_canonical(where, ec).string();
    return true;
  };
  if (task == "listops") {
    fs::path d = release_folder(release, "listops-1000");
    if (official({d / "basic_train.tsv", d / "basic_val.tsv", d / "basic_test.tsv"}, release, d.string()))
      plan.make = [d](const std::string& dir, const JobOptions& job) {
        ListOpsTsvOptions o;
        o.max_len = kListOpsLen;
        for (const char* split : {"train", "val", "test"})
          convert_listops_tsv((d / ("basic_" + std::string(split) + ".tsv")).string(), dir + "/" + split, o, job);
      };
    else
      plan.make = [&opt](const std::string& dir, const JobOptions& job) {
        ListOpsOptions o;
        o.max_len = kListOpsLen;
        o.min_len = kListOpsLen / 4;
        generate_listops_dataset(dir, o, scaled(kListOpsCounts, opt.synthetic_scale), job);
      };
  } else if (task == "retrieval") {
    fs::path d = release_folder(release, "tsv_data");
    auto file = [d](const char* s) { return d / ("new_aan_pairs." + std::string(s) + ".tsv"); };
    plan.download = kReleaseDownload;
    if (official({file("train"), file("eval"), file("test")}, release, d.string()))
      plan.make = [file](const std::string& dir, const JobOptions& job) {
        ByteTsvOptions o;
        o.max_len = kTextLen;
        o.classes = 2;
        convert_retrieval_tsv(file("train").string(), dir + "/train", o, job);
        convert_retrieval_tsv(file("eval").string(), dir + "/val", o, job);
        convert_retrieval_tsv(file("test").string(), dir + "/test", o, job);
      };
  } else if (task == "text") {
    fs::path d(opt.imdb);
    plan.download = kImdbDownload;
    if (official({d / "train" / "neg", d / "train" / "pos", d / "test" / "neg", d / "test" / "pos"}, opt.imdb, d.string()))
      plan.make = [d](const std::string& dir, const JobOptions& job) {
        JobOptions carve = job;
        carve.val_fraction = kCarvedValidation;
        carve.val_prefix = dir + "/val";
        convert_imdb_split((d / "train").string(), dir + "/train", kTextLen, carve);
        convert_imdb_split((d / "test").string(), dir + "/test", kTextLen, job);
      };
  } else if (task == "image") {
    fs::path d(opt.cifar);
    plan.download = kCifarDownload;
    std::vector<fs::path> batches;
    for (int i = 1; i <= 5; ++i) batches.push_back(d / ("data_batch_" + std::to_string(i) + ".bin"));
    std::vector<fs::path> needed = batches;
    needed.push_back(d / "test_batch.bin");
    if (official(needed, opt.cifar, d.string()))
      plan.make = [d, batches](const std::string& dir, const JobOptions& job) {
        JobOptions carve = job;
        carve.val_fraction = kCarvedValidation;
        carve.val_prefix = dir + "/val";
        std::vector<std::string> train;
        for (const auto& b : batches) train.push_back(b.string());
        convert_cifar10(train, dir + "/train", carve);
        convert_cifar10({(d / "test_batch.bin").string()}, dir + "/test", job);
      };
  } else if (task == "pathfinder" || task == "pathx") {
    const int size = task == "pathfinder" ? 32 : 128;
    fs::path d = release_folder(release, "pathfinder" + std::to_string(size)) / level_folder(opt.pathfinder_level);
    if (official({d / "metadata"}, release, d.string()))
      plan.make = [d, size](const std::string& dir, const JobOptions& job) {
        PathfinderPngOptions o;
        o.root = d.string();
        o.size = size;
        convert_pathfinder_png(o, dir, job);
      };
    else
      plan.make = [&opt, size](const std::string& dir, const JobOptions& job) {
        generate_pathfinder_dataset(dir, PathfinderOptions::for_size(size),
                                    scaled(kPathfinderCounts, opt.synthetic_scale), job);
      };
  } else {
    std::string names;
    for (const auto& n : lra_task_names()) names += (names.empty() ? "" : ", ") + n;
    ST_THROW("--tasks: unknown task '", task, "' (expected some of: ", names, ")");
  }
  if (plan.make && plan.source.empty()) {
    // The generator's settings are part of the source: a rerun with others makes the task again.
    char synthetic[96];
    std::snprintf(synthetic, sizeof(synthetic), "synthetic (seed %llu, scale %g)",
                  static_cast<unsigned long long>(opt.job.seed), opt.synthetic_scale);
    plan.source = synthetic;
  }
  return plan;
}

// Split sizes and the majority-class rate, read from the shards (labels only).
void measure(const std::string& dir, LraTaskReport& r) {
  std::map<int32_t, int64_t> hist[3];
  int64_t* counts[3] = {&r.train, &r.val, &r.test};
  const char* splits[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; ++s) {
    hist[s] = label_histogram(existing_shards(dir + "/" + splits[s]));
    *counts[s] = 0;
    for (const auto& [label, n] : hist[s]) *counts[s] += n;
  }
  if (hist[0].empty()) return;
  auto top = std::max_element(hist[0].begin(), hist[0].end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
  const auto& judged = r.test > 0 ? hist[2] : hist[0];
  const int64_t total = r.test > 0 ? r.test : r.train;
  auto hit = judged.find(top->first);
  r.majority = static_cast<double>(hit == judged.end() ? 0 : hit->second) / static_cast<double>(total);
}

// OUT/<task>/prepared.json. A manifest that cannot be read, or whose fields are not what
// write_manifest writes, counts as absent.
struct Manifest {
  bool valid = false;
  std::string source;
  std::map<std::string, int64_t> examples;  // per split
};

Manifest read_manifest(const std::string& path) {
  Manifest m;
  std::ifstream in(path);
  if (!in) return m;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > (1 << 20)) return m;
  try {
    check_json_depth(text, 4, path);  // nesting deeper would be a stack overflow to parse
  } catch (const Error&) {
    return m;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return m;
  const auto complete = j.find("complete"), source = j.find("source"), examples = j.find("examples");
  if (complete == j.end() || !complete->is_boolean() || !complete->get<bool>()) return m;
  if (source == j.end() || !source->is_string() || examples == j.end() || !examples->is_object()) return m;
  for (const char* split : {"train", "val", "test"}) {
    auto n = examples->find(split);
    if (n == examples->end() || !n->is_number_integer()) return m;
    m.examples[split] = n->get<int64_t>();
  }
  m.source = source->get<std::string>();
  m.valid = true;
  return m;
}

void write_manifest(const std::string& path, const LraTaskReport& r) {
  nlohmann::json j;
  j["task"] = r.task;
  j["source"] = r.source;
  j["complete"] = true;
  j["examples"] = {{"train", r.train}, {"val", r.val}, {"test", r.test}};
  j["majority_class_rate"] = r.majority;
  write_text_atomically(path, j.dump(2) + "\n");
}

bool has_shards(const std::string& dir) {
  for (const char* s : {"train", "val", "test"})
    if (!existing_shards(dir + "/" + s).empty()) return true;
  return false;
}

// A split the manifest says was written whose shards are gone ("" when none).
std::string gone_split(const std::string& dir, const Manifest& m) {
  for (const auto& [split, n] : m.examples)
    if (n > 0 && existing_shards(dir + "/" + split).empty()) return split;
  return "";
}

bool is_synthetic(const std::string& source) { return source.rfind("synthetic", 0) == 0; }

// Makes a task in DIR.partial and swaps it in whole when it is complete, so that a failure or
// an interruption never leaves a half-made task under DIR, nor loses the one made before.
void make_task(const TaskPlan& plan, const std::string& dir, const JobOptions& job, LraTaskReport& r) {
  const std::string staging = dir + ".partial", old = dir + ".old";
  fs::remove_all(staging);  // left by an interrupted run
  fs::remove_all(old);
  fs::create_directories(staging);
  try {
    plan.make(staging, job);
    measure(staging, r);
    write_manifest(staging + "/prepared.json", r);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  std::error_code ec;
  if (fs::exists(dir, ec)) fs::rename(dir, old);
  fs::rename(staging, dir);
  fs::remove_all(old);
}

}  // namespace

const std::vector<std::string>& lra_task_names() {
  static const std::vector<std::string> names = {"listops", "text", "retrieval", "image", "pathfinder", "pathx"};
  return names;
}

std::vector<LraTaskReport> prepare_lra(const LraPrepareOptions& opt) {
  ST_CHECK(opt.synthetic_scale > 0 && opt.synthetic_scale <= 1, "--scale ", opt.synthetic_scale,
           " is not in (0, 1]");
  level_folder(opt.pathfinder_level);  // checks the level before any work
  check_release(opt.release);
  for (const auto& [dir, option] : {std::pair{opt.imdb, "--imdb"}, std::pair{opt.cifar, "--cifar"}}) {
    std::error_code ec;
    ST_CHECK(dir.empty() || fs::is_directory(dir, ec), option, " ", dir, ": no such folder");
  }
  {
    std::error_code ec;
    ST_CHECK(!fs::exists(opt.out, ec) || fs::is_directory(opt.out, ec), "--out ", opt.out, " exists and is not a folder");
  }
  std::vector<std::string> tasks;
  for (const std::string& t : opt.tasks.empty() ? lra_task_names() : opt.tasks)
    if (std::find(tasks.begin(), tasks.end(), t) == tasks.end()) tasks.push_back(t);
  std::vector<TaskPlan> plans;
  for (const std::string& t : tasks) plans.push_back(plan_task(t, opt));  // all checked before work

  std::vector<LraTaskReport> reports;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const TaskPlan& plan = plans[i];
    LraTaskReport r;
    r.task = tasks[i];
    const std::string dir = opt.out + "/" + r.task;
    const Manifest before = read_manifest(dir + "/prepared.json");
    const std::string gone = before.valid ? gone_split(dir, before) : "";
    // Remade: when no complete task is there, when a different source is given now, or with
    // --overwrite; generated data never replaces data made from a download.
    bool remake = false;
    if (!plan.make) {
      remake = false;
    } else if (before.valid && gone.empty()) {
      const bool replaces_download = is_synthetic(plan.source) && !is_synthetic(before.source);
      remake = !replaces_download && (opt.job.overwrite || plan.source != before.source);
    } else if (!before.valid && has_shards(dir)) {
      remake = opt.job.overwrite;  // shards made by other commands
    } else {
      remake = true;
    }
    if (remake) {
      auto begin = std::chrono::steady_clock::now();
      r.source = plan.source;
      std::printf("lra: %s from %s%s\n", r.task.c_str(), plan.source.c_str(),
                  plan.absent.empty() ? "" : (" (" + plan.absent + ")").c_str());
      std::fflush(stdout);
      make_task(plan, dir, opt.job, r);
      r.status = "made";
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    } else if (before.valid && gone.empty()) {
      r.source = before.source;
      measure(dir, r);
      r.status = "kept";
    } else if (before.valid) {
      r.source = before.source;
      r.status = "incomplete (its " + gone + " shards are gone)";
      r.download = plan.download + " (then run again: the task is made anew)";
    } else if (has_shards(dir)) {
      r.source = "existing shards";
      measure(dir, r);
      r.status = "kept (shards not made by st-data lra; --overwrite remakes them)";
    } else {
      r.source = "missing";
      r.status = "missing";
      r.download = plan.download + (plan.absent.empty() ? "" : " (" + plan.absent + ")");
    }
    reports.push_back(r);
  }
  return reports;
}

std::string format_lra_report(const std::vector<LraTaskReport>& reports) {
  std::ostringstream out;
  out << "| task | source | train | val | test | majority class | status | seconds |\n"
         "|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : reports) {
    char majority[32] = "-", seconds[32];
    if (r.majority >= 0) std::snprintf(majority, sizeof(majority), "%.1f%%", 100 * r.majority);
    std::snprintf(seconds, sizeof(seconds), "%.1f", r.seconds);
    out << "| " << r.task << " | " << r.source << " | " << r.train << " | " << r.val << " | " << r.test << " | "
        << majority << " | " << r.status << " | " << seconds << " |\n";
  }
  bool any_missing = false;
  for (const auto& r : reports)
    if (!r.download.empty()) {
      if (!any_missing) out << "\nmissing sources (st-data lra makes these tasks once they are given):\n";
      any_missing = true;
      out << "  " << r.task << ": " << r.download << "\n";
    }
  return out.str();
}

}  // namespace st::tasks
