// `st-data sentences`: prose extraction from reStructuredText / Markdown (headings, directives,
// code blocks and tables left out; inline markup reduced to text; sentence splitting; length and
// letter filters), deterministic splits, WordPiece rows and bad inputs.
#include <gtest/gtest.h>

#include <fstream>

#include "data/h5.h"
#include "data/shard.h"
#include "data/tasks/sentences.h"
#include "tests/data/temp_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/h5_fixture.h"

namespace st::tasks {
namespace {

const char* kDoc = R"(add_library
-----------

.. only:: html

   .. contents::

Add a library to the project using the specified source files.  Adds a
library target called ``<name>`` to be built from the source files listed.

.. code-block:: cmake

  add_library(<name> [STATIC | SHARED | MODULE])

See the :manual:`cmake-generator-expressions(7)` manual for the available expressions. Too short.
Visit `the CMake site <https://cmake.org>`_ for *more* details about **libraries** today!

+-------+-------+
| a     | b     |
+-------+-------+

Add a library to the project using the specified source files.
)";

TEST(Sentences, ProseIsExtractedAndMarkupLeftOut) {
  SentenceOptions opt;
  std::vector<std::string> s = extract_sentences(kDoc, opt);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0], "Add a library to the project using the specified source files.");
  EXPECT_EQ(s[1], "Adds a library target called <name> to be built from the source files listed.");
  EXPECT_EQ(s[2], "See the cmake-generator-expressions(7) manual for the available expressions.");
  EXPECT_EQ(s[3], "Visit the CMake site for more details about libraries today!");
  EXPECT_EQ(s[4], s[0]);  // duplicates are dropped when converting, not here
}

TEST(Sentences, ConvertWritesDeterministicSplitsOfWordPieceRows) {
  testing::TempDir dir;
  std::string doc = dir.file("doc.rst");
  std::ofstream(doc) << kDoc;
  SentenceOptions opt;
  opt.vocab = st::testing::fixtures_dir() + "/minilm_vocab.txt";
  opt.max_len = 12;
  opt.val_percent = 30;
  opt.test_percent = 30;
  JobOptions job;
  auto splits = convert_sentences({dir.path()}, dir.file("out"), opt, job);
  ASSERT_EQ(splits.size(), 3u);
  int64_t total = 0;
  for (const auto& s : splits) total += s.examples;
  EXPECT_EQ(total, 4);  // the repeated sentence once
  for (const auto& s : splits) {
    if (s.examples == 0) continue;
    ShardInfo info = validate_shard(s.files[0]);
    EXPECT_EQ(info.meta.num_classes, 0);
    EXPECT_EQ(info.meta.seq_len, 12);
    EXPECT_EQ(info.meta.vocab_size, 30522);
    h5::File f = h5::File::open_read(s.files[0]);
    std::vector<int32_t> ids = f.read_i32("inputs");
    for (size_t r = 0; r < ids.size(); r += 12) {
      EXPECT_EQ(ids[r], 101);      // [CLS]
      EXPECT_EQ(ids[r + 11], 102);  // [SEP] ends a cut row
    }
  }
  // The same input gives the same splits.
  auto again = convert_sentences({doc}, dir.file("out2"), opt, job);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(again[i].examples, splits[i].examples);
}

TEST(Sentences, BadInputsAreNamed) {
  testing::TempDir dir;
  SentenceOptions opt;
  opt.vocab = st::testing::fixtures_dir() + "/minilm_vocab.txt";
  JobOptions job;
  testing::expect_error([&] { convert_sentences({dir.file("absent.txt")}, dir.file("o"), opt, job); },
                        {"absent.txt", "no such file"});
  testing::expect_error([&] { convert_sentences({dir.path()}, dir.file("o"), opt, job); }, {"no input files"});
  opt.max_len = 2;
  testing::expect_error([&] { convert_sentences({dir.path()}, dir.file("o"), opt, job); }, {"--max-len 2"});
}

}  // namespace
}  // namespace st::tasks
