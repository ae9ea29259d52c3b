// LRA task generators and converters (data/tasks): ListOps evaluation and generation, the LRA
// ListOps TSV converter, Pathfinder drawing (size, balance, determinism, connectivity = label),
// CIFAR-10 / text / retrieval / LM converters, PNG decoding and the Pathfinder release
// converter, inspection. Every shard produced passes st::validate_shard. Inputs are small files
// the tests write into a temporary directory.
#include <gtest/gtest.h>
#include <png.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <queue>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/data/png_file.h"
#include "tests/support/expect_error.h"
#include "core/tensor/error.h"
#include "data/h5.h"
#include "data/shard.h"
#include "data/tasks/byte_tsv.h"
#include "data/tasks/carved_split.h"
#include "data/tasks/cifar.h"
#include "data/tasks/inspect.h"
#include "data/tasks/listops.h"
#include "data/tasks/listops_dataset.h"
#include "data/tasks/listops_tsv.h"
#include "data/tasks/recall.h"
#include "data/tasks/lm_windows.h"
#include "data/tasks/pathfinder.h"
#include "data/tasks/pathfinder_dataset.h"
#include "data/tasks/parallel.h"
#include "data/tasks/pathfinder_png.h"
#include "data/tasks/png_gray.h"
#include "data/tasks/seeds.h"

namespace st::tasks {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "st-tasks-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& content) const {
    fs::create_directories(fs::path(file(name)).parent_path());
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  std::string path_;
};

using testing::expect_error;

struct ShardData {
  ShardInfo info;
  std::vector<int32_t> inputs, inputs2, labels;
};

// Validates a shard and reads it whole.
ShardData read_shard(const std::string& path) {
  ShardData d;
  d.info = validate_shard(path);
  h5::File f = h5::File::open_read(path);
  d.inputs = f.read_i32("inputs");
  if (d.info.meta.pair) d.inputs2 = f.read_i32("inputs2");
  if (!d.info.meta.is_lm()) d.labels = f.read_i32("labels");
  return d;
}

// All shards of a series, concatenated.
ShardData read_series(const std::vector<std::string>& files) {
  EXPECT_FALSE(files.empty());
  ShardData all;
  for (const auto& f : files) {
    ShardData d = read_shard(f);
    all.info = d.info;
    all.inputs.insert(all.inputs.end(), d.inputs.begin(), d.inputs.end());
    all.inputs2.insert(all.inputs2.end(), d.inputs2.begin(), d.inputs2.end());
    all.labels.insert(all.labels.end(), d.labels.begin(), d.labels.end());
  }
  return all;
}

JobOptions quiet_job(uint64_t seed = 7, int threads = 2, int64_t shard_size = 10000) {
  JobOptions job;
  job.seed = seed;
  job.threads = threads;
  job.shard_size = shard_size;
  return job;
}

// ---- ListOps ---------------------------------------------------------------------------------

