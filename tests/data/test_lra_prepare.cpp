// st-data lra (data/tasks/lra_prepare.h) on tiny replicas of every official layout, made here:
// an aclImdb tree, the release's AAN pair TSVs, ListOps TSVs and Pathfinder PNGs with their
// .npy metadata, and CIFAR-10 binary batches. The token rows are checked against expectations
// computed here from the replica files (bytes + 1, luma + 1, ListOps tokens through the shards'
// vocabulary), and the rules for running again against the manifests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/h5.h"
#include "data/shard.h"
#include "data/tasks/lra_prepare.h"
#include "data/tasks/split_writer.h"
#include "tests/data/png_file.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"

namespace st::tasks {
namespace {

namespace fs = std::filesystem;

void write_file(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// One split as (label, row) in shard order.
struct Rows {
  ShardMeta meta;
  std::vector<std::pair<int32_t, std::vector<int32_t>>> rows, rows2;
};

Rows read_rows(const std::string& prefix) {
  Rows out;
  for (const std::string& path : existing_shards(prefix)) {
    ShardInfo info = validate_shard(path);
    out.meta = info.meta;
    h5::File f = h5::File::open_read(path);
    std::vector<int32_t> in = f.read_i32("inputs"), labels = f.read_i32("labels"), in2;
    if (info.meta.pair) in2 = f.read_i32("inputs2");
    const size_t len = static_cast<size_t>(info.meta.seq_len);
    for (size_t i = 0; i < labels.size(); ++i) {
      out.rows.push_back({labels[i], {in.begin() + i * len, in.begin() + (i + 1) * len}});
      if (info.meta.pair) out.rows2.push_back({labels[i], {in2.begin() + i * len, in2.begin() + (i + 1) * len}});
    }
  }
  return out;
}

// Bytes as ids b + 1, padded with 0 / cut to len: computed here, not with the converter's code.
std::vector<int32_t> byte_row(const std::string& text, size_t len) {
  std::vector<int32_t> row(len, 0);
  for (size_t i = 0; i < std::min(len, text.size()); ++i) row[i] = static_cast<unsigned char>(text[i]) + 1;
  return row;
}

using LabelledRows = std::multiset<std::pair<int32_t, std::vector<int32_t>>>;

LabelledRows as_set(const Rows& a, const Rows* b = nullptr) {
  LabelledRows s(a.rows.begin(), a.rows.end());
  if (b) s.insert(b->rows.begin(), b->rows.end());
  return s;
}

struct Replicas {
  testing::TempDir dir;
  std::string release, imdb, cifar;
  // Expected rows per task and split.
  std::map<std::string, std::vector<std::pair<int32_t, std::string>>> imdb_split;  // label, text
  std::vector<std::tuple<int32_t, std::string, std::string>> aan[3];               // train, eval, test
  std::vector<std::pair<int32_t, std::string>> listops[3];
  std::vector<std::pair<int32_t, std::vector<uint8_t>>> pathfinder;  // in metadata order
  std::vector<std::pair<int32_t, std::vector<uint8_t>>> cifar_train, cifar_test;  // label, luma

  Replicas() {
    // The release unpacks to lra_release/lra_release/...: given the outer folder.
    release = dir.file("lra");
    const std::string root = release + "/lra_release/lra_release";
    // ListOps: header, then Source<TAB>Target.
    const char* names[3] = {"train", "val", "test"};
    const char* exprs[] = {"( ( [MAX 2 ) 9 ] )", "( ( ( [MIN 4 ) 8 ) ] )", "( ( [SM 3 ) 5 ] )", "7",
                           "( ( ( [MED 1 ) 2 ) 6 ] )"};
    const int32_t values[] = {9, 4, 8, 7, 2};
    for (int s = 0; s < 3; ++s) {
      std::string tsv = "Source\tTarget\n";
      for (int i = 0; i < 5; ++i) {
        int k = (i + s) % 5;
        tsv += std::string(exprs[k]) + "\t" + std::to_string(values[k]) + "\n";
        listops[s].push_back({values[k], exprs[k]});
      }
      write_file(root + "/listops-1000/basic_" + names[s] + ".tsv", tsv);
    }
    // AAN pairs: label (written "1.0" on some lines, as releases have it), ids, two documents.
    const char* aan_names[3] = {"train", "eval", "test"};
    for (int s = 0; s < 3; ++s) {
      std::string tsv;
      for (int i = 0; i < 4; ++i) {
        int32_t label = (i + s) % 2;
        std::string a = "paper " + std::to_string(i) + " of " + aan_names[s] + ", caf\xc3\xa9";
        std::string b = std::string(static_cast<size_t>(10 + 1500 * i), 'x');  // the long one is cut at 4000
        tsv += (i == 1 ? std::to_string(label) + ".0" : std::to_string(label)) + "\tid" + std::to_string(i) + "\tid" +
               std::to_string(i + 9) + "\t" + a + "\t" + b + "\n";
        aan[s].push_back({label, a, b});
      }
      write_file(root + "/tsv_data/new_aan_pairs." + std::string(aan_names[s]) + ".tsv", tsv);
    }
    // Pathfinder 32: 10 images in two metadata files ("imgs/B name i label ..."), natural order.
    const std::string pf = root + "/pathfinder32/curv_contour_length_14";
    std::string meta[2];
    for (int i = 0; i < 10; ++i) {
      std::vector<uint8_t> px(32 * 32);
      for (size_t p = 0; p < px.size(); ++p) px[p] = static_cast<uint8_t>((p * 7 + static_cast<size_t>(i) * 31) % 256);
      int batch = i < 5 ? 0 : 1;
      std::string name = "sample_" + std::to_string(i) + ".png";
      testing::write_png(pf + "/imgs/" + std::to_string(batch) + "/" + name, 32, 32, PNG_FORMAT_GRAY, px);
      meta[batch] += "imgs/" + std::to_string(batch) + " " + name + " " + std::to_string(i) + " " +
                     std::to_string(i % 3 == 0) + " 1.0 14\n";
      pathfinder.push_back({i % 3 == 0, px});
    }
    write_file(pf + "/metadata/0.npy", meta[0]);
    write_file(pf + "/metadata/1.npy", meta[1]);
    // aclImdb: neg/ and pos/ reviews ID_RATING.txt, with tabs, newlines, UTF-8 and one long review.
    imdb = dir.file("aclImdb");
    for (const char* split : {"train", "test"}) {
      int n = std::string(split) == "train" ? 40 : 6;
      for (int label = 0; label < 2; ++label)
        for (int i = 0; i < n; ++i) {
          std::string text = std::string(label ? "Loved" : "Hated") + " film " + std::to_string(i) +
                             "<br /><br />\tna\xc3\xafve\n";
          if (i == 3) text += std::string(5000, 'z');
          write_file(imdb + "/" + split + "/" + (label ? "pos/" : "neg/") + std::to_string(i) + "_" +
                         std::to_string(label ? 8 : 2) + ".txt",
                     text);
          imdb_split[split].push_back({label, text});
        }
      write_file(imdb + "/" + split + "/urls_pos.txt", "not a review\n");  // beside the folders: unused
    }
    write_file(imdb + "/train/unsup/0_0.txt", "unlabelled\n");  // not used
    // CIFAR-10: five training batches of 12 records and a test batch of 6.
    cifar = dir.file("cifar-10-batches-bin");
    auto batch = [&](const std::string& name, int records, int salt,
                     std::vector<std::pair<int32_t, std::vector<uint8_t>>>& expected) {
      std::string bytes;
      for (int r = 0; r < records; ++r) {
        int label = (r * 3 + salt) % 10;
        bytes += static_cast<char>(label);
        std::vector<uint8_t> planes(3 * 1024);
        for (size_t p = 0; p < planes.size(); ++p) planes[p] = static_cast<uint8_t>((p * 13 + r * 7 + salt) % 256);
        bytes.append(planes.begin(), planes.end());
        std::vector<uint8_t> luma(1024);
        for (size_t p = 0; p < 1024; ++p)
          luma[p] = static_cast<uint8_t>(std::lround(0.299 * planes[p] + 0.587 * planes[1024 + p] + 0.114 * planes[2048 + p]));
        expected.push_back({label, luma});
      }
      write_file(cifar + "/" + name, bytes);
    };
    for (int b = 1; b <= 5; ++b) batch("data_batch_" + std::to_string(b) + ".bin", 12, b, cifar_train);
    batch("test_batch.bin", 6, 99, cifar_test);
  }
};

LraPrepareOptions options(const Replicas& r, const std::string& out) {
  LraPrepareOptions o;
  o.out = out;
  o.release = r.release;
  o.imdb = r.imdb;
  o.cifar = r.cifar;
  o.job.seed = 3;
  o.job.threads = 2;
  return o;
}

const LraTaskReport& report_of(const std::vector<LraTaskReport>& reports, const std::string& task) {
  for (const auto& r : reports)
    if (r.task == task) return r;
  throw std::runtime_error("no report for " + task);
}

TEST(LraPrepare, ConvertsEveryOfficialLayout) {
  Replicas rep;
  const std::string out = rep.dir.file("out");
  LraPrepareOptions o = options(rep, out);
  o.tasks = {"listops", "text", "retrieval", "image", "pathfinder"};
  std::vector<LraTaskReport> reports = prepare_lra(o);
  for (const auto& r : reports) {
    EXPECT_EQ(r.status, "made") << r.task;
    EXPECT_EQ(r.source.rfind("official: ", 0), 0u) << r.task << ": " << r.source;
  }

  // ListOps: the expressions' tokens without parentheses, through the shards' own vocabulary.
  for (int s = 0; s < 3; ++s) {
    Rows rows = read_rows(out + "/listops/" + std::vector<std::string>{"train", "val", "test"}[s]);
    ASSERT_EQ(rows.rows.size(), rep.listops[s].size());
    EXPECT_EQ(rows.meta.seq_len, 2000);
    for (size_t i = 0; i < rows.rows.size(); ++i) {
      EXPECT_EQ(rows.rows[i].first, rep.listops[s][i].first);
      std::string decoded, word;
      for (int32_t id : rows.rows[i].second)
        if (id != 0) decoded += (decoded.empty() ? "" : " ") + rows.meta.vocabulary.at(static_cast<size_t>(id));
      std::string expected;
      std::istringstream words(rep.listops[s][i].second);
      while (words >> word)
        if (word != "(" && word != ")") expected += (expected.empty() ? "" : " ") + word;
      EXPECT_EQ(decoded, expected);
    }
  }

  // Retrieval: eval.tsv is the validation split; both documents as bytes + 1, cut at 4000.
  for (int s = 0; s < 3; ++s) {
    Rows rows = read_rows(out + "/retrieval/" + std::vector<std::string>{"train", "val", "test"}[s]);
    ASSERT_EQ(rows.rows.size(), 4u);
    EXPECT_TRUE(rows.meta.pair);
    EXPECT_EQ(rows.meta.num_classes, 2);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(rows.rows[i].first, std::get<0>(rep.aan[s][i]));
      EXPECT_EQ(rows.rows[i].second, byte_row(std::get<1>(rep.aan[s][i]), 4000));
      EXPECT_EQ(rows.rows2[i].second, byte_row(std::get<2>(rep.aan[s][i]), 4000));
    }
  }

  // Text: test in order (neg sorted by name, then pos); train and the carved val together are
  // the training reviews, each split non-empty.
  auto expected_rows = [](const std::vector<std::pair<int32_t, std::string>>& texts) {
    std::vector<std::pair<int32_t, std::vector<int32_t>>> rows;
    for (const auto& [label, text] : texts) rows.push_back({label, byte_row(text, 4000)});
    return rows;
  };
  auto sorted_by_name = [](std::vector<std::pair<int32_t, std::string>> texts, int n) {
    // Files are named I_R.txt; sorted as names, 10_2.txt comes before 1_2.txt... before 2_2.txt.
    std::vector<std::pair<int32_t, std::string>> out;
    for (int label = 0; label < 2; ++label) {
      std::vector<std::pair<std::string, std::string>> named;
      for (int i = 0; i < n; ++i)
        named.push_back({std::to_string(i) + "_" + (label ? "8" : "2") + ".txt",
                         texts[static_cast<size_t>(label * n + i)].second});
      std::sort(named.begin(), named.end());
      for (auto& [name, text] : named) out.push_back({label, text});
    }
    return out;
  };
  Rows text_test = read_rows(out + "/text/test");
  EXPECT_EQ(text_test.rows, expected_rows(sorted_by_name(rep.imdb_split["test"], 6)));
  Rows text_train = read_rows(out + "/text/train"), text_val = read_rows(out + "/text/val");
  EXPECT_GT(text_val.rows.size(), 0u);
  EXPECT_GT(text_train.rows.size(), text_val.rows.size());
  auto all_train = expected_rows(rep.imdb_split["train"]);
  EXPECT_EQ(as_set(text_train, &text_val), LabelledRows(all_train.begin(), all_train.end()));

  // Image: luma + 1 per pixel; train + carved val = the five batches; test in order.
  auto luma_rows = [](const std::vector<std::pair<int32_t, std::vector<uint8_t>>>& images) {
    LabelledRows s;
    for (const auto& [label, luma] : images) {
      std::vector<int32_t> row(luma.begin(), luma.end());
      for (int32_t& v : row) v += 1;
      s.insert({label, row});
    }
    return s;
  };
  Rows image_train = read_rows(out + "/image/train"), image_val = read_rows(out + "/image/val");
  EXPECT_GT(image_val.rows.size(), 0u);
  EXPECT_EQ(as_set(image_train, &image_val), luma_rows(rep.cifar_train));
  EXPECT_EQ(as_set(read_rows(out + "/image/test")), luma_rows(rep.cifar_test));

  // Pathfinder: metadata order cut 80/10/10; pixels + 1.
  std::vector<std::pair<int32_t, std::vector<int32_t>>> pf_all;
  for (const char* s : {"train", "val", "test"})
    for (auto& row : read_rows(out + "/pathfinder/" + s).rows) pf_all.push_back(row);
  ASSERT_EQ(pf_all.size(), rep.pathfinder.size());
  EXPECT_EQ(report_of(reports, "pathfinder").train, 8);
  for (size_t i = 0; i < pf_all.size(); ++i) {
    EXPECT_EQ(pf_all[i].first, rep.pathfinder[i].first);
    std::vector<int32_t> expected(rep.pathfinder[i].second.begin(), rep.pathfinder[i].second.end());
    for (int32_t& v : expected) v += 1;
    EXPECT_EQ(pf_all[i].second, expected);
  }

  // The report: split sizes, and the majority rate counted here (the test split's share of the
  // training split's most common class).
  const LraTaskReport& text = report_of(reports, "text");
  EXPECT_EQ(text.train + text.val, 80);
  EXPECT_EQ(text.test, 12);
  EXPECT_DOUBLE_EQ(text.majority, 0.5);
  const LraTaskReport& listops = report_of(reports, "listops");
  EXPECT_EQ(listops.train, 5);
  EXPECT_DOUBLE_EQ(listops.majority, 0.2);  // one value of five in test
  std::string table = format_lra_report(reports);
  EXPECT_NE(table.find("| text | official: "), std::string::npos) << table;
  EXPECT_EQ(table.find("missing sources"), std::string::npos) << table;
}

TEST(LraPrepare, NoSourcesGeneratesSomeAndNamesTheDownloadsOfTheRest) {
  testing::TempDir dir;
  LraPrepareOptions o;
  o.out = dir.file("out");
  o.synthetic_scale = 0.0002;
  o.tasks = {"listops", "text", "retrieval", "image", "pathfinder"};
  std::vector<LraTaskReport> reports = prepare_lra(o);
  EXPECT_EQ(report_of(reports, "listops").source, "synthetic (seed 0, scale 0.0002)");
  EXPECT_EQ(report_of(reports, "listops").train, 19);  // 96000 x 0.0002
  EXPECT_EQ(report_of(reports, "pathfinder").status, "made");
  for (const char* t : {"text", "retrieval", "image"}) {
    EXPECT_EQ(report_of(reports, t).status, "missing");
    EXPECT_FALSE(fs::exists(o.out + "/" + t));
  }
  std::string table = format_lra_report(reports);
  for (const char* download : {"aclImdb_v1.tar.gz", "lra_release.gz", "cifar-10-binary.tar.gz"})
    EXPECT_NE(table.find(download), std::string::npos) << table;
}

TEST(LraPrepare, RunningAgainKeepsRemakesOrLeavesAlone) {
  Replicas rep;
  const std::string out = rep.dir.file("out");
  LraPrepareOptions synthetic;
  synthetic.out = out;
  synthetic.synthetic_scale = 0.0002;
  synthetic.tasks = {"listops"};
  EXPECT_EQ(prepare_lra(synthetic)[0].status, "made");
  auto stamp = fs::last_write_time(existing_shards(out + "/listops/train").at(0));
  // The same source again: kept, files untouched.
  EXPECT_EQ(prepare_lra(synthetic)[0].status, "kept");
  EXPECT_EQ(fs::last_write_time(existing_shards(out + "/listops/train").at(0)), stamp);
  // Another generator setting: made again.
  synthetic.synthetic_scale = 0.0003;
  EXPECT_EQ(prepare_lra(synthetic)[0].status, "made");
  // A download given now replaces the generated data.
  LraPrepareOptions official = options(rep, out);
  official.tasks = {"listops"};
  std::vector<LraTaskReport> r = prepare_lra(official);
  EXPECT_EQ(r[0].status, "made");
  EXPECT_EQ(r[0].train, 5);
  EXPECT_EQ(r[0].source.rfind("official: ", 0), 0u);
  // ... and is never replaced by generated data, not even with --overwrite.
  for (bool overwrite : {false, true}) {
    synthetic.job.overwrite = overwrite;
    r = prepare_lra(synthetic);
    EXPECT_EQ(r[0].status, "kept");
    EXPECT_EQ(r[0].train, 5);
  }
  // The same release written another way (a relative path, the inner folder) is the same source.
  official.release = fs::relative(rep.release + "/lra_release", fs::current_path()).string();
  EXPECT_EQ(prepare_lra(official)[0].status, "kept");
  // A conversion that fails leaves the task made before as it was, and no partial folder.
  official.job.overwrite = true;
  const std::string val_tsv = rep.release + "/lra_release/lra_release/listops-1000/basic_val.tsv";
  const std::string good_val = [&] {
    std::ifstream in(val_tsv);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  write_file(val_tsv, "Source\tTarget\n( ( [MAX 2 ) 9 ] )\t3\n");  // a wrong label
  testing::expect_error([&] { prepare_lra(official); }, {"basic_val.tsv:2"});
  EXPECT_FALSE(fs::exists(out + "/listops.partial"));
  EXPECT_EQ(read_rows(out + "/listops/train").rows.size(), 5u);
  EXPECT_TRUE(fs::exists(out + "/listops/prepared.json"));
  write_file(val_tsv, good_val);
  official.job.overwrite = false;
  // Shards the manifest lists that are gone: made again from the source, or reported.
  for (const auto& f : existing_shards(out + "/listops/train")) fs::remove(f);
  EXPECT_EQ(prepare_lra(official)[0].status, "made");
  for (const auto& f : existing_shards(out + "/listops/test")) fs::remove(f);
  LraPrepareOptions none;
  none.out = out;
  none.tasks = {"retrieval"};
  fs::create_directories(out + "/retrieval");
  fs::copy(out + "/listops", out + "/retrieval", fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  r = prepare_lra(none);
  EXPECT_EQ(r[0].status, "incomplete (its test shards are gone)");
  EXPECT_NE(format_lra_report(r).find("lra_release.gz"), std::string::npos);
  // A manifest that cannot be read, or with fields of other kinds, counts as absent: the shards
  // are then ones other commands made, kept unless --overwrite.
  EXPECT_EQ(prepare_lra(official)[0].status, "made");
  const std::string deep = std::string(100000, '[');  // parsing it whole would overflow the stack
  for (const std::string& manifest :
       {std::string("{\"comp"), std::string("{\"complete\": 1, \"source\": 2}"), std::string("[]"),
        std::string("{\"complete\": false}"), deep}) {
    write_file(out + "/listops/prepared.json", manifest);
    EXPECT_EQ(prepare_lra(official)[0].status, "kept (shards not made by st-data lra; --overwrite remakes them)")
        << manifest.substr(0, 40);
  }
  official.job.overwrite = true;
  EXPECT_EQ(prepare_lra(official)[0].status, "made");
}

TEST(LraPrepare, BadOptionsAreErrorsBeforeAnyWork) {
  testing::TempDir dir;
  LraPrepareOptions o;
  o.out = dir.file("out");
  o.tasks = {"listops", "imdb"};
  testing::expect_error([&] { prepare_lra(o); }, {"--tasks", "'imdb'", "listops, text"});
  o.tasks = {"listops"};
  o.release = dir.file("nowhere");
  testing::expect_error([&] { prepare_lra(o); }, {"--release", "nowhere", "no such folder"});
  fs::create_directories(dir.file("empty"));
  o.release = dir.file("empty");
  testing::expect_error([&] { prepare_lra(o); }, {"--release", "listops-1000/"});
  o.release.clear();
  o.imdb = dir.file("nowhere");
  testing::expect_error([&] { prepare_lra(o); }, {"--imdb", "no such folder"});
  o.imdb.clear();
  o.pathfinder_level = "medium";
  testing::expect_error([&] { prepare_lra(o); }, {"--pathfinder-level", "'medium'"});
  o.pathfinder_level = "hard";
  o.synthetic_scale = 0;
  testing::expect_error([&] { prepare_lra(o); }, {"--scale"});
  EXPECT_FALSE(fs::exists(o.out));
  // An aclImdb without pos/: named.
  write_file(dir.file("imdb/train/neg/0_1.txt"), "x");
  write_file(dir.file("imdb/test/neg/0_1.txt"), "x");
  write_file(dir.file("imdb/test/pos/0_9.txt"), "x");
  o.synthetic_scale = 1;
  o.imdb = dir.file("imdb");
  o.tasks = {"text"};
  std::vector<LraTaskReport> r = prepare_lra(o);
  EXPECT_EQ(r[0].status, "missing");
  EXPECT_NE(r[0].download.find("train/pos does not exist"), std::string::npos) << r[0].download;
}

}  // namespace
}  // namespace st::tasks
