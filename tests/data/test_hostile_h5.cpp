// HDF5 files that point elsewhere are refused, never followed: a dataset with external storage,
// a virtual dataset and an external link each give an error naming the dataset; shard sizes
// above their limits are refused; and a shard's vocabulary nested far deeper than a flat array
// is an error, not a stack overflow.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <chrono>
#include <string>
#include <vector>

#include "data/h5.h"
#include "data/json_limits.h"
#include "data/shard.h"
#include "data/tasks/inspect.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"

namespace st {
namespace {

using testing::expect_error;
using testing::TempDir;

// A file with /plain (4 int32), /outside (external storage in raw.bin), /virtual (a virtual view
// of /plain in other.h5) and /linked (an external link to other.h5:/plain).
std::string write_pointing_elsewhere(const TempDir& dir) {
  std::string other = dir.file("other.h5"), path = dir.file("hostile.h5");
  std::vector<int32_t> v{1, 2, 3, 4};
  hsize_t n[1] = {4};
  {
    hid_t f = H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(1, n, nullptr);
    hid_t d = H5Dcreate2(f, "plain", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
  }
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t sp = H5Screate_simple(1, n, nullptr);
  hid_t d = H5Dcreate2(f, "plain", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(d);
  hid_t ext = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_external(ext, dir.file("raw.bin").c_str(), 0, 16);
  d = H5Dcreate2(f, "outside", H5T_STD_I32LE, sp, H5P_DEFAULT, ext, H5P_DEFAULT);
  H5Dclose(d);
  H5Pclose(ext);
  hid_t vds = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_virtual(vds, sp, other.c_str(), "plain", sp);
  d = H5Dcreate2(f, "virtual", H5T_STD_I32LE, sp, H5P_DEFAULT, vds, H5P_DEFAULT);
  H5Dclose(d);
  H5Pclose(vds);
  // (Before any h5::File call of this process: ours unregister external links for good.)
  ST_CHECK(H5Lcreate_external(other.c_str(), "plain", f, "linked", H5P_DEFAULT, H5P_DEFAULT) >= 0,
           "test set-up: cannot create the external link");
  H5Sclose(sp);
  H5Fclose(f);
  return path;
}

TEST(HostileH5, DataInOtherFilesIsRefusedNamingTheDataset) {
  TempDir dir;
  std::string path = write_pointing_elsewhere(dir);
  h5::File f = h5::File::open_read(path);
  EXPECT_EQ(f.read_i32("plain"), (std::vector<int32_t>{1, 2, 3, 4}));
  expect_error([&] { f.info("outside"); }, {path, "/outside uses external storage"});
  expect_error([&] { f.read_i32("outside"); }, {"/outside uses external storage"});
  expect_error([&] { f.info("virtual"); }, {path, "/virtual is a virtual dataset"});
  expect_error([&] { f.read_i32("virtual"); }, {"/virtual is a virtual dataset"});
  expect_error([&] { f.has("linked"); }, {path, "/linked is an external link"});
  expect_error([&] { f.read_i32("linked"); }, {"/linked is an external link"});
}

TEST(HostileH5, ShardSizesAboveTheirLimitsAreRefused) {
  TempDir dir;
  for (bool vocab : {true, false}) {  // vocab_size, then num_classes, at 2^62
    ShardMeta m;
    m.task = "toy";
    m.vocab_size = vocab ? int64_t{1} << 62 : 10;
    m.num_classes = vocab ? 3 : int64_t{1} << 62;
    m.seq_len = 4;
    std::string path = dir.file(vocab ? "vocab.h5" : "classes.h5");
    ShardWriter w(path, m, 4);
    w.append({1, 2, 3, 4}, {}, {1});
    w.close();
    expect_error([&] { validate_shard(path); }, {path, "is above its limit", "int32"});
  }
}

// An attribute holding an array where one value is expected (h5py writes one from a list) is
// refused; reading it into one value would overrun the buffer.
TEST(HostileH5, AttributesHoldingArraysAreRefused) {
  TempDir dir;
  for (bool string : {false, true}) {
    std::string path = dir.file(string ? "format.h5" : "seq_len.h5");
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t three = 3;
    hid_t sp = H5Screate_simple(1, &three, nullptr);
    hid_t a;
    if (string) {
      hid_t type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, H5T_VARIABLE);
      const char* v[3] = {"simpletron-shard", "x", "y"};
      a = H5Acreate2(f, "format", type, sp, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, type, v);
      H5Tclose(type);
    } else {
      int64_t v[3] = {4, 5, 6};
      a = H5Acreate2(f, "seq_len", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, v);
    }
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    h5::File file = h5::File::open_read(path);
    const char* name = string ? "format" : "seq_len";
    expect_error([&] { string ? (void)file.string_attribute(name) : (void)file.int_attribute(name); },
                 {path, std::string("attribute '") + name + "' holds 3 values, expected one"});
  }
}

TEST(HostileH5, ASparseShardClaimingBillionsOfRowsIsRefusedAtOnce) {
  TempDir dir;
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = 10;
  m.num_classes = 3;
  m.seq_len = 4;
  std::string path = dir.file("sparse.h5");
  {
    ShardWriter w(path, m, 4);
    w.append({1, 2, 3, 4}, {}, {1});
    w.close();
  }
  validate_shard(path);
  // 2e9 rows by extent alone: a few KB on disk, never written.
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t in = H5Dopen2(f, "inputs", H5P_DEFAULT), lab = H5Dopen2(f, "labels", H5P_DEFAULT);
  hsize_t rows2[2] = {2000000000, 4}, rows1[1] = {2000000000};
  ASSERT_GE(H5Dset_extent(in, rows2), 0);
  ASSERT_GE(H5Dset_extent(lab, rows1), 0);
  H5Dclose(in);
  H5Dclose(lab);
  H5Fclose(f);
  auto start = std::chrono::steady_clock::now();
  expect_error([&] { validate_shard(path); }, {path, "/inputs claims 2000000000 rows but not all of them were ever written"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(HostileH5, InspectSummarisesAHugeLabelSpace) {
  TempDir dir;
  ShardMeta m;
  m.task = "toy";
  m.vocab_size = 10;
  m.num_classes = (int64_t{1} << 31) - 1;
  m.seq_len = 4;
  std::string path = dir.file("huge-classes.h5");
  ShardWriter w(path, m, 4);
  w.append({1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1}, {}, {7, 2000000000, 7});
  w.close();
  std::string report = tasks::inspect_shards({path});
  EXPECT_NE(report.find("labels (2147483647 classes): 2 present, 2147483645 absent; most frequent: 7: 2 (66.7%), "
                        "2000000000: 1 (33.3%)"),
            std::string::npos)
      << report;
  EXPECT_LT(report.size(), 4096u) << "a summary, not a line per class";
}

TEST(HostileH5, DeeplyNestedJsonIsRefusedBeforeParsing) {
  std::string bomb = std::string(100000, '[') + std::string(100000, ']');
  expect_error([&] { vocabulary_from_json(bomb); }, {"vocabulary attribute", "nested more than 1 levels"});
  EXPECT_EQ(vocabulary_from_json("[\"a\", \"[[[\", \"b\"]"), (std::vector<std::string>{"a", "[[[", "b"}))
      << "brackets inside strings do not count";
  EXPECT_EQ(vocabulary_from_json("[\"\\\"[\"]"), (std::vector<std::string>{"\"["})) << "nor after an escaped quote";
  expect_error([&] { check_json_depth("{\"a\": {\"b\": [1]}}", 2, "x.json"); }, {"x.json", "at byte 12"});
  check_json_depth("{\"a\": {\"b\": [1]}}", 3, "x.json");
}

}  // namespace
}  // namespace st