TEST(ParallelFor, ReportsTheLowestFailingIndexWhateverTheTiming) {
  // Index 5 fails late, 12 and 19 fail at once: a sequential loop would report 5, and so must
  // every parallel run.
  for (int run = 0; run < 20; ++run) {
    try {
      parallel_for(64, 4, [](int64_t i) {
        if (i % 7 != 5) return;
        if (i == 5) std::this_thread::sleep_for(std::chrono::milliseconds(3));
        throw std::runtime_error("index " + std::to_string(i));
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      ASSERT_STREQ(e.what(), "index 5") << "run " << run;
    }
  }
}

TEST(ListOps, EvaluatesHandWrittenExpressions) {
  EXPECT_EQ(evaluate_listops_text("[MAX 2 9 4 ]"), 9);
  EXPECT_EQ(evaluate_listops_text("[MIN 7 3 5 ]"), 3);
  EXPECT_EQ(evaluate_listops_text("[MED 1 8 3 ]"), 3);
  EXPECT_EQ(evaluate_listops_text("[MED 1 8 3 6 ]"), 4);  // floor((3 + 6) / 2), as int(np.median)
  EXPECT_EQ(evaluate_listops_text("[SM 7 8 9 ]"), 4);     // 24 mod 10
  EXPECT_EQ(evaluate_listops_text("5"), 5);
  EXPECT_EQ(evaluate_listops_text("[MAX 2 9 [MIN 4 7 ] 0 ]"), 9);
  EXPECT_EQ(evaluate_listops_text("[SM [MAX 2 9 ] [MIN 4 7 ] [MED 1 2 3 ] ]"), 5);
  EXPECT_EQ(evaluate_listops_text("[MIN [SM 5 5 ] [MAX [MED 9 9 1 ] 3 ] ]"), 0);
  // LRA text form: parentheses are formatting.
  EXPECT_EQ(evaluate_listops_text("( ( ( [MAX 2 ) 9 ) ] )"), 9);
  EXPECT_EQ(tokenize_listops("( ( ( [MAX 2 ) 9 ) ] )"),
            (std::vector<int32_t>{listops_op_id(ListOp::Max), listops_digit_id(2), listops_digit_id(9),
                                  kListOpsClose}));
}

TEST(ListOps, MalformedSequencesAreErrors) {
  expect_error([] { evaluate_listops_text("[MAX 2 9"); }, {"not closed"});
  expect_error([] { evaluate_listops_text("[MAX 2 ] ]"); }, {"token 3"});
  expect_error([] { evaluate_listops_text("[MAX ]"); }, {"without arguments"});
  expect_error([] { evaluate_listops_text("[MAX 2 [FOO 3 ] ]"); }, {"[FOO", "not a ListOps token"});
  expect_error([] { evaluate_listops_text(""); }, {"empty"});
}

TEST(ListOps, GeneratorIsDeterministicAndRespectsLimits) {
  ListOpsOptions opt;
  opt.max_len = 120;
  opt.min_len = 20;
  opt.max_depth = 4;
  opt.max_args = 5;
  for (int i = 0; i < 200; ++i) {
    auto r1 = example_rng(11, 1, i), r2 = example_rng(11, 1, i);
    ListOpsSequence a = generate_listops(opt, r1), b = generate_listops(opt, r2);
    ASSERT_EQ(a.ids, b.ids);
    auto len = static_cast<int64_t>(a.ids.size());
    EXPECT_GE(len, opt.min_len);
    EXPECT_LE(len, opt.max_len);
    EXPECT_LE(listops_depth(a.ids), opt.max_depth);
    EXPECT_EQ(evaluate_listops(a.ids), a.value);
    // Every operator has 2..max_args arguments.
    std::vector<int> args;  // per open operator
    for (int32_t id : a.ids) {
      if (id == kListOpsClose) {
        EXPECT_GE(args.back(), 2);
        EXPECT_LE(args.back(), opt.max_args);
        args.pop_back();
      }
      if (id != kListOpsClose && !args.empty()) ++args.back();
      if (id >= kListOpsFirstOp && id < kListOpsClose) args.push_back(0);
    }
    EXPECT_TRUE(args.empty());
  }
  auto r1 = example_rng(11, 1, 0), r2 = example_rng(12, 1, 0);
  EXPECT_NE(generate_listops(opt, r1).ids, generate_listops(opt, r2).ids);
}

TEST(ListOps, LraSizedSequences) {
  ListOpsOptions lra;  // max_len 2000, min_len 500, depth 10, args 10
  for (int i = 0; i < 20; ++i) {
    auto rng = example_rng(3, 1, i);
    ListOpsSequence s = generate_listops(lra, rng);
    EXPECT_GE(static_cast<int64_t>(s.ids.size()), 500);
    EXPECT_LE(static_cast<int64_t>(s.ids.size()), 2000);
    EXPECT_LE(listops_depth(s.ids), 10);
    EXPECT_EQ(evaluate_listops(s.ids), s.value);
  }
}

TEST(ListOps, ImpossibleOptionsAreErrors) {
  ListOpsOptions opt;
  opt.max_depth = 1;  // only single digits
  expect_error([&] { opt.validate(); }, {"--min-len", "--max-depth 1"});
  opt = {};
  opt.min_len = 3000;
  expect_error([&] { opt.validate(); }, {"--min-len 3000", "--max-len"});
  opt = {};
  opt.max_args = 1;
  expect_error([&] { opt.validate(); }, {"--max-args"});
}

TEST(ListOps, DatasetShardsAreValidDistinctAndThreadIndependent) {
  ScratchDir dir;
  ListOpsOptions opt;
  opt.max_len = 64;
  opt.min_len = 8;
  opt.max_depth = 4;
  opt.max_args = 4;
  SplitCounts counts{150, 30, 30};
  auto a = generate_listops_dataset(dir.file("a"), opt, counts, quiet_job(5, 1, 64));
  auto b = generate_listops_dataset(dir.file("b"), opt, counts, quiet_job(5, 3, 64));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].files.size(), 3u);  // 150 examples, 64 per shard
  EXPECT_EQ(a[0].files[0], dir.file("a") + "/train-00000.h5");
  std::set<std::vector<int32_t>> seen;
  for (size_t s = 0; s < 3; ++s) {
    ShardData da = read_series(a[s].files), db = read_series(b[s].files);
    EXPECT_EQ(da.inputs, db.inputs) << a[s].name;  // same data for any thread count
    EXPECT_EQ(da.labels, db.labels);
    EXPECT_EQ(da.info.meta.task, "listops");
    EXPECT_EQ(da.info.meta.seq_len, 64);
    EXPECT_EQ(da.info.meta.vocabulary, listops_vocabulary());
    int64_t n = static_cast<int64_t>(da.labels.size());
    EXPECT_EQ(n, s == 0 ? 150 : 30);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<int32_t> row(da.inputs.begin() + i * 64, da.inputs.begin() + (i + 1) * 64);
      EXPECT_EQ(evaluate_listops(row), da.labels[static_cast<size_t>(i)]);  // label = value
      EXPECT_TRUE(seen.insert(row).second) << "duplicate sequence in " << a[s].name;
    }
  }
  auto c = generate_listops_dataset(dir.file("c"), opt, counts, quiet_job(6, 2, 64));
  EXPECT_NE(read_series(a[0].files).inputs, read_series(c[0].files).inputs);
  // Writing over an existing split needs --overwrite.
  expect_error([&] { generate_listops_dataset(dir.file("a"), opt, counts, quiet_job(5)); },
               {"train-00000.h5", "--overwrite"});
}

