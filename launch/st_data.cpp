// st-data: makes the Long-Range Arena datasets as SimpleTRON shards (`st-data lra`: the whole suite; generators for ListOps and
// Pathfinder/Path-X, and a long-range recall task; converters for byte-level text, retrieval pairs, CIFAR-10, LM windows and
// the official LRA ListOps/Pathfinder files; WordPiece sentences of documentation) and inspects shards. `st-data --help` and
// `st-data SUBCOMMAND --help` list the options. Errors: one line "st-data: error: ...", exit 1.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "core/tensor/error.h"
#include "data/tasks/byte_tsv.h"
#include "data/tasks/cifar.h"
#include "data/tasks/inspect.h"
#include "data/tasks/listops_dataset.h"
#include "data/tasks/lra_prepare.h"
#include "data/tasks/listops_tsv.h"
#include "data/tasks/lm_windows.h"
#include "data/tasks/pathfinder_dataset.h"
#include "data/tasks/pathfinder_png.h"
#include "data/tasks/recall.h"
#include "data/tasks/sentences.h"
#include "launch/cli.h"

namespace {

using namespace st::tasks;

struct CommonOptions {
  uint64_t seed = 0;
  int64_t shard_size = 10000;
  int threads = 0;
  bool overwrite = false;
  bool quiet = false;
  double val_fraction = 0;
  std::string val_out;
};

// Converters of a single input split: a validation split carved from it (data/tasks/carved_split.h).
void add_carve_options(CLI::App* sub, CommonOptions& c) {
  sub->add_option("--val-fraction", c.val_fraction,
                  "share of the examples carved out as a validation split (deterministic: the same input, "
                  "--seed and fraction give the same split; 0: none)")
      ->check(CLI::Range(0.0, 0.999999))
      ->capture_default_str();
  sub->add_option("--val-out", c.val_out, "prefix of the carved validation split (default: 'val' beside --out)");
  sub->add_option("--seed", c.seed, "seed of the --val-fraction draw")->capture_default_str();
}

void add_writer_options(CLI::App* sub, CommonOptions& c, bool seeded) {
  if (seeded) sub->add_option("--seed", c.seed, "random seed (same seed, same data)")->capture_default_str();
  sub->add_option("--shard-size", c.shard_size, "examples per shard file")->capture_default_str();
  sub->add_option("--threads", c.threads, "worker threads (0: automatic, as the config key threads)")->capture_default_str();
  sub->add_flag("--overwrite", c.overwrite, "replace existing shards of the output split(s)");
  sub->add_flag("--quiet", c.quiet, "no progress output");
}

void add_split_counts(CLI::App* sub, SplitCounts& counts) {
  sub->add_option("--train", counts.train, "training examples")->capture_default_str();
  sub->add_option("--val", counts.val, "validation examples")->capture_default_str();
  sub->add_option("--test", counts.test, "test examples")->capture_default_str();
}

void check_counts(const SplitCounts& c) {
  ST_CHECK(c.train >= 0, "--train must not be negative, got ", c.train);
  ST_CHECK(c.val >= 0, "--val must not be negative, got ", c.val);
  ST_CHECK(c.test >= 0, "--test must not be negative, got ", c.test);
  ST_CHECK(c.train + c.val + c.test > 0, "--train, --val and --test are all 0: nothing to do");
}

JobOptions job_options(const CommonOptions& c, Progress* progress) {
  ST_CHECK(c.shard_size >= 1, "--shard-size must be at least 1, got ", c.shard_size);
  ST_CHECK(c.threads >= 0, "--threads must not be negative, got ", c.threads);
  JobOptions job;
  job.seed = c.seed;
  job.shard_size = c.shard_size;
  job.threads = c.threads;
  job.overwrite = c.overwrite;
  job.progress = progress;
  job.val_fraction = c.val_fraction;
  job.val_prefix = c.val_out;
  return job;
}

std::string file_range(const std::vector<std::string>& files) {
  if (files.empty()) return "(no files)";
  if (files.size() == 1) return files[0];
  return files.front() + " .. " + files.back() + " (" + std::to_string(files.size()) + " shards)";
}

void report_splits(const std::vector<SplitResult>& splits) {
  for (const auto& s : splits)
    if (s.examples > 0) std::printf("%-5s %9lld examples -> %s\n", s.name.c_str(),
                                    static_cast<long long>(s.examples), file_range(s.files).c_str());
}

void report_conversion(const ConvertResult& r) {
  std::printf("%lld examples -> %s\n", static_cast<long long>(r.examples), file_range(r.files).c_str());
  if (!r.val_files.empty())
    std::printf("%lld examples carved out for validation -> %s\n", static_cast<long long>(r.val_examples),
                file_range(r.val_files).c_str());
  if (r.truncated > 0) std::printf("%lld examples were truncated to the sequence length\n",
                                   static_cast<long long>(r.truncated));
  if (r.skipped > 0) std::printf("%lld blank lines skipped\n", static_cast<long long>(r.skipped));
}

const std::set<std::string> kSubcommands = {"lra", "listops", "pathfinder", "recall", "text", "retrieval", "image",
                                            "lm", "listops-tsv", "pathfinder-png", "sentences", "inspect"};

// Prints the error; returns the exit code (docs/design.md, "Exit codes"): kExitUsage for a wrong
// command line, kExitData for shards that cannot be read (inspect), kExitError otherwise.
int fail(const std::string& message, int code) {
  std::fprintf(stderr, "st-data: error: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Tokens per row: a row is built in memory whole (1 << 24 tokens = 64 MiB), far above any task's.
  const CLI::Range kRowTokens(int64_t{1}, int64_t{1} << 24);
  CLI::App app{"Long-Range Arena datasets as SimpleTRON shards: generators, converters, inspection.",
               "st-data"};
  app.set_version_flag("--version", st::version_text("st-data"));
  app.require_subcommand(1);
  CommonOptions common;

  // lra
  LraPrepareOptions lra;
  std::string lra_tasks;
  auto* c_lra = app.add_subcommand(
      "lra", "every LRA task where configs/lra/*.yaml read it, from the official downloads where given, "
             "generated (ListOps, Pathfinder, Path-X) where not; ends with a table of sources, split sizes and "
             "majority-class rates, naming the download of each missing source. Safe to run again");
  c_lra->add_option("--out", lra.out, "output directory (OUT/<task>/{train,val,test}-*.h5)")->capture_default_str();
  c_lra->add_option("--release", lra.release,
                    "the unpacked LRA release (lra_release.gz): listops-1000/, tsv_data/, pathfinder32/, pathfinder128/");
  c_lra->add_option("--imdb", lra.imdb, "the unpacked IMDb reviews (aclImdb_v1.tar.gz): aclImdb/");
  c_lra->add_option("--cifar", lra.cifar, "the unpacked CIFAR-10 binary batches (cifar-10-binary.tar.gz): cifar-10-batches-bin/");
  c_lra->add_option("--pathfinder-level", lra.pathfinder_level,
                    "difficulty folder of the release's Pathfinder/Path-X: easy (curv_baseline), intermediate "
                    "(curv_contour_length_9), hard (curv_contour_length_14, LRA's)")
      ->capture_default_str();
  c_lra->add_option("--tasks", lra_tasks, "comma-separated subset of listops,text,retrieval,image,pathfinder,pathx (default: all)");
  c_lra->add_option("--scale", lra.synthetic_scale,
                    "share of LRA's split sizes for the generated tasks (ListOps 96k/2k/2k, Pathfinder and Path-X "
                    "160k/20k/20k), e.g. 0.01 for a quick try")
      ->capture_default_str();
  c_lra->add_option("--seed", common.seed, "seed of the generated tasks and of the carved validation splits")
      ->capture_default_str();
  c_lra->add_option("--shard-size", common.shard_size, "examples per shard file")->capture_default_str();
  c_lra->add_option("--threads", common.threads, "worker threads (0: automatic)")->capture_default_str();
  c_lra->add_flag("--overwrite", common.overwrite, "remake every task that has a source, also those prepared before");
  c_lra->add_flag("--quiet", common.quiet, "no progress output");

  // listops
  ListOpsOptions listops;
  SplitCounts listops_counts{96000, 2000, 2000};
  std::string listops_out;
  auto* c_listops = app.add_subcommand("listops", "generate ListOps as in LRA (DIR/{train,val,test}-*.h5)");
  c_listops->add_option("--out", listops_out, "output directory")->required();
  add_split_counts(c_listops, listops_counts);
  auto* listops_min = c_listops->add_option("--min-len", listops.min_len, "shortest sequence, tokens (default: max-len / 4, LRA 500)");
  c_listops->add_option("--max-len", listops.max_len, "longest sequence and seq_len, tokens")->check(kRowTokens)->capture_default_str();
  c_listops->add_option("--max-depth", listops.max_depth, "tree depth limit, leaves included")->capture_default_str();
  c_listops->add_option("--max-args", listops.max_args, "arguments per operator, at most")->capture_default_str();
  add_writer_options(c_listops, common, true);

  // pathfinder
  int pf_size = 0;
  PathfinderOptions pf_opt;
  SplitCounts pf_counts{160000, 20000, 20000};
  std::string pf_out;
  auto* c_pf = app.add_subcommand("pathfinder", "generate Pathfinder (32) / Path-X (128) images");
  c_pf->add_option("--out", pf_out, "output directory")->required();
  c_pf->add_option("--size", pf_size, "image side: 32 (Pathfinder), 64 or 128 (Path-X)")->required();
  add_split_counts(c_pf, pf_counts);
  auto* pf_dash = c_pf->add_option("--dash-len", pf_opt.dash_len, "dash length, pixels (default by size: 2/3/5)");
  auto* pf_gap = c_pf->add_option("--gap", pf_opt.gap, "gap between dashes, pixels (1/2/3)");
  auto* pf_contour = c_pf->add_option("--contour-len", pf_opt.contour_len, "dashes per target contour (14)");
  auto* pf_distr = c_pf->add_option("--distractors", pf_opt.distractors, "distractor contours (5/5/8)");
  auto* pf_distr_len = c_pf->add_option("--distractor-len", pf_opt.distractor_len, "dashes per distractor (4/5/5)");
  auto* pf_curv = c_pf->add_option("--curvature", pf_opt.curvature, "largest turn between dashes, degrees (30)");
  auto* pf_thick = c_pf->add_option("--thickness", pf_opt.thickness, "stroke width, pixels (1/1.5/1.5)");
  auto* pf_radius = c_pf->add_option("--marker-radius", pf_opt.marker_radius, "marker radius, pixels (1.5/2.5/3)");
  auto* pf_mdist = c_pf->add_option("--marker-distance", pf_opt.marker_distance, "least marker distance, pixels (7/12/20)");
  auto* pf_clear = c_pf->add_option("--clearance", pf_opt.clearance, "empty pixels between contours (1)");
  add_writer_options(c_pf, common, true);

  // recall
  RecallOptions recall;
  SplitCounts recall_counts{10000, 500, 500};
  std::string recall_out;
  auto* c_recall = app.add_subcommand("recall", "generate a long-range recall task: find the one marked token among seq-len and read its value (classification), or recall a marked value at the end (--lm)");
  c_recall->add_option("--out", recall_out, "output directory")->required();
  add_split_counts(c_recall, recall_counts);
  c_recall->add_option("--seq-len", recall.seq_len, "tokens per sequence (at least 4)")->check(kRowTokens)->capture_default_str();
  c_recall->add_option("--classes", recall.classes, "values a marked token can hold (the classes)")->capture_default_str();
  c_recall->add_option("--noise", recall.noise, "noise ids around the pair")->capture_default_str();
  c_recall->add_option("--min-pos", recall.min_pos, "classification: earliest position of the marked token (default: seq-len / 2, far from the CLS at the start)")->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  c_recall->add_flag("--lm", recall.lm, "language-model shards: a marker and a value in the first half, the marker and the same value again at the end");
  add_writer_options(c_recall, common, true);

  // text / retrieval
  ByteTsvOptions text_opt, retr_opt;
  std::string text_in, text_out, retr_in, retr_out;
  auto* c_text = app.add_subcommand("text", "byte-level text classification from label<TAB>text lines");
  auto* c_retr = app.add_subcommand("retrieval", "byte-level document pairs from label<TAB>id1<TAB>id2<TAB>text1<TAB>text2 lines");
  for (auto [sub, opt, in, out] : {std::tuple{c_text, &text_opt, &text_in, &text_out},
                                   std::tuple{c_retr, &retr_opt, &retr_in, &retr_out}}) {
    sub->add_option("--input", *in, "TSV file")->required();
    sub->add_option("--out", *out, "output prefix: writes PREFIX-00000.h5, ...")->required();
    sub->add_option("--max-len", opt->max_len, "bytes per document (truncate/pad)")->check(kRowTokens)->capture_default_str();
    sub->add_option("--classes", opt->classes, "number of classes (default: largest label + 1)");
    sub->add_flag("--skip-header", opt->skip_header, "the first line is a header");
    add_writer_options(sub, common, false);
    add_carve_options(sub, common);
  }

  // image
  std::vector<std::string> image_in;
  std::string image_out;
  auto* c_image = app.add_subcommand("image", "CIFAR-10 binary batches to 1024 gray pixel tokens");
  c_image->add_option("--input", image_in, "data_batch_N.bin / test_batch.bin files")->required();
  c_image->add_option("--out", image_out, "output prefix")->required();
  add_writer_options(c_image, common, false);
  add_carve_options(c_image, common);

  // lm
  std::vector<std::string> lm_in;
  std::string lm_out;
  LmOptions lm_opt;
  auto* c_lm = app.add_subcommand("lm", "byte-level language-model windows from any text");
  c_lm->add_option("--input", lm_in, "text files (read as one stream)")->required();
  c_lm->add_option("--out", lm_out, "output prefix")->required();
  c_lm->add_option("--seq-len", lm_opt.seq_len, "bytes per window")->check(kRowTokens)->required();
  c_lm->add_option("--stride", lm_opt.stride, "bytes between window starts (default: seq-len)");
  add_writer_options(c_lm, common, false);

  // listops-tsv
  ListOpsTsvOptions ltsv_opt;
  std::string ltsv_in, ltsv_out;
  bool ltsv_no_verify = false;
  auto* c_ltsv = app.add_subcommand("listops-tsv", "convert an LRA ListOps release file (basic_train.tsv ...)");
  c_ltsv->add_option("--input", ltsv_in, "Source<TAB>Target file")->required();
  c_ltsv->add_option("--out", ltsv_out, "output prefix")->required();
  c_ltsv->add_option("--max-len", ltsv_opt.max_len, "seq_len (longer rows are truncated)")->check(kRowTokens)->capture_default_str();
  c_ltsv->add_flag("--no-verify", ltsv_no_verify, "do not check labels against the expressions");
  add_writer_options(c_ltsv, common, false);
  add_carve_options(c_ltsv, common);

  // pathfinder-png
  PathfinderPngOptions ppng_opt;
  std::string ppng_out;
  auto* c_ppng = app.add_subcommand("pathfinder-png", "convert the LRA Pathfinder release (PNG + metadata)");
  c_ppng->add_option("--root", ppng_opt.root, "difficulty folder holding metadata/*.npy and the images");
  c_ppng->add_option("--listing", ppng_opt.listing, "instead of metadata: 'relative/path.png<TAB>label' lines");
  c_ppng->add_option("--out", ppng_out, "output directory")->required();
  c_ppng->add_option("--size", ppng_opt.size, "image side (default: the first image's)");
  c_ppng->add_option("--val-percent", ppng_opt.val_percent, "validation share, %")->capture_default_str();
  c_ppng->add_option("--test-percent", ppng_opt.test_percent, "test share, %")->capture_default_str();
  add_writer_options(c_ppng, common, false);

  // sentences
  SentenceOptions sent_opt;
  std::vector<std::string> sent_in;
  std::string sent_out;
  auto* c_sent = app.add_subcommand("sentences", "prose sentences of text/Markdown/reStructuredText files, WordPiece-tokenised (unlabelled)");
  c_sent->add_option("--input", sent_in, "text files or directories (their .rst, .md, .txt files): documentation, books, ...")->required();
  c_sent->add_option("--vocab", sent_opt.vocab, "BERT vocab.txt (e.g. from scripts/pretrained.sh)")->required();
  c_sent->add_option("--out", sent_out, "output directory (train/val/test shards)")->required();
  c_sent->add_option("--max-len", sent_opt.max_len, "ids per row with [CLS] and [SEP]; longer sentences are cut")->check(kRowTokens)->capture_default_str();
  c_sent->add_option("--min-words", sent_opt.min_words, "shortest sentence kept, in words")->capture_default_str();
  c_sent->add_option("--max-words", sent_opt.max_words, "longest sentence kept, in words")->capture_default_str();
  c_sent->add_option("--val-percent", sent_opt.val_percent, "validation share, %")->capture_default_str();
  c_sent->add_option("--test-percent", sent_opt.test_percent, "test share, %")->capture_default_str();
  add_writer_options(c_sent, common, false);

  // inspect
  std::vector<std::string> inspect_in;
  int64_t inspect_tokens = 48;
  auto* c_inspect = app.add_subcommand("inspect", "describe a shard file or a split (glob)");
  c_inspect->add_option("shards", inspect_in, "shard files or a quoted glob")->required();
  c_inspect->add_option("--tokens", inspect_tokens, "tokens of the first example to show")->capture_default_str();

  if (argc > 1 && argv[1][0] != '-' && !kSubcommands.count(argv[1])) {
    std::string names;
    for (const auto& n : kSubcommands) names += (names.empty() ? "" : ", ") + n;
    return fail("unknown subcommand '" + std::string(argv[1]) + "' (expected one of: " + names + ")", st::kExitUsage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see st-data --help)", st::kExitUsage);
  }

  try {
    Progress progress(!common.quiet);
    auto begin = std::chrono::steady_clock::now();
    if (c_lra->parsed()) {
      for (size_t at = 0; !lra_tasks.empty() && at <= lra_tasks.size();) {
        size_t comma = std::min(lra_tasks.find(',', at), lra_tasks.size());
        if (comma > at) lra.tasks.push_back(lra_tasks.substr(at, comma - at));
        at = comma + 1;
      }
      ST_CHECK(c_lra->get_option("--tasks")->count() == 0 || !lra.tasks.empty(), "--tasks '", lra_tasks,
               "' names no task");
      lra.job = job_options(common, &progress);
      std::vector<LraTaskReport> reports = prepare_lra(lra);
      std::printf("\n%s", format_lra_report(reports).c_str());
    } else if (c_listops->parsed()) {
      if (listops_min->count() == 0) listops.min_len = std::max<int64_t>(1, listops.max_len / 4);
      check_counts(listops_counts);
      report_splits(generate_listops_dataset(listops_out, listops, listops_counts, job_options(common, &progress)));
    } else if (c_pf->parsed()) {
      ST_CHECK(pf_size == 32 || pf_size == 64 || pf_size == 128, "--size ", pf_size,
               " is not one of 32, 64, 128");
      PathfinderOptions opt = PathfinderOptions::for_size(pf_size);
      auto take = [](CLI::Option* o, auto& dst, const auto& src) { if (o->count()) dst = src; };
      take(pf_dash, opt.dash_len, pf_opt.dash_len);
      take(pf_gap, opt.gap, pf_opt.gap);
      take(pf_contour, opt.contour_len, pf_opt.contour_len);
      take(pf_distr, opt.distractors, pf_opt.distractors);
      take(pf_distr_len, opt.distractor_len, pf_opt.distractor_len);
      take(pf_curv, opt.curvature, pf_opt.curvature);
      take(pf_thick, opt.thickness, pf_opt.thickness);
      take(pf_radius, opt.marker_radius, pf_opt.marker_radius);
      take(pf_mdist, opt.marker_distance, pf_opt.marker_distance);
      take(pf_clear, opt.clearance, pf_opt.clearance);
      check_counts(pf_counts);
      report_splits(generate_pathfinder_dataset(pf_out, opt, pf_counts, job_options(common, &progress)));
    } else if (c_recall->parsed()) {
      check_counts(recall_counts);
      report_splits(generate_recall_dataset(recall_out, recall, recall_counts, job_options(common, &progress)));
    } else if (c_text->parsed()) {
      report_conversion(convert_text_tsv(text_in, text_out, text_opt, job_options(common, &progress)));
    } else if (c_retr->parsed()) {
      report_conversion(convert_retrieval_tsv(retr_in, retr_out, retr_opt, job_options(common, &progress)));
    } else if (c_image->parsed()) {
      report_conversion(convert_cifar10(image_in, image_out, job_options(common, &progress)));
    } else if (c_lm->parsed()) {
      report_conversion(convert_lm(lm_in, lm_out, lm_opt, job_options(common, &progress)));
    } else if (c_ltsv->parsed()) {
      ltsv_opt.verify = !ltsv_no_verify;
      report_conversion(convert_listops_tsv(ltsv_in, ltsv_out, ltsv_opt, job_options(common, &progress)));
    } else if (c_ppng->parsed()) {
      PathfinderPngResult r = convert_pathfinder_png(ppng_opt, ppng_out, job_options(common, &progress));
      report_splits(r.splits);
      std::printf("image size %dx%d", r.size, r.size);
      if (r.empty_skipped > 0) std::printf(", %lld empty PNG files skipped", static_cast<long long>(r.empty_skipped));
      std::printf("\n");
    } else if (c_sent->parsed()) {
      report_splits(convert_sentences(sent_in, sent_out, sent_opt, job_options(common, &progress)));
    } else if (c_inspect->parsed()) {
      std::fputs(st::as_error<st::DataError>([&] { return inspect_shards(inspect_in, inspect_tokens); }).c_str(), stdout);
      return 0;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::printf("done in %.1f s\n", seconds);
  } catch (const st::DataError& e) {
    return fail(e.what(), st::kExitData);
  } catch (const std::exception& e) {
    return fail(e.what(), st::kExitError);
  }
  return 0;
}