TEST(ListOpsTsv, ConvertsTheLraReleaseFormat) {
  ScratchDir dir;
  std::string tsv = dir.write("basic_val.tsv",
                              "Source\tTarget\n"
                              "( ( ( [MAX 2 ) 9 ) ] )\t9\n"
                              "( ( ( ( [SM 3 ) ( ( [MIN 4 ) 8 ) ] ) ) 9 ) ] )\t6\n"
                              "\n"
                              "7\t7\n");
  ConvertResult r = convert_listops_tsv(tsv, dir.file("out/val"), {16, true}, quiet_job());
  EXPECT_EQ(r.examples, 3);
  ASSERT_EQ(r.files.size(), 1u);
  ShardData d = read_shard(r.files[0]);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{9, 6, 7}));
  EXPECT_EQ(listops_to_text({d.inputs.begin(), d.inputs.begin() + 16}), "[MAX 2 9 ]");
  EXPECT_EQ(listops_to_text({d.inputs.begin() + 16, d.inputs.begin() + 32}), "[SM 3 [MIN 4 8 ] 9 ]");
  EXPECT_EQ(d.inputs[4], 0);  // padded
  EXPECT_EQ(d.info.meta.vocab_size, kListOpsVocabSize);
}

TEST(ListOpsTsv, BadRowsNameTheLine) {
  ScratchDir dir;
  std::string malformed = dir.write("a.tsv", "Source\tTarget\n[MAX 1 2 ]\t2\n[MIN 1 2 ]\n");
  expect_error([&] { convert_listops_tsv(malformed, dir.file("o/a"), {}, quiet_job()); },
               {"a.tsv:3", "2 tab-separated fields"});
  std::string bad_label = dir.write("b.tsv", "Source\tTarget\n[MAX 1 2 ]\tx\n");
  expect_error([&] { convert_listops_tsv(bad_label, dir.file("o/b"), {}, quiet_job()); },
               {"b.tsv:2", "'x'", "not an integer"});
  std::string wrong = dir.write("c.tsv", "Source\tTarget\n[MAX 1 2 ]\t1\n");
  expect_error([&] { convert_listops_tsv(wrong, dir.file("o/c"), {}, quiet_job()); },
               {"c.tsv:2", "evaluates to 2"});
  ListOpsTsvOptions no_verify;
  no_verify.verify = false;
  EXPECT_EQ(convert_listops_tsv(wrong, dir.file("o/c2"), no_verify, quiet_job()).examples, 1);
  std::string token = dir.write("d.tsv", "Source\tTarget\n[MAX 1 [FIRST 2 ] ]\t1\n");
  expect_error([&] { convert_listops_tsv(token, dir.file("o/d"), {}, quiet_job()); },
               {"d.tsv:2", "[FIRST"});
  expect_error([&] { convert_listops_tsv(dir.file("missing.tsv"), dir.file("o/e"), {}, quiet_job()); },
               {"--input", "missing.tsv", "does not exist"});
  EXPECT_FALSE(fs::exists(dir.file("o/a-00000.h5")));  // a failed conversion leaves no shard
}

// ---- Pathfinder ------------------------------------------------------------------------------

// Whether the two marker centres are joined by non-zero pixels (8-connectivity).
bool markers_joined(const PathfinderImage& img, int n) {
  auto at = [&](double x, double y) { return static_cast<int>(y) * n + static_cast<int>(x); };
  int from = at(img.markers[0], img.markers[1]), to = at(img.markers[2], img.markers[3]);
  std::vector<char> seen(img.pixels.size(), 0);
  std::queue<int> q;
  q.push(from);
  seen[from] = 1;
  while (!q.empty()) {
    int p = q.front();
    q.pop();
    if (p == to) return true;
    int px = p % n, py = p / n;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        int x = px + dx, y = py + dy;
        if (x < 0 || y < 0 || x >= n || y >= n) continue;
        int r = y * n + x;
        if (!seen[r] && img.pixels[r] > 0) {
          seen[r] = 1;
          q.push(r);
        }
      }
  }
  return false;
}

TEST(Pathfinder, ImagesHaveTheRightSizeAndAreDeterministic) {
  for (int size : {32, 64, 128}) {
    PathfinderOptions opt = PathfinderOptions::for_size(size);
    PathfinderImage a = pathfinder_example(opt, 9, "train", 5);
    PathfinderImage b = pathfinder_example(opt, 9, "train", 5);
    ASSERT_EQ(a.pixels.size(), static_cast<size_t>(size * size));
    EXPECT_EQ(a.pixels, b.pixels);
    EXPECT_TRUE(a.connected);  // odd index
    EXPECT_FALSE(pathfinder_example(opt, 9, "train", 4).connected);
    EXPECT_NE(a.pixels, pathfinder_example(opt, 10, "train", 5).pixels);
    int lit = 0;
    for (uint8_t p : a.pixels) lit += p > 0;
    EXPECT_GT(lit, size * 2);          // contours were drawn
    EXPECT_LT(lit, size * size / 2);   // on a mostly black background
    double d = std::hypot(a.markers[2] - a.markers[0], a.markers[3] - a.markers[1]);
    EXPECT_GE(d, opt.marker_distance);
  }
}

TEST(Pathfinder, LabelIsMarkerConnectivity) {
  // Without gaps the contours are solid, so the label must equal pixel connectivity.
  for (int size : {32, 64}) {
    PathfinderOptions opt = PathfinderOptions::for_size(size);
    opt.gap = 0;
    for (int i = 0; i < 40; ++i) {
      PathfinderImage img = pathfinder_example(opt, 21, "train", i);
      EXPECT_EQ(markers_joined(img, size), img.connected) << "size " << size << " example " << i;
    }
  }
}

TEST(Pathfinder, DatasetIsBalancedValidAndThreadIndependent) {
  ScratchDir dir;
  PathfinderOptions opt = PathfinderOptions::for_size(32);
  SplitCounts counts{40, 10, 0};
  auto a = generate_pathfinder_dataset(dir.file("a"), opt, counts, quiet_job(4, 1, 16));
  auto b = generate_pathfinder_dataset(dir.file("b"), opt, counts, quiet_job(4, 4, 16));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_TRUE(a[2].files.empty());  // --test 0 writes nothing
  for (size_t s = 0; s < 2; ++s) {
    ShardData da = read_series(a[s].files), db = read_series(b[s].files);
    EXPECT_EQ(da.inputs, db.inputs);
    EXPECT_EQ(da.info.meta.seq_len, 1024);
    EXPECT_EQ(da.info.meta.vocab_size, 257);
    EXPECT_EQ(da.info.meta.num_classes, 2);
    EXPECT_EQ(da.info.meta.vocabulary[1], "p0");
    int positives = 0;
    for (int32_t l : da.labels) positives += l;
    EXPECT_EQ(positives * 2, static_cast<int>(da.labels.size()));
    for (int32_t id : da.inputs) ASSERT_TRUE(id >= 1 && id <= 256);  // pixel + 1, no padding
  }
  // The shard holds exactly the drawn image, as tokens.
  PathfinderImage img = pathfinder_example(opt, 4, "val", 3);
  ShardData val = read_series(a[1].files);
  for (size_t p = 0; p < 1024; ++p) ASSERT_EQ(val.inputs[3 * 1024 + p], img.pixels[p] + 1);
}

TEST(Pathfinder, BadOptionsAreErrors) {
  PathfinderOptions opt = PathfinderOptions::for_size(32);
  opt.curvature = 200;
  expect_error([&] { opt.validate(); }, {"--curvature"});
  opt = PathfinderOptions::for_size(32);
  opt.contour_len = 200;  // cannot fit
  auto rng = example_rng(1, 1, 1);
  expect_error([&] { draw_pathfinder(opt, true, rng); }, {"--contour-len 200"});
}

// ---- PNG -------------------------------------------------------------------------------------

using testing::write_png;

TEST(Png, DecodesGrayAndColourImages) {
  ScratchDir dir;
  std::vector<uint8_t> gray(5 * 3);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(17 * i);
  write_png(dir.file("g.png"), 5, 3, PNG_FORMAT_GRAY, gray);
  GrayImage g = read_png_gray(dir.file("g.png"));
  EXPECT_EQ(g.width, 5);
  EXPECT_EQ(g.height, 3);
  EXPECT_EQ(g.pixels, gray);

  std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
  write_png(dir.file("c.png"), 2, 2, PNG_FORMAT_RGB, rgb);
  GrayImage c = read_png_gray(dir.file("c.png"));
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{76, 150, 29, bt601_gray(10, 20, 30)}));

  std::vector<uint8_t> rgba = {200, 200, 200, 255, 200, 200, 200, 0};
  write_png(dir.file("a.png"), 2, 1, PNG_FORMAT_RGBA, rgba);
  EXPECT_EQ(read_png_gray(dir.file("a.png")).pixels, (std::vector<uint8_t>{200, 0}));

  dir.write("not.png", "hello");
  expect_error([&] { read_png_gray(dir.file("not.png")); }, {"not.png", "not a PNG"});
  expect_error([&] { read_png_gray(dir.file("none.png")); }, {"none.png", "cannot open"});
}

TEST(PathfinderPng, ConvertsMetadataLayoutAndListing) {
  ScratchDir dir;
  // LRA layout: ROOT/metadata/<batch>.npy text lines "imgs/<batch> sample_<i>.png <i> <label> ...".
  std::string meta0, meta1, listing;
  std::vector<std::vector<uint8_t>> images;
  for (int i = 0; i < 10; ++i) {
    std::vector<uint8_t> px(8 * 8, static_cast<uint8_t>(i * 20));
    px[static_cast<size_t>(i)] = 255;
    images.push_back(px);
    int batch = i < 6 ? 0 : 1;
    std::string rel = "imgs/" + std::to_string(batch);
    fs::create_directories(dir.file("root/" + rel));
    write_png(dir.file("root/" + rel + "/sample_" + std::to_string(i) + ".png"), 8, 8, PNG_FORMAT_GRAY, px);
    std::string line = rel + " sample_" + std::to_string(i) + ".png " + std::to_string(i) + " " +
                       std::to_string(i % 2) + " 1.0 14\n";
    (batch == 0 ? meta0 : meta1) += line;
    listing += rel + "/sample_" + std::to_string(i) + ".png\t" + std::to_string(i % 2) + "\n";
  }
  dir.write("root/imgs/1/empty.png", "");  // the release has empty files; they are skipped
  meta1 += "imgs/1 empty.png 10 1 1.0 14\n";
  dir.write("root/metadata/10.npy", meta1);  // natural order: 2 before 10
  dir.write("root/metadata/2.npy", meta0);
  PathfinderPngOptions opt;
  opt.root = dir.file("root");
  PathfinderPngResult r = convert_pathfinder_png(opt, dir.file("out"), quiet_job());
  EXPECT_EQ(r.size, 8);
  EXPECT_EQ(r.empty_skipped, 1);
  ASSERT_EQ(r.splits.size(), 3u);
  EXPECT_EQ(r.splits[0].examples, 8);  // 80 / 10 / 10 of 10 images
  EXPECT_EQ(r.splits[1].examples, 1);
  EXPECT_EQ(r.splits[2].examples, 1);
  ShardData train = read_series(r.splits[0].files);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(train.labels[static_cast<size_t>(i)], i % 2);
    for (int p = 0; p < 64; ++p) ASSERT_EQ(train.inputs[static_cast<size_t>(i * 64 + p)], images[i][p] + 1);
  }
  EXPECT_EQ(read_series(r.splits[2].files).inputs[9], 256);  // image 9, pixel 9 = 255

  dir.write("root/list.tsv", listing);
  PathfinderPngOptions by_listing;
  by_listing.root = dir.file("root");
  by_listing.listing = dir.file("root/list.tsv");
  PathfinderPngResult l = convert_pathfinder_png(by_listing, dir.file("out2"), quiet_job());
  EXPECT_EQ(read_series(l.splits[0].files).inputs, train.inputs);

  by_listing.size = 16;
  expect_error([&] { convert_pathfinder_png(by_listing, dir.file("out3"), quiet_job()); },
               {"sample_0.png", "8x8", "16x16"});
  dir.write("root/bad.tsv", "imgs/0/sample_0.png\t0\nimgs/0/sample_9.png\t1\n");
  by_listing.listing = dir.file("root/bad.tsv");
  expect_error([&] { convert_pathfinder_png(by_listing, dir.file("out4"), quiet_job()); },
               {"bad.tsv:2", "sample_9.png", "missing"});
}

// ---- CIFAR-10, text, retrieval, LM -----------------------------------------------------------

TEST(Cifar, ConvertsBinaryRecordsToGrayTokens) {
  ScratchDir dir;
  std::string bytes;
  for (int rec = 0; rec < 2; ++rec) {
    bytes += static_cast<char>(rec == 0 ? 3 : 9);
    for (int plane = 0; plane < 3; ++plane)
      for (int p = 0; p < 1024; ++p) bytes += static_cast<char>((p + 50 * plane + 7 * rec) % 256);
  }
  std::string path = dir.write("data_batch_1.bin", bytes);
  ConvertResult r = convert_cifar10({path}, dir.file("out/train"), quiet_job());
  EXPECT_EQ(r.examples, 2);
  ShardData d = read_shard(r.files.at(0));
  EXPECT_EQ(d.labels, (std::vector<int32_t>{3, 9}));
  EXPECT_EQ(d.info.meta.task, "image");
  EXPECT_EQ(d.info.meta.seq_len, 1024);
  for (int rec = 0; rec < 2; ++rec)
    for (int p : {0, 1, 500, 1023}) {
      auto c = [&](int plane) { return static_cast<uint8_t>((p + 50 * plane + 7 * rec) % 256); };
      double luma = 0.299 * c(0) + 0.587 * c(1) + 0.114 * c(2);
      EXPECT_EQ(d.inputs[static_cast<size_t>(rec * 1024 + p)], static_cast<int>(std::lround(luma)) + 1);
    }
  std::string cut = dir.write("short.bin", bytes.substr(0, 3000));
  expect_error([&] { convert_cifar10({cut}, dir.file("out/x"), quiet_job()); }, {"short.bin", "3000", "3073"});
  bytes[0] = 42;
  std::string bad = dir.write("bad.bin", bytes);
  expect_error([&] { convert_cifar10({bad}, dir.file("out/y"), quiet_job()); }, {"bad.bin", "record 0", "label 42"});
}

TEST(TextTsv, BytesBecomeIdsPlusOneTruncatedAndPadded) {
  ScratchDir dir;
  std::string tsv = dir.write("imdb.tsv", "1\tGood film\n0\tBad\tfilm, \xff!\r\n\n1\t\n");
  ByteTsvOptions opt;
  opt.max_len = 8;
  ConvertResult r = convert_text_tsv(tsv, dir.file("out/imdb"), opt, quiet_job(0, 1, 2));
  EXPECT_EQ(r.examples, 3);
  EXPECT_EQ(r.files.size(), 2u);  // shard size 2
  EXPECT_EQ(r.truncated, 2);
  ShardData d = read_series(r.files);
  EXPECT_EQ(d.info.meta.num_classes, 2);
  EXPECT_EQ(d.info.meta.vocab_size, 257);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{1, 0, 1}));
  std::string first = "Good fil";
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(d.inputs[i], static_cast<unsigned char>(first[i]) + 1);
  EXPECT_EQ(d.inputs[8 + 3], '\t' + 1);  // tabs inside the text are kept
  for (size_t i = 16; i < 24; ++i) EXPECT_EQ(d.inputs[i], 0);  // empty text: all padding
  EXPECT_EQ(d.info.meta.vocabulary[byte_id('G')], "G");
  EXPECT_EQ(d.info.meta.vocabulary[byte_id(0xff)], "\\xFF");

  opt.classes = 5;
  ShardData five = read_series(convert_text_tsv(tsv, dir.file("out/five"), opt, quiet_job()).files);
  EXPECT_EQ(five.info.meta.num_classes, 5);
  opt.classes = 1;
  expect_error([&] { convert_text_tsv(tsv, dir.file("out/one"), opt, quiet_job()); },
               {"imdb.tsv:1", "--classes = 1"});
  std::string bad = dir.write("bad.tsv", "1\tok\npositive\ttext\n");
  expect_error([&] { convert_text_tsv(bad, dir.file("out/bad"), {}, quiet_job()); },
               {"bad.tsv:2", "'positive'", "not an integer"});
  std::string notab = dir.write("notab.tsv", "1\tok\n0 no tab here\n");
  expect_error([&] { convert_text_tsv(notab, dir.file("out/notab"), {}, quiet_job()); },
               {"notab.tsv:2", "label<TAB>text"});
}

// --val-fraction: a validation split carved from the input, disjoint from the training split and
// together all of it, about the share asked, the same for the same seed and another for another.
TEST(TextTsv, ValFractionCarvesADeterministicDisjointValidationSplit) {
  ScratchDir dir;
  std::string lines;
  for (int i = 0; i < 400; ++i) lines += std::to_string(i % 2) + "\tdocument " + std::to_string(i) + "\n";
  std::string tsv = dir.write("all.tsv", lines);
  ByteTsvOptions opt;
  opt.max_len = 16;
  auto carve = [&](const std::string& name, uint64_t seed, double fraction, const std::string& val_out = "") {
    JobOptions job = quiet_job(seed, 1, 64);
    job.val_fraction = fraction;
    job.val_prefix = val_out;
    return convert_text_tsv(tsv, dir.file(name + "/train"), opt, job);
  };
  auto rows = [](const std::vector<std::string>& files) {
    ShardData d = read_series(files);
    std::vector<std::vector<int32_t>> out;
    for (size_t i = 0; i < d.inputs.size(); i += 16) out.emplace_back(d.inputs.begin() + i, d.inputs.begin() + i + 16);
    return out;
  };
  ConvertResult a = carve("a", 7, 0.25);
  EXPECT_EQ(a.examples + a.val_examples, 400);
  EXPECT_GT(a.val_examples, 70);  // about 100
  EXPECT_LT(a.val_examples, 130);
  ASSERT_FALSE(a.val_files.empty());
  EXPECT_EQ(a.val_files[0], dir.file("a/val") + "-00000.h5");  // "val" beside --out
  std::vector<std::vector<int32_t>> train = rows(a.files), val = rows(a.val_files);
  std::set<std::vector<int32_t>> all(train.begin(), train.end());
  for (const auto& v : val) EXPECT_TRUE(all.insert(v).second) << "an example is in both splits";
  EXPECT_EQ(all.size(), 400u);
  // Each example's side is carved_to_validation of its input index.
  int64_t expected_val = 0;
  for (int64_t i = 0; i < 400; ++i) expected_val += carved_to_validation(7, i, 0.25);
  EXPECT_EQ(a.val_examples, expected_val);

  ConvertResult again = carve("again", 7, 0.25, dir.file("again/heldout"));
  EXPECT_EQ(rows(again.val_files), val);
  EXPECT_EQ(again.val_files[0], dir.file("again/heldout") + "-00000.h5");
  EXPECT_NE(rows(carve("other", 8, 0.25).val_files), val);
  ConvertResult none = carve("none", 7, 0);
  EXPECT_EQ(none.examples, 400);
  EXPECT_TRUE(none.val_files.empty());

  // An existing validation split is refused before anything is written; an input too small to
  // leave examples on both sides is an error that leaves no shard.
  expect_error([&] { carve("b", 7, 0.25, dir.file("a/val")); }, {"a/val-00000.h5", "--overwrite"});
  EXPECT_FALSE(fs::exists(dir.file("b/train-00000.h5")));
  std::string one = dir.write("one.tsv", "1\tonly\n");
  JobOptions job = quiet_job(7, 1, 64);
  job.val_fraction = 0.5;
  expect_error([&] { convert_text_tsv(one, dir.file("one/train"), opt, job); },
               {"--val-fraction 0.5 of 1 examples", "each needs at least one"});
  EXPECT_FALSE(fs::exists(dir.file("one/train-00000.h5")));
  EXPECT_FALSE(fs::exists(dir.file("one/val-00000.h5")));
}

TEST(RetrievalTsv, WritesPairShards) {
  ScratchDir dir;
  std::string tsv = dir.write("aan.tsv", "1\tp1\tp2\tabc\txyz12\n0\tp3\tp4\tq\t\n");
  ByteTsvOptions opt;
  opt.max_len = 4;
  ConvertResult r = convert_retrieval_tsv(tsv, dir.file("out/aan"), opt, quiet_job());
  ShardData d = read_shard(r.files.at(0));
  EXPECT_TRUE(d.info.meta.pair);
  EXPECT_EQ(d.info.meta.task, "retrieval");
  EXPECT_EQ(d.labels, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(d.inputs, (std::vector<int32_t>{'a' + 1, 'b' + 1, 'c' + 1, 0, 'q' + 1, 0, 0, 0}));
  EXPECT_EQ(d.inputs2, (std::vector<int32_t>{'x' + 1, 'y' + 1, 'z' + 1, '1' + 1, 0, 0, 0, 0}));
  EXPECT_EQ(r.truncated, 1);
  std::string bad = dir.write("bad.tsv", "1\tp1\tp2\tabc\txyz\n1\tp1\tabc\txyz\n");
  expect_error([&] { convert_retrieval_tsv(bad, dir.file("out/bad"), opt, quiet_job()); },
               {"bad.tsv:2", "expected 5", "found 4"});
}

TEST(LmWindows, WindowsOverTheConcatenatedFiles) {
  ScratchDir dir;
  std::string a = dir.write("a.txt", "abcdefg"), b = dir.write("b.txt", "hij");
  LmOptions opt;
  opt.seq_len = 4;
  ConvertResult r = convert_lm({a, b}, dir.file("out/lm"), opt, quiet_job());
  ShardData d = read_shard(r.files.at(0));
  EXPECT_TRUE(d.info.meta.is_lm());
  EXPECT_TRUE(d.labels.empty());
  auto ids = [](const std::string& s) {
    std::vector<int32_t> v;
    for (char c : s) v.push_back(c == '_' ? 0 : c + 1);
    return v;
  };
  EXPECT_EQ(d.inputs, ids("abcdefghij__"));  // 10 bytes: 3 windows, the last padded
  opt.stride = 3;
  ShardData s = read_shard(convert_lm({a, b}, dir.file("out/lm3"), opt, quiet_job()).files.at(0));
  EXPECT_EQ(s.inputs, ids("abcddefgghij"));  // starts 0, 3, 6 (6 + 4 reaches the end)
  opt.stride = 6;
  ShardData g = read_shard(convert_lm({a, b}, dir.file("out/lm6"), opt, quiet_job()).files.at(0));
  EXPECT_EQ(g.inputs, ids("abcdghij"));  // bytes 4-5 skipped
  EXPECT_EQ(lm_window_count(10, 4, 4), 3);
  EXPECT_EQ(lm_window_count(4, 4, 4), 1);
  EXPECT_EQ(lm_window_count(3, 4, 1), 1);
  expect_error([&] { convert_lm({dir.file("nope.txt")}, dir.file("out/x"), opt, quiet_job()); },
               {"--input", "nope.txt"});
}

// ---- inspect ---------------------------------------------------------------------------------

TEST(Inspect, ReportsSchemaCountsLabelsLengthsAndTokens) {
  ScratchDir dir;
  std::string tsv = dir.write("t.tsv", "Source\tTarget\n( [MAX 2 ) 9 ] )\t9\n( [MIN 4 ) 7 ] )\t4\n");
  convert_listops_tsv(tsv, dir.file("out/t"), {10, true}, quiet_job(0, 1, 1));
  std::string report = inspect_shards({dir.file("out/t-*.h5")});
  for (const char* part : {"2 shard(s)", "task=listops", "vocab_size=16", "/inputs  int32 (1, 10)",
                           "/labels  int32 (1,)", "examples: 2", "4: 1 (50.0%)", "9: 1 (50.0%)",
                           "min 4, mean 4.0, max 4", "[MAX 2 9 ]"})
    EXPECT_NE(report.find(part), std::string::npos) << "'" << part << "' not in:\n" << report;
  std::string text = dir.write("x.tsv", "0\thi there\n");
  convert_text_tsv(text, dir.file("out/x"), {}, quiet_job());
  EXPECT_NE(inspect_shards({dir.file("out/x-00000.h5")}).find("hi there"), std::string::npos);
  expect_error([&] { inspect_shards({dir.file("out/none-*.h5")}); }, {"none-*.h5", "matches no"});
  expect_error([&] { inspect_shards({dir.file("out/t-00000.h5"), dir.file("out/x-00000.h5")}); },
               {"one split"});
}

}  // namespace
}  // namespace st::tasks

namespace st::tasks {
namespace {

// One marked token per row, its value the label (classification), or a marked value repeated at
// the end (lm);
// the same data for any thread count; bad options named.
TEST(Recall, OnePairPerRowItsValueTheLabel) {
  ScratchDir dir;
  RecallOptions opt;
  opt.seq_len = 40;
  opt.classes = 5;
  opt.noise = 7;
  SplitCounts counts{60, 10, 10};
  auto a = generate_recall_dataset(dir.file("a"), opt, counts, quiet_job(3, 1, 16));
  auto b = generate_recall_dataset(dir.file("b"), opt, counts, quiet_job(3, 2, 16));
  ASSERT_EQ(a.size(), 3u);
  std::set<int32_t> labels_seen;
  for (size_t s = 0; s < 3; ++s) {
    ShardData da = read_series(a[s].files), db = read_series(b[s].files);
    EXPECT_EQ(da.inputs, db.inputs) << a[s].name;
    EXPECT_EQ(da.info.meta.task, "recall");
    EXPECT_EQ(da.info.meta.vocab_size, 2 + 5 + 7);
    EXPECT_EQ(da.info.meta.num_classes, 5);
    for (size_t i = 0; i < da.labels.size(); ++i) {
      std::vector<int32_t> row(da.inputs.begin() + i * 40, da.inputs.begin() + (i + 1) * 40);
      int marked = 0;
      for (int64_t t = 0; t < 40; ++t) {
        EXPECT_GE(row[t], 2);  // no padding, no marker
        EXPECT_LT(row[t], 14);
        if (row[t] >= 7) continue;  // noise
        ++marked;
        EXPECT_GE(t, 20) << "the marked token lies in the second half by default";
        EXPECT_EQ(row[t], 2 + da.labels[i]);
      }
      EXPECT_EQ(marked, 1);
      labels_seen.insert(da.labels[i]);
    }
  }
  EXPECT_EQ(labels_seen.size(), 5u);

  opt.lm = true;
  auto lm = generate_recall_dataset(dir.file("lm"), opt, SplitCounts{20, 0, 0}, quiet_job(3, 2, 16));
  ShardData d = read_series(lm[0].files);
  EXPECT_EQ(d.info.meta.task, "recall-lm");
  EXPECT_EQ(d.info.meta.num_classes, 0);
  for (int64_t i = 0; i < 20; ++i) {
    const int32_t* row = d.inputs.data() + i * 40;
    EXPECT_EQ(row[38], 1);
    int64_t first = std::find(row, row + 40, 1) - row;
    EXPECT_LE(first, 18) << "the pair lies in the first half";
    EXPECT_EQ(row[first + 1], row[39]);
  }

  RecallOptions bad;
  bad.seq_len = 8;
  bad.min_pos = 8;
  expect_error([&] { bad.validate(); }, {"--min-pos", "8"});
  bad = RecallOptions{};
  bad.classes = 1;
  expect_error([&] { bad.validate(); }, {"--classes"});
  bad = RecallOptions{};
  bad.min_pos = -5;
  expect_error([&] { bad.validate(); }, {"--min-pos", "-5"});
  bad = RecallOptions{};
  bad.lm = true;
  bad.min_pos = 3;
  expect_error([&] { bad.validate(); }, {"--min-pos", "--lm"});
}

}  // namespace
}  // namespace st::tasks
